#if canImport(Glibc)
import Glibc
#endif
import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// The LOCK file: one open of a store at a time, in this process or across processes.
@Suite("LSM lock file") struct LockTests {
    @Test func secondOpenInTheSameProcessIsRefused() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lock") { dir in
            let first = try LSMTree(fs: POSIXFileSystem(), directory: dir)
            try first.put(Array("a".utf8), Array("1".utf8))
            #expect { _ = try LSMTree(fs: POSIXFileSystem(), directory: dir) } throws: { e in
                let d = "\(e)"
                return d.contains(joinPath(dir, "LOCK")) && d.contains("in use") && d.contains("pid \(getpid())")
            }
            #expect(try first.get(Array("a".utf8)) == Array("1".utf8))  // the refused open touched nothing
            try first.close()
            let again = try LSMTree(fs: POSIXFileSystem(), directory: dir)
            #expect(try again.get(Array("a".utf8)) == Array("1".utf8))
            try again.close()
        }
    }

    /// Another process holding the lock (simulated with flock on its own open file description,
    /// as a second process would have) is named by the pid it wrote.
    @Test func lockHeldElsewhereNamesTheHolder() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lock2") { dir in
            let path = joinPath(dir, "LOCK")
            let fd = open(path, O_RDWR | O_CREAT, 0o644)
            try #require(fd >= 0)
            defer { close(fd) }
            _ = "pid 424242\n".withCString { write(fd, $0, 11) }
            try #require(flock(fd, LOCK_EX | LOCK_NB) == 0)
            #expect { _ = try LSMTree(fs: POSIXFileSystem(), directory: dir) } throws: { e in
                "\(e)".contains(path) && "\(e)".contains("pid 424242")
            }
            flock(fd, LOCK_UN)
            try LSMTree(fs: POSIXFileSystem(), directory: dir).close()
        }
    }

    /// File systems without their own lock get the default: exclusion within the process.
    @Test func defaultLockExcludesOpensInTheProcess() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lock3") { dir in
            let first = try LSMTree(fs: NoSyncFileSystem(), directory: dir)
            #expect(throws: OrbitError.self) { _ = try LSMTree(fs: NoSyncFileSystem(), directory: dir) }
            try first.close()
            try LSMTree(fs: NoSyncFileSystem(), directory: dir).close()
        }
    }

    /// An open that fails (here: a damaged CURRENT) gives the lock back.
    @Test func failedOpenReleasesTheLock() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lock4") { dir in
            let fs = POSIXFileSystem()
            try LSMTree(fs: fs, directory: dir).close()
            try fs.writeFileAtomically(joinPath(dir, "CURRENT"), Array("garbage\n".utf8))
            for _ in 0..<2 {
                #expect { _ = try LSMTree(fs: fs, directory: dir) } throws: { ($0 as? OrbitError)?.code == .corruption }
            }
        }
    }
}

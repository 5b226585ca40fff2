#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Runs `body`, which must throw an `OrbitError`, and returns it (nil, with a recorded issue, if not).
@discardableResult
private func caught(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OrbitError? {
    do {
        try body()
        Issue.record("expected an error, none was thrown", sourceLocation: sourceLocation)
    } catch let e as OrbitError {
        return e
    } catch {
        Issue.record("expected an OrbitError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Checks a file-layer error: code .io, the errno as its typed cause (and its name in the text), and `text` in the message.
private func expectIOError(_ errnoName: String, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) {
    guard let e = caught(body, sourceLocation: sourceLocation) else { return }
    #expect(e.code == .io, sourceLocation: sourceLocation)
    #expect(e.errnoName == errnoName, "\(e)", sourceLocation: sourceLocation)
    #expect(e.description.contains(errnoName), "\(e)", sourceLocation: sourceLocation)
    #expect(e.description.contains(text), "\(e)", sourceLocation: sourceLocation)
}

/// The file-layer conformance checks, generic so every `FileSystem` runs them (see `FileSystemTests`).
enum FileSystemChecks {

    static func writeThenReadRoundTrips<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let data = [UInt8].pattern(10_000)
        let f = try fs.open(dir.appending("a"), .createNew)
        try f.write(data, at: 0)
        #expect(try f.size() == 10_000)
        #expect(try f.read(count: 10_000, at: 0) == data)
        try f.close()

        let r = try fs.open(dir.appending("a"), .read)
        defer { try? r.close() }
        #expect(try r.read(count: 20_000, at: 0) == data)
        #expect(try fs.fileSize(dir.appending("a")) == 10_000)
        #expect(try fs.readFile(dir.appending("a")) == data)
    }

    static func appendReturnsOffsetsAndContinuesAtTheEnd<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let path = dir.appending("log")
        let f = try fs.open(path, .create)
        #expect(try f.append([1, 2, 3]) == 0)
        #expect(try f.append([4, 5]) == 3)
        #expect(try f.append([]) == 5)
        // A write past the end moves the end; the gap reads as zeros.
        try f.write([9], at: 7)
        #expect(try f.append([6]) == 8)
        try f.close()

        // Reopening starts appends at the existing size.
        let g = try fs.open(path, .create)
        #expect(try g.append([7]) == 9)
        #expect(try g.read(count: 100, at: 0) == [1, 2, 3, 4, 5, 0, 0, 9, 6, 7])
        try g.close()
    }

    static func concurrentAppendsGetDisjointRanges<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let f = try fs.open(dir.appending("log"), .createNew)
        defer { try? f.close() }
        let threads = 4, perThread = 200, record = 16
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                let bytes = [UInt8](repeating: UInt8(t), count: record - 1) + [UInt8(i % 256)]
                if (try? f.append(bytes)) == nil { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(try f.size() == Int64(threads * perThread * record))
        let all = try f.read(count: threads * perThread * record, at: 0)
        var seen = [Int](repeating: 0, count: threads)
        for r in stride(from: 0, to: all.count, by: record) {
            let owner = all[r]
            #expect(all[r..<(r + record - 1)].allSatisfy { $0 == owner }, "record at \(r) is interleaved")
            seen[Int(owner)] += 1
        }
        #expect(seen == [Int](repeating: perThread, count: threads))
    }

    static func preadAtOffsets<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let data = [UInt8].pattern(4096 * 3 + 17)
        let f = try fs.open(dir.appending("a"), .createNew)
        defer { try? f.close() }
        try f.write(data, at: 0)
        for (offset, count) in [(0, 1), (1, 4095), (4095, 2), (4096, 4096), (5000, 3000), (12_300, 5)] {
            #expect(try f.read(count: count, at: Int64(offset)) == Array(data[offset..<(offset + count)]))
        }
        // Writes in the middle overwrite in place.
        try f.write([0xAA, 0xBB], at: 100)
        #expect(try f.read(count: 4, at: 99) == [99, 0xAA, 0xBB, 102])
        #expect(try f.size() == Int64(data.count))
    }

    static func readsAreShortOnlyAtEndOfFile<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let f = try fs.open(dir.appending("a"), .createNew)
        defer { try? f.close() }
        try f.write([UInt8].pattern(100), at: 0)
        #expect(try f.read(count: 50, at: 90) == Array(90..<100))
        #expect(try f.read(count: 50, at: 100) == [])
        #expect(try f.read(count: 50, at: 1000) == [])

        var buffer = [UInt8](repeating: 0, count: 20)
        let e = caught {
            try buffer.withUnsafeMutableBytes { try f.readExactly(into: $0, at: 90) }
        }
        #expect(e?.code == .corruption)
        #expect(e?.description.contains("a @ offset 90") == true, "\(e.map(\.description) ?? "")")
        try buffer.withUnsafeMutableBytes { try f.readExactly(into: $0, at: 80) }
        #expect(buffer == Array(80..<100))
    }

    static func truncateShrinksExtendsAndMovesTheAppendEnd<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let f = try fs.open(dir.appending("a"), .createNew)
        defer { try? f.close() }
        try f.append([UInt8].pattern(100))
        try f.truncate(to: 10)
        #expect(try f.size() == 10)
        #expect(try f.append([0xFF]) == 10)
        try f.truncate(to: 16)
        #expect(try f.read(count: 100, at: 0) == [UInt8].pattern(10) + [0xFF, 0, 0, 0, 0, 0])
        #expect(try f.append([1]) == 16)
        try f.truncate(to: 0)
        #expect(try f.size() == 0)

        // .truncate mode empties an existing file.
        try f.append([1, 2, 3])
        let g = try fs.open(dir.appending("a"), .truncate)
        #expect(try g.size() == 0)
        try g.close()
    }

    static func renameReplacesTheTargetAtomically<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let a = dir.appending("a"), b = dir.appending("b")
        try fs.writeFileAtomically(a, Array("old".utf8))
        let f = try fs.open(b, .createNew)
        try f.write(Array("new contents".utf8), at: 0)
        try f.close()

        // An open handle on the replaced file still reads the old contents.
        let old = try fs.open(a, .read)
        defer { try? old.close() }
        try fs.rename(b, to: a)
        try fs.syncDirectory(dir.path)
        #expect(try fs.readFile(a) == Array("new contents".utf8))
        #expect(try !fs.exists(b))
        #expect(try old.read(count: 10, at: 0) == Array("old".utf8))

        expectIOError("ENOENT", mentioning: b) { try fs.rename(b, to: a) }
    }

    static func removeFilesAndDirectories<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let p = dir.appending("f")
        try fs.open(p, .createNew).close()
        #expect(try fs.exists(p))
        try fs.remove(p)
        #expect(try !fs.exists(p))
        expectIOError("ENOENT", mentioning: p) { try fs.remove(p) }

        let sub = dir.appending("sub")
        try fs.createDirectory(sub, intermediates: false)
        try fs.open(joinPath(sub, "x"), .createNew).close()
        expectIOError("ENOTEMPTY", mentioning: sub) { try fs.removeDirectory(sub) }
        try fs.remove(joinPath(sub, "x"))
        try fs.removeDirectory(sub)
        #expect(try !fs.exists(sub))
    }

    static func listIsSortedAndSkipsDotEntries<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        #expect(try fs.list(directory: dir.path) == [])
        for name in ["000010.sst", "CURRENT", "000002.log", "MANIFEST-000003", "a b"] {
            try fs.open(dir.appending(name), .createNew).close()
        }
        try fs.createDirectory(dir.appending("snapshots"), intermediates: false)
        #expect(try fs.list(directory: dir.path)
                == ["000002.log", "000010.sst", "CURRENT", "MANIFEST-000003", "a b", "snapshots"])
        expectIOError("ENOENT", mentioning: dir.appending("missing")) { _ = try fs.list(directory: dir.appending("missing")) }
        expectIOError("ENOTDIR", mentioning: "CURRENT") { _ = try fs.list(directory: dir.appending("CURRENT")) }
    }

    static func createDirectoryWithAndWithoutIntermediates<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let deep = dir.appending("a/b/c")
        expectIOError("ENOENT", mentioning: deep) { try fs.createDirectory(deep, intermediates: false) }
        try fs.createDirectory(deep, intermediates: true)
        try fs.createDirectory(deep + "/", intermediates: true)  // exists: fine with intermediates
        #expect(try fs.exists(deep))
        expectIOError("EEXIST", mentioning: deep) { try fs.createDirectory(deep, intermediates: false) }

        try fs.open(dir.appending("file"), .createNew).close()
        expectIOError("ENOTDIR", mentioning: dir.appending("file")) {
            try fs.createDirectory(dir.appending("file/x"), intermediates: true)
        }
        #expect(try !fs.exists(dir.appending("file/x")))  // ENOTDIR counts as absent
    }

    static func syncsRunAndAreCounted<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let before = fs.ioStatistics()
        let f = try fs.open(dir.appending("a"), .createNew)
        try f.append([1, 2, 3])
        try f.fsync()
        try f.fdatasync()
        try f.close()
        try fs.syncDirectory(dir.path)
        let d = fs.ioStatistics().subtracting(before)
        #expect(d.fileSyncs == 2)
        #expect(d.directorySyncs == 1)
        #expect(d.syncs == 3)
        expectIOError("ENOENT", mentioning: dir.appending("missing")) { try fs.syncDirectory(dir.appending("missing")) }
        expectIOError("ENOTDIR", mentioning: dir.appending("a")) { try fs.syncDirectory(dir.appending("a")) }
    }

    static func errorsNameThePathAndTheErrno<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let missing = dir.appending("no-such-file")
        guard let e = caught({ _ = try fs.open(missing, .read) }) else { return }
        #expect(e.code == .io)
        #expect(e.location == missing)
        #expect(e.cause == .errno(.noSuchFile) && e.errno == .noSuchFile)
        #expect(e.description == "\(missing): open (read) failed (ENOENT: No such file or directory)")
        #expect(e.hasErrno(.noSuchFile))
        #expect(e.exitStatus == 1)

        expectIOError("ENOENT", mentioning: missing) { _ = try fs.fileSize(missing) }
        expectIOError("ENOENT", mentioning: missing) { _ = try fs.open(missing, .readWrite) }
        expectIOError("ENOENT", mentioning: dir.appending("x/y")) { _ = try fs.open(dir.appending("x/y"), .create) }

        let p = dir.appending("a")
        try fs.open(p, .createNew).close()
        expectIOError("EEXIST", mentioning: p) { _ = try fs.open(p, .createNew) }
        expectIOError("EISDIR", mentioning: dir.path) { _ = try fs.open(dir.path, .read) }
        expectIOError("EISDIR", mentioning: dir.path) { _ = try fs.open(dir.path, .readWrite) }

        // A write through a read-only handle fails in pwrite, with the offset in the location.
        let r = try fs.open(p, .read)
        defer { try? r.close() }
        expectIOError("EBADF", mentioning: "\(p) @ offset 5") { try r.write([1], at: 5) }
        expectIOError("EINVAL", mentioning: p) { try r.truncate(to: 0) }

        // The errno is a typed value, never read back out of text: a library message that looks
        // like one is not one; a rewrapped error keeps it, and the text users see is as before.
        #expect(OrbitError(.corruption, "bad block", cause: .library("EIO: x")).errno == nil)
        #expect(OrbitError(.io, "x", cause: .library("rocksdb said no")).errnoName == nil)
        let rewrapped = OrbitError(.io, "an earlier write failed: \(e.message)", at: e.location, cause: e.cause)
        #expect(rewrapped.hasErrno(.noSuchFile) && rewrapped.errnoName == "ENOENT")
        #expect(rewrapped.description == "\(missing): an earlier write failed: open (read) failed (ENOENT: No such file or directory)")
        #expect(Errno(12345).name == "errno 12345")
        #expect(Errno.noSpace.description == "ENOSPC: No space left on device")
        #expect(Errno.noSpace.orbitError("pwrite failed", at: "f @ offset 0").hint?.contains("free space") == true)
    }

    static func closedHandlesRefuseCallsAndCloseTwiceIsFine<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let f = try fs.open(dir.appending("a"), .createNew)
        try f.close()
        try f.close()
        let e = caught { _ = try f.read(count: 1, at: 0) }
        #expect(e?.code == .closed)
        #expect(e?.location == dir.appending("a"))
        #expect(caught { try f.append([1]) }?.code == .closed)
        #expect(caught { try f.fsync() }?.code == .closed)
    }

    static func byteCountersMoveByExactlyTheBytesMoved<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let processBefore = POSIXFileSystem.processStatistics
        let fsBefore = fs.ioStatistics()
        let threadBefore = ThreadIO.current()

        let f = try fs.open(dir.appending("a"), .createNew)
        try f.write([UInt8].pattern(1000), at: 0)
        try f.append([UInt8].pattern(234))
        try f.write([], at: 5000)                       // nothing moved
        #expect(try f.read(count: 100, at: 0).count == 100)
        #expect(try f.read(count: 500, at: 1000).count == 234)  // short read at EOF counts what was read
        #expect(try f.read(count: 10, at: 9999).count == 0)
        try f.close()

        let thread = ThreadIO.current()
        #expect(thread.bytesWritten - threadBefore.bytesWritten == 1234)
        #expect(thread.bytesRead - threadBefore.bytesRead == 334)

        let d = fs.ioStatistics().subtracting(fsBefore)
        #expect(d.bytesWritten == 1234)
        #expect(d.bytesRead == 334)
        #expect(d.writeCalls == 2)
        #expect(d.fileSyncs == 0)

        // Other tests run in parallel and share the process totals: they can only have grown more.
        guard fs is POSIXFileSystem else { return }
        let p = POSIXFileSystem.processStatistics.subtracting(processBefore)
        #expect(p.bytesWritten >= 1234)
        #expect(p.bytesRead >= 334)
    }

    static func writeFileAtomicallyReplacesAndSyncs<FS: FileSystem>(_ fs: FS, _ dir: ScratchDirectory) throws {
        let current = dir.appending("CURRENT")
        let before = fs.ioStatistics()
        try fs.writeFileAtomically(current, Array("MANIFEST-000001\n".utf8))
        let d = fs.ioStatistics().subtracting(before)
        #expect(d.bytesWritten == 16)
        #expect(d.fileSyncs == 1)
        #expect(d.directorySyncs == 1)
        #expect(try fs.readFile(current) == Array("MANIFEST-000001\n".utf8))

        // A leftover temp file from a crash is overwritten, and a shorter new file leaves no tail.
        try fs.writeFileAtomically(current + ".tmp", Array("garbage garbage garbage".utf8))
        try fs.writeFileAtomically(current, Array("M-2\n".utf8))
        #expect(try fs.readFile(current) == Array("M-2\n".utf8))
        #expect(try fs.list(directory: dir.path) == ["CURRENT"])

        let nowhere = dir.appending("missing/CURRENT")
        expectIOError("ENOENT", mentioning: nowhere + ".tmp") { try fs.writeFileAtomically(nowhere, [1]) }
    }
}

/// The file systems the conformance checks run on.
enum FileSystemKind: String, CaseIterable, CustomTestStringConvertible {
    case posix
    case faultInjecting = "fault-injecting"

    var testDescription: String { rawValue }

    /// Runs `body` on a fresh file system of this kind and a scratch directory in it.
    func run(_ body: (any FileSystem, ScratchDirectory) throws -> Void) throws {
        switch self {
        case .posix:
            let t = try TemporaryDirectory()
            defer { t.remove() }
            try body(POSIXFileSystem(), ScratchDirectory(path: t.path))
        case .faultInjecting:
            let fs = FaultInjectingFileSystem(seed: 1)
            let path = "/tmp/orbit-test-fault-injecting"
            try fs.createDirectory(path, intermediates: true)
            try body(fs, ScratchDirectory(path: path))
        }
    }
}

/// A directory a check may fill: a real temporary directory, or one in an in-memory file system.
struct ScratchDirectory {
    let path: String
    func appending(_ name: String) -> String { path + "/" + name }
}

@Suite struct FileSystemTests {
    @Test(arguments: FileSystemKind.allCases) func writeThenReadRoundTrips(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.writeThenReadRoundTrips(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func appendReturnsOffsetsAndContinuesAtTheEnd(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.appendReturnsOffsetsAndContinuesAtTheEnd(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func concurrentAppendsGetDisjointRanges(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.concurrentAppendsGetDisjointRanges(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func preadAtOffsets(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.preadAtOffsets(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func readsAreShortOnlyAtEndOfFile(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.readsAreShortOnlyAtEndOfFile(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func truncateShrinksExtendsAndMovesTheAppendEnd(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.truncateShrinksExtendsAndMovesTheAppendEnd(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func renameReplacesTheTargetAtomically(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.renameReplacesTheTargetAtomically(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func removeFilesAndDirectories(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.removeFilesAndDirectories(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func listIsSortedAndSkipsDotEntries(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.listIsSortedAndSkipsDotEntries(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func createDirectoryWithAndWithoutIntermediates(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.createDirectoryWithAndWithoutIntermediates(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func syncsRunAndAreCounted(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.syncsRunAndAreCounted(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func errorsNameThePathAndTheErrno(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.errorsNameThePathAndTheErrno(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func closedHandlesRefuseCallsAndCloseTwiceIsFine(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.closedHandlesRefuseCallsAndCloseTwiceIsFine(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func byteCountersMoveByExactlyTheBytesMoved(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.byteCountersMoveByExactlyTheBytesMoved(fs, dir) }
    }

    @Test(arguments: FileSystemKind.allCases) func writeFileAtomicallyReplacesAndSyncs(_ kind: FileSystemKind) throws {
        try kind.run { fs, dir in try FileSystemChecks.writeFileAtomicallyReplacesAndSyncs(fs, dir) }
    }

    @Test func pathHelpers() {
        #expect(parentDirectory(of: "a/b/c") == "a/b")
        #expect(parentDirectory(of: "/data/CURRENT") == "/data")
        #expect(parentDirectory(of: "/CURRENT") == "/")
        #expect(parentDirectory(of: "CURRENT") == ".")
        #expect(parentDirectory(of: "a//b/") == "a")
        #expect(parentDirectory(of: "/") == "/")
        #expect(joinPath("a", "b") == "a/b")
        #expect(joinPath("a/", "b") == "a/b")
    }

    /// `POSIXFileSystem.removeTree` (the one tree removal: `--fresh`, the crash lab, tests) unlinks a
    /// symbolic link inside the tree, to a directory or to a file, and never what it points to.
    @Test func removeTreeUnlinksSymbolicLinksWithoutFollowingThem() throws {
        let fs = POSIXFileSystem()
        try withTemporaryDirectory { root in
            let outside = joinPath(root, "outside"), tree = joinPath(root, "tree")
            try fs.createDirectory(joinPath(outside, "inner"), intermediates: true)
            try fs.writeFileAtomically(joinPath(outside, "keep"), [1, 2, 3])
            try fs.writeFileAtomically(joinPath(outside, "inner/keep-too"), [4])
            try fs.createDirectory(joinPath(tree, "sub"), intermediates: true)
            try fs.writeFileAtomically(joinPath(tree, "sub/file"), [5])
            #expect(symlink(outside, joinPath(tree, "sub/to-directory")) == 0)
            #expect(symlink(joinPath(outside, "keep"), joinPath(tree, "to-file")) == 0)
            #expect(symlink(joinPath(root, "nowhere"), joinPath(tree, "dangling")) == 0)

            try fs.removeTree(tree)

            #expect(try !fs.exists(tree))
            #expect(try fs.readFile(joinPath(outside, "keep")) == [1, 2, 3])
            #expect(try fs.readFile(joinPath(outside, "inner/keep-too")) == [4])
            #expect(try fs.list(directory: outside) == ["inner", "keep"])
            try fs.removeTree(tree)  // nothing there: not an error

            // A link as the root itself: the link goes, the directory it names stays.
            let link = joinPath(root, "link")
            #expect(symlink(outside, link) == 0)
            try fs.removeTree(link)
            #expect(try fs.list(directory: root) == ["outside"])
        }
    }

    @Test func hardLinkAndCopyFile() throws {
        let fs = POSIXFileSystem()
        try withTemporaryDirectory { root in
            let a = joinPath(root, "a")
            try fs.writeFileAtomically(a, [UInt8].pattern(3 << 20 | 17))
            try fs.hardLink(a, to: joinPath(root, "b"))
            try fs.copyFile(a, to: joinPath(root, "c"))
            #expect(try fs.readFile(joinPath(root, "b")) == [UInt8].pattern(3 << 20 | 17))
            #expect(try fs.readFile(joinPath(root, "c")) == [UInt8].pattern(3 << 20 | 17))
            #expect(try fs.readFile(a, limit: 10) == [UInt8].pattern(10))
            #expect(try fs.readFile("/proc/self/maps", limit: 1 << 20).count > 0)  // stat says 0 bytes
            #expect(throws: OrbitError.self) { try fs.hardLink(a, to: joinPath(root, "c")) }  // EEXIST
        }
    }
}

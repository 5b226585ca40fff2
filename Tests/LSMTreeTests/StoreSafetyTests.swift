#if canImport(Glibc)
import Glibc
#endif
@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Every file under a directory (relative path → size, mtime, bytes), and every directory, for
/// "nothing changed" checks. `LOCK`'s bytes, size and mtime are left out (its holder note may be rewritten).
struct DirectoryImage: Equatable, CustomStringConvertible {
    var entries: [String: String] = [:]

    init(_ root: String) {
        walk(root, "")
    }

    private mutating func walk(_ root: String, _ rel: String) {
        let path = rel.isEmpty ? root : root + "/" + rel
        guard let names = try? POSIXFileSystem().list(directory: path) else { return }
        for name in names {
            let r = rel.isEmpty ? name : rel + "/" + name
            var st = stat()
            guard lstat(root + "/" + r, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                entries[r + "/"] = "dir"
                walk(root, r)
            } else {
                if name == "LOCK" { entries[r] = "lock file"; continue }  // its holder note may change
                let bytes = (try? POSIXFileSystem().readFile(root + "/" + r)) ?? []
                entries[r] = "size \(st.st_size) mtime \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) crc \(CRC32C.checksum(bytes))"
            }
        }
    }

    var description: String { entries.keys.sorted().map { "\($0): \(entries[$0]!)" }.joined(separator: "\n") }
}

/// Issue 13 (store safety) and issue 14 bug 1: an lsm open never harms a store, or a directory
/// that is not one.
@Suite("LSM store safety") struct StoreSafetyTests {
    let fs = POSIXFileSystem()

    func key(_ i: Int) -> [UInt8] { Array("key-\(1000 + i)".utf8) }
    func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i & 0xff), count: 120) }

    /// A closed store with tables (several flushes) and a WAL holding unflushed writes.
    func makeStore(_ dir: String, keys: Int = 400) throws {
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 16 << 10
        let e = try LSMTree(fs: fs, directory: dir, options: o, durability: .everyWrite)
        for i in 0..<keys { try e.put(key(i), value(i)) }
        try e.flush()
        for i in keys..<(keys + 20) { try e.put(key(i), value(i)) }  // left in the WAL
        try e.close()
    }

    func manifestPath(_ dir: String) throws -> String {
        joinPath(dir, try fs.list(directory: dir).first { $0.hasPrefix("MANIFEST-") }!)
    }

    func expectRefused(_ dir: String, access: StoreAccess, code: OrbitError.Code, naming file: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let before = DirectoryImage(dir)
        #expect(sourceLocation: sourceLocation) {
            let e = try LSMTree(fs: fs, directory: dir, access: access)
            try e.close()
        } throws: { error in
            guard let e = error as? OrbitError else { return false }
            return e.code == code && "\(e)".contains(file)
        }
        #expect(DirectoryImage(dir) == before, "the refused open changed the directory", sourceLocation: sourceLocation)
    }

    // MARK: Issue 14, bug 1

    /// Reproduced on 33afca5: a 0-byte MANIFEST opened as an empty store and every table and log
    /// was unlinked. Now: corruption naming the manifest, and nothing changes.
    @Test(arguments: [StoreAccess.readWrite, .readOnly])
    func emptyManifestIsCorruptionAndNothingIsRemoved(_ access: StoreAccess) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-emptymanifest") { dir in
            try makeStore(dir)
            let path = try manifestPath(dir)
            try fs.open(path, .truncate).close()
            expectRefused(dir, access: access, code: .corruption, naming: path)
            #expect(try fs.list(directory: dir).contains { $0.hasSuffix(".sst") })
        }
    }

    @Test(arguments: [StoreAccess.readWrite, .readOnly])
    func headerOnlyManifestIsCorruption(_ access: StoreAccess) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-headermanifest") { dir in
            try makeStore(dir)
            let path = try manifestPath(dir)
            let header = Array(try fs.readFile(path)[0..<16])
            let f = try fs.open(path, .truncate)
            try f.write(header, at: 0)
            try f.close()
            expectRefused(dir, access: access, code: .corruption, naming: path)
        }
    }

    /// Reproduced on 33afca5: without CURRENT the store opened empty and lost everything.
    @Test(arguments: [StoreAccess.readWrite, .readOnly])
    func missingCurrentBesideTablesIsCorruption(_ access: StoreAccess) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-nocurrent") { dir in
            try makeStore(dir)
            try fs.remove(joinPath(dir, "CURRENT"))
            expectRefused(dir, access: access, code: .corruption, naming: joinPath(dir, "CURRENT"))
            // And once CURRENT is back, every key is there.
            let name = try fs.list(directory: dir).first { $0.hasPrefix("MANIFEST-") }!
            try fs.writeFileAtomically(joinPath(dir, "CURRENT"), Array((name + "\n").utf8))
            let e = try LSMTree(fs: fs, directory: dir)
            for i in 0..<420 { #expect(try e.get(key(i)) == value(i)) }
            try e.close()
        }
    }

    /// A first open that crashed before CURRENT (LOCK, snapshots/ and a new store's manifest
    /// only) held no data: it opens as a new store.
    @Test func unfinishedCreationOpensAsANewStore() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db", intermediates: true)
        fs.arm("file.write-atomically.before-rename")
        #expect(throws: OrbitError.self) { _ = try LSMTree(fs: fs, directory: "/db") }
        fs.disarm()
        var rng = SeededRNG(seed: 1)
        let after = fs.powerLoss(.processCrash, rng: &rng)
        #expect(try after.list(directory: "/db").contains { $0.hasPrefix("MANIFEST-") })
        #expect(try !after.exists("/db/CURRENT"))
        let e = try LSMTree(fs: after, directory: "/db")
        try e.put(key(1), value(1))
        #expect(try e.get(key(1)) == value(1))
        try e.close()
    }

    /// A read-write open of an existing store no longer creates snapshots/ (only a new store's
    /// creation does); a store without it (copied by a tool that drops empty directories) lists no
    /// snapshot and creates the directory with its first one.
    @Test func aStoreWithoutItsSnapshotDirectoryWorks() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-nosnapdir") { dir in
            try makeStore(dir, keys: 10)
            try fs.removeDirectory(joinPath(dir, "snapshots"))
            let e = try LSMTree(fs: fs, directory: dir)
            #expect(try e.listSnapshots().isEmpty)
            #expect(try !fs.exists(joinPath(dir, "snapshots")))
            try e.createSnapshot(named: "a")
            #expect(try e.listSnapshots() == ["a"])
            try e.close()
        }
    }

    // MARK: Issue 13: not an lsm store

    @Test(arguments: [StoreAccess.readWrite, .readOnly])
    func aDirectoryOfOtherFilesIsRefused(_ access: StoreAccess) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-thesis") { dir in
            try fs.writeFileAtomically(joinPath(dir, "thesis.tex"), Array("\\documentclass{article}".utf8))
            expectRefused(dir, access: access, code: .invalidArgument, naming: "thesis.tex")
            #expect(try fs.list(directory: dir) == ["thesis.tex"])
        }
    }

    /// A RocksDB store has CURRENT, MANIFEST-n, n.log and LOCK too; its IDENTITY, OPTIONS and LOG
    /// say it is not ours. Its LOCK is not rewritten.
    @Test(arguments: [StoreAccess.readWrite, .readOnly])
    func aRocksDBStoreIsRefused(_ access: StoreAccess) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-rocks") { dir in
            for (name, text) in [("CURRENT", "MANIFEST-000005\n"), ("MANIFEST-000005", "\u{1}rocks"), ("000004.log", "x"),
                                 ("IDENTITY", "8a0f..."), ("OPTIONS-000007", "[Version]"), ("LOG", "RocksDB version"), ("LOCK", "")] {
                try fs.writeFileAtomically(joinPath(dir, name), Array(text.utf8))
            }
            let lockBefore = try fs.readFile(joinPath(dir, "LOCK"))
            expectRefused(dir, access: access, code: .invalidArgument, naming: "IDENTITY")
            #expect(try fs.readFile(joinPath(dir, "LOCK")) == lockBefore)
            if case .notOurs(let found) = try LSMTree<POSIXFileSystem>.recognize(fs: fs, directory: dir) {
                #expect(found.contains("IDENTITY") && found.contains("OPTIONS-000007"))
            } else {
                Issue.record("a RocksDB store recognised as lsm's")
            }
        }
    }

    @Test func aFileIsNotAStoreDirectory() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-file") { dir in
            let file = joinPath(dir, "passwd")
            try fs.writeFileAtomically(file, Array("root:x:0:0".utf8))
            for access in [StoreAccess.readWrite, .readOnly] {
                let e = try #require(throws: OrbitError.self) { _ = try LSMTree(fs: fs, directory: file, access: access) }
                #expect(e.code == .invalidArgument && e.message.contains("is a file"), "\(e)")
            }
            #expect(try fs.readFile(file) == Array("root:x:0:0".utf8))
            #expect(LSMInspector.inspect(fs: fs, directory: file).problems.first?.contains("is a file") == true)
        }
    }

    @Test func recognitionOfOwnStores() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-recognize") { dir in
            #expect(try LSMTree<POSIXFileSystem>.recognize(fs: fs, directory: joinPath(dir, "missing")) == .empty)
            #expect(try LSMTree<POSIXFileSystem>.recognize(fs: fs, directory: dir) == .empty)
            try makeStore(dir, keys: 10)
            guard case .ours(let markers) = try LSMTree<POSIXFileSystem>.recognize(fs: fs, directory: dir) else {
                Issue.record("own store not recognised"); return
            }
            #expect(markers.first == "CURRENT" && markers.last?.hasPrefix("MANIFEST-") == true, "\(markers)")
        }
    }

    @Test func readOnlyOpenOfAMissingOrEmptyDirectoryCreatesNothing() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-roempty") { dir in
            let missing = joinPath(dir, "store")
            for d in [missing, dir] {
                let e = try #require(throws: OrbitError.self) { _ = try LSMTree(fs: fs, directory: d, access: .readOnly) }
                #expect(e.code == .notFound, "\(e)")
            }
            let existsAfter = try fs.exists(missing)
            #expect(!existsAfter)
            let names = try fs.list(directory: dir)
            #expect(names.isEmpty)
        }
    }

    // MARK: Issue 13: read-only opens

    /// A read-only open in a directory without write permission recovers the WAL in memory, reads,
    /// refuses every write, and changes no byte, size, mtime or name (tests run as root, where the
    /// permission bits do not stop writes: the image comparison is what shows it).
    @Test func readOnlyOpenChangesNothing() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-readonly") { dir in
            let store = joinPath(dir, "lsm")
            try makeStore(store)
            do {  // a snapshot, so listSnapshots has something to list
                let e = try LSMTree(fs: fs, directory: store)
                try e.createSnapshot(named: "s1")
                try e.put(key(9999), value(1))  // in the WAL only
                try e.close()
            }
            chmod(store, 0o555)
            chmod(joinPath(store, "snapshots"), 0o555)
            defer { chmod(store, 0o755); chmod(joinPath(store, "snapshots"), 0o755) }
            let before = DirectoryImage(store)
            let e = try LSMTree(fs: fs, directory: store, durability: .everyWrite, access: .readOnly)
            for i in 0..<420 { #expect(try e.get(key(i)) == value(i)) }
            #expect(try e.get(key(9999)) == value(1), "the WAL is replayed in memory")
            var n = 0
            try e.scan(from: nil, to: nil, limit: 0) { _, _ in n += 1; return true }
            #expect(n == 421)
            #expect(try e.stats().totalKeys > 0)
            #expect(try e.listSnapshots() == ["s1"])
            try e.sync()
            func readOnly(_ body: () throws -> Void) {
                do { try body(); Issue.record("a write on a read-only open succeeded") } catch {
                    #expect((error as? OrbitError)?.code == .readOnly, "\(error)")
                }
            }
            readOnly { try e.put(key(1), value(2)) }
            readOnly { try e.delete(key(1)) }
            var b = WriteBatch(); b.put(key(1), value(3))
            readOnly { try e.write(b) }
            readOnly { try e.write(WriteBatch()) }
            readOnly { try e.createSnapshot(named: "s2") }
            readOnly { try e.restoreSnapshot(named: "s1") }
            readOnly { try e.dropSnapshot(named: "s1") }
            readOnly { try e.flush() }
            #expect(try e.get(key(1)) == value(1))
            try e.close()
            #expect(DirectoryImage(store) == before, "before:\n\(before)\nafter:\n\(DirectoryImage(store))")
        }
    }

    /// Read-only opens share the lock with each other; a writer holding it refuses them (naming the
    /// lock file and the holder), and they refuse a writer.
    @Test func readOnlyOpensAndTheLock() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-rolock") { dir in
            try makeStore(dir, keys: 10)
            let writer = try LSMTree(fs: fs, directory: dir)
            #expect { _ = try LSMTree(fs: fs, directory: dir, access: .readOnly) } throws: { e in
                "\(e)".contains(joinPath(dir, "LOCK")) && "\(e)".contains("pid \(getpid())")
            }
            try writer.close()
            let r1 = try LSMTree(fs: fs, directory: dir, access: .readOnly)
            let r2 = try LSMTree(fs: fs, directory: dir, access: .readOnly)
            #expect(throws: OrbitError.self) { _ = try LSMTree(fs: fs, directory: dir) }
            #expect(try r1.get(key(3)) == value(3))
            #expect(try r2.get(key(3)) == value(3))
            try r1.close()
            try r2.close()
            try LSMTree(fs: fs, directory: dir).close()
        }
    }
}

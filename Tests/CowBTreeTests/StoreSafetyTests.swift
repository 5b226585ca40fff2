#if canImport(Glibc)
import Glibc
#endif
@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Store safety (issues 13 and 14): the store lock, read-only opens that change no byte,
/// recognition of directories that are not cow stores, a lost page file, the writer's durability
/// mode in the WAL, group-commit visibility and sync failures, and malformed checksum-valid bytes.
@Suite("cow store safety") struct CowStoreSafetyTests {
    static func options() -> CowOptions {
        var o = CowOptions()
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        return o
    }

    static func k(_ i: Int) -> [UInt8] { Array("key-\(1000 + i)".utf8) }
    static func v(_ i: Int) -> [UInt8] { Array("value-\(i)-".utf8) + [UInt8](repeating: UInt8(i & 0xff), count: 40) }

    /// Every entry of a directory: name → (bytes, size, mtime in ns).
    struct Listing: Equatable {
        var files: [String: [UInt8]] = [:]
        var sizes: [String: Int64] = [:]
        var mtimes: [String: Int] = [:]
    }

    static func listing(_ dir: String, except: Set<String> = []) throws -> Listing {
        let fs = POSIXFileSystem()
        var l = Listing()
        for name in try fs.list(directory: dir) {
            let p = joinPath(dir, name)
            if except.contains(name) { l.files[name] = []; continue }   // present, contents aside
            var st = stat()
            #expect(stat(p, &st) == 0)
            l.sizes[name] = Int64(st.st_size)
            l.mtimes[name] = st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec
            l.files[name] = try fs.readFile(p)
        }
        return l
    }

    /// A store in `dir` with commits only in the WAL (a crash before any checkpoint: close writes
    /// nothing after it).
    /// (Built on a fault-injecting file system, crashed there, and what a process crash leaves
    /// written into `dir`.)
    static func storeWithWALOnly(_ dir: String, durability: DurabilityMode = .everyWrite, count: Int = 30) throws {
        let fs = FaultInjectingFileSystem(seed: 5)
        try fs.createDirectory("/store", intermediates: true)
        let e = try CowBTree(path: "/store", options: options(), durability: durability, fileSystem: fs)
        for i in 0..<count { try e.put(k(i), v(i)) }
        fs.arm("cow.commit.before-wal-append")
        #expect(throws: (any Error).self) { try e.put(k(999), v(999)) }
        try? e.close()
        var rng = SeededRNG(seed: 5)
        try materialize(fs.powerLoss(.processCrash, rng: &rng), "/store", into: dir)
    }

    // MARK: Store lock (issue 14 item 2)

    /// Before the lock a second open truncated every WAL segment and checkpointed: the first
    /// instance's acknowledged commits not yet checkpointed were lost. Now it is refused, naming the
    /// lock file and this process's pid; a read-only open beside the writer is refused too; and
    /// another process (flock(1)) cannot take the lock while the store is open.
    @Test func aSecondOpenIsRefusedWhileTheFirstHoldsTheStoreLock() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-lock") { dir in
            let first = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite)
            for i in 0..<20 { try first.put(Self.k(i), Self.v(i)) }
            for access in [StoreAccess.readWrite, .readOnly] {
                let e = try #require(throws: OrbitError.self) {
                    _ = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite, access: access)
                }
                #expect(e.location?.hasSuffix("cow.lock") == true && e.message.contains("pid \(getpid())"), "\(access): \(e)")
            }
            // Another process: flock(1) -n exits 99 when the lock is held.
            #expect(Self.run(["/usr/bin/flock", "-n", "-E", "99", joinPath(dir, "cow.lock"), "true"]) == 99)
            for i in 20..<40 { try first.put(Self.k(i), Self.v(i)) }
            try first.close()
            #expect(Self.run(["/usr/bin/flock", "-n", "-E", "99", joinPath(dir, "cow.lock"), "true"]) == 0)
            let again = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite)
            defer { try? again.close() }
            for i in 0..<40 { #expect(try again.get(Self.k(i)) == Self.v(i), "key \(i)") }
        }
    }

    /// The same on a file system with no flock: two instances on one FaultInjectingFileSystem.
    @Test func aSecondInstanceOnTheSameFileSystemIsRefused() throws {
        let fs = FaultInjectingFileSystem(seed: 5)
        let first = try CowBTree(path: "/db", options: Self.options(), durability: .everyWrite, fileSystem: fs)
        try first.put(Self.k(1), Self.v(1))
        #expect(throws: OrbitError.self) { _ = try CowBTree(path: "/db", options: Self.options(), durability: .none, fileSystem: fs) }
        try first.put(Self.k(2), Self.v(2))
        try first.close()
        let again = try CowBTree(path: "/db", options: Self.options(), durability: .none, fileSystem: fs)
        #expect(try again.get(Self.k(1)) == Self.v(1) && again.get(Self.k(2)) == Self.v(2))
        try again.close()
    }

    static func run(_ argv: [String]) -> Int32 {
        var pid: pid_t = 0
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        guard posix_spawn(&pid, argv[0], nil, nil, &cargs, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status >> 8) & 0xff
    }

    // MARK: Read-only opens (issue 13)

    /// A read-only open replays the WAL into memory and changes no byte: every file's bytes, size
    /// and mtime and the listing are identical afterwards; writes throw `.readOnly`; reads work.
    /// With the lock file (shared lock) and without it (a store from before the lock existed).
    @Test(arguments: [true, false]) func aReadOnlyOpenChangesNoByte(withLockFile: Bool) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-ro") { dir in
            try Self.storeWithWALOnly(dir)
            if !withLockFile { try POSIXFileSystem().remove(joinPath(dir, "cow.lock")) }
            let before = try Self.listing(dir, except: ["cow.lock"])
            #expect(before.sizes.keys.contains { $0.hasPrefix("cow.wal.") })
            for _ in 0..<2 {
                let r = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite, access: .readOnly)
                let r2 = try CowEngine(path: dir, options: Self.options(), durability: .none, access: .readOnly)   // readers share
                for i in 0..<30 { #expect(try r.get(Self.k(i)) == Self.v(i), "key \(i)") }
                #expect(try r.scan(from: nil, to: nil).count == 30)
                #expect(try r.stats().totalKeys == 30)
                #expect(try r.listSnapshots() == [])
                try r.sync()
                for (what, call) in [("put", { try r.put(Self.k(1), Self.v(2)) }), ("delete", { try r.delete(Self.k(1)) }),
                                     ("write", { var b = WriteBatch(); b.put(Self.k(1), Self.v(3)); try r.write(b) }),
                                     ("createSnapshot", { try r.createSnapshot(named: "s") }),
                                     ("restoreSnapshot", { try r.restoreSnapshot(named: "s") }),
                                     ("dropSnapshot", { try r.dropSnapshot(named: "s") }),
                                     ("checkpoint", { try r.checkpoint() })] as [(String, () throws -> Void)] {
                    let e = try #require(throws: OrbitError.self, "\(what)") { try call() }
                    #expect(e.code == .readOnly, "\(what): \(e)")
                }
                #expect(try r.get(Self.k(1)) == Self.v(1))
                try r.close()
                try r2.close()
            }
            #expect(try Self.listing(dir, except: ["cow.lock"]) == before)
            // The writer's lock refuses nothing once the readers are gone; it then finds every commit.
            let w = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite)
            for i in 0..<30 { #expect(try w.get(Self.k(i)) == Self.v(i)) }
            try w.close()
        }
    }

    /// A read-only open of a missing or empty directory is refused and creates nothing.
    @Test func aReadOnlyOpenOfNoStoreCreatesNothing() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-ro-none") { (dir: String) throws in
            let missing = joinPath(dir, "missing")
            #expect(throws: OrbitError.self) { _ = try CowEngine(path: missing, options: Self.options(), durability: .none, access: .readOnly) }
            #expect(try POSIXFileSystem().exists(missing) == false)
            #expect(throws: OrbitError.self) { _ = try CowEngine(path: dir, options: Self.options(), durability: .none, access: .readOnly) }
            #expect(try POSIXFileSystem().list(directory: dir).isEmpty)
        }
    }

    // MARK: Not a cow store (issue 13)

    /// A read-write open of a directory holding another engine's store or a user's files fails
    /// with an error naming what is there, and creates nothing (before, it added cow.db and
    /// cow.wal.0 inside an lsm store).
    @Test(arguments: [["CURRENT", "MANIFEST-000003", "000004.log", "000005.sst"], ["thesis.tex"], ["cow.db", "notes.txt"]])
    func aDirectoryThatIsNotACowStoreIsRefused(_ names: [String]) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-foreign") { dir in
            let fs = POSIXFileSystem()
            for n in names { try fs.writeFileAtomically(joinPath(dir, n), Array("not cow: \(n)".utf8)) }
            let before = try Self.listing(dir)
            for access in [StoreAccess.readWrite, .readOnly] {
                let e = try #require(throws: OrbitError.self) {
                    _ = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite, access: access)
                }
                #expect(e.code == .invalidArgument && e.message.contains("not a cow store"), "\(e)")
                #expect(names.filter { $0 != "cow.db" }.allSatisfy { e.message.contains($0) }, "\(e)")
            }
            #expect(try Self.listing(dir) == before)
            #expect(try CowBTree<POSIXFileSystem>.recognize(directory: dir, fileSystem: fs) != .empty)
        }
    }

    @Test func recognitionNamesCowFiles() throws {
        #expect(CowEngine.isCowFileName("cow.wal.12") && CowEngine.isCowFileName("cow.lock") && CowEngine.isCowFileName("cow.wal"))
        #expect(!CowEngine.isCowFileName("cow.wal.") && !CowEngine.isCowFileName("cow.wal.1x") && !CowEngine.isCowFileName("cow.db.tmp"))
    }

    // MARK: A lost page file (issue 14 item 8)

    /// A missing or 0-byte cow.db beside WAL segments was opened as a new store (under `none` its
    /// segments were skipped and truncated silently). Now it is corruption naming cow.db, in every
    /// mode, and the store is left as it was.
    @Test(arguments: [DurabilityMode.none, .everyWrite], [true, false])
    func aLostPageFileIsCorruptionNotANewStore(_ durability: DurabilityMode, delete: Bool) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-lostdb") { dir in
            try Self.storeWithWALOnly(dir, durability: durability)
            let db = joinPath(dir, "cow.db")
            if delete { try POSIXFileSystem().remove(db) } else { try POSIXFileSystem().open(db, .truncate).close() }
            let before = try Self.listing(dir, except: ["cow.lock"])
            for access in [StoreAccess.readWrite, .readOnly] {
                let e = try #require(throws: OrbitError.self) {
                    _ = try CowEngine(path: dir, options: Self.options(), durability: durability, access: access)
                }
                #expect(e.code == .corruption && e.location == db, "\(e)")
            }
            #expect(try Self.listing(dir, except: ["cow.lock"]) == before)
        }
    }

    /// A read-write open decides the store is sound before it truncates anything: a damaged WAL
    /// record followed by good ones (every-write) is refused and every byte stays.
    @Test func aRefusedOpenTruncatesNothing() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-sound") { dir in
            try Self.storeWithWALOnly(dir)
            let seg = joinPath(dir, "cow.wal.0")
            let f = try POSIXFileSystem().open(seg, .readWrite)
            try f.write([0xFF], at: Int64(WALFormat.segmentHeaderSize + 30))
            try f.close()
            let before = try Self.listing(dir, except: ["cow.lock"])
            #expect(throws: OrbitError.self) { _ = try CowEngine(path: dir, options: Self.options(), durability: .everyWrite) }
            #expect(try Self.listing(dir, except: ["cow.lock"]) == before)
        }
    }

    // MARK: Directories and modes (issue 14 item 9)

    /// The parent of a newly created store directory is synced: every-write commits of the first
    /// open survive a power loss (before, the directory entry could vanish with them).
    @Test func aNewStoreDirectorySurvivesAPowerLoss() throws {
        let fs = FaultInjectingFileSystem(seed: 9)
        fs.makeEverythingDurable()
        let e = try CowBTree(path: "/data/a/store", options: Self.options(), durability: .everyWrite, fileSystem: fs)
        for i in 0..<5 { try e.put(Self.k(i), Self.v(i)) }
        var rng = SeededRNG(seed: 9)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        try? e.close()
        let r = try CowBTree(path: "/data/a/store", options: Self.options(), durability: .everyWrite, fileSystem: lost)
        for i in 0..<5 { #expect(try r.get(Self.k(i)) == Self.v(i), "key \(i)") }
        try r.close()
    }

    /// A WAL whose third record is damaged (as a power loss may leave a `none` writer's unsynced
    /// records, in any order) followed by good ones: a lost tail when the writer was `none`, even
    /// if the reopen is every-write (it was read as corruption); corruption when the writer synced
    /// every record, even if the reopen is `none` (it was silently cut short).
    @Test(arguments: [(DurabilityMode.none, DurabilityMode.everyWrite), (.everyWrite, .none)])
    func replayJudgesTheWALByTheModeItWasWrittenUnder(_ writer: DurabilityMode, _ reader: DurabilityMode) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-mode") { dir in
            try Self.storeWithWALOnly(dir, durability: writer, count: 6)
            let seg = joinPath(dir, "cow.wal.0")
            let bytes = try POSIXFileSystem().readFile(seg)
            let header = try WALFormat.decodeHeader(Array(bytes[0..<32]), path: seg)
            guard case .segment(let h) = header else { Issue.record("no segment header"); return }
            #expect(h.mode == WALFormat.WriterMode(writer))
            let records = WALFormat.records(segment: bytes, seq: h.seq)
            #expect(records.count == 6)
            let f = try POSIXFileSystem().open(seg, .readWrite)
            try f.write([bytes[records[2].payload.lowerBound] ^ 0xFF], at: Int64(records[2].payload.lowerBound))
            try f.close()
            if writer == .none {
                let r = try CowEngine(path: dir, options: Self.options(), durability: reader)
                for i in 0..<6 { #expect(try r.get(Self.k(i)) == (i < 2 ? Self.v(i) : nil), "key \(i)") }
                try r.close()
            } else {
                let e = try #require(throws: OrbitError.self) { _ = try CowEngine(path: dir, options: Self.options(), durability: reader) }
                #expect(e.code == .corruption && e.location?.contains("cow.wal.0") == true, "\(e)")
            }
        }
    }

    /// Version-2 segment headers (no mode) are still read.
    @Test func aVersion2SegmentHeaderIsRead() throws {
        var b = WALFormat.segmentHeader(.init(seq: 7, prevTxid: 3, mode: .group))
        #expect(try WALFormat.decodeHeader(b, path: "x") == .segment(.init(seq: 7, prevTxid: 3, mode: .group)))
        b.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(2).littleEndian, toByteOffset: 8, as: UInt32.self) }
        let crc = b.withUnsafeBytes { raw in
            CRC32C.mask(CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<12])), UnsafeRawBufferPointer(rebasing: raw[16..<32])))
        }
        b.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self) }
        #expect(try WALFormat.decodeHeader(b, path: "x") == .segment(.init(seq: 7, prevTxid: 3, mode: .unknown, version: 2)))
    }

    // MARK: Group commit (issue 14 items 4 and 6)

    /// A group-mode write becomes visible only once its sync is done: while the writer is inside
    /// the WAL fdatasync, a reader does not see it (before, it was published first).
    @Test func aGroupWriteIsInvisibleUntilItsSyncIsDone() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-group") { dir in
            let fs = SyncHookFileSystem()
            let e = try CowBTree(path: dir, options: Self.options(), durability: .group, fileSystem: fs)
            try e.put(Self.k(0), Self.v(0))
            let state = Lock<(entered: Bool, release: Bool)>((false, false))
            fs.beforeFdatasync.withLock { $0 = { path in
                guard path.contains("cow.wal.") else { return }
                state.withLock { $0.entered = true }
                while !state.withLock({ $0.release }) { usleep(1000) }
            } }
            let seen = Lock<(get: [UInt8]?, scanned: Int)>((nil, -1))
            try runOnThreads(2) { i in
                if i == 0 { try e.put(Self.k(1), Self.v(1)); return }
                while !state.withLock({ $0.entered }) { usleep(1000) }
                let got = try e.get(Self.k(1))
                let n = try e.scan(from: nil, to: nil).count
                seen.withLock { $0 = (got, n) }
                fs.beforeFdatasync.withLock { $0 = nil }
                state.withLock { $0.release = true }
            }
            #expect(seen.withLock { $0.get } == nil, "visible before its sync")
            #expect(seen.withLock { $0.scanned } == 1)
            #expect(try e.get(Self.k(1)) == Self.v(1))
            try e.close()
        }
    }

    /// When the shared sync fails, the failed write is not visible (before, it stayed visible until
    /// close), nor does a snapshot make it durable.
    @Test func aGroupWriteWhoseSyncFailedIsNotVisible() throws {
        let fs = FaultInjectingFileSystem(seed: 3)
        let e = try CowBTree(path: "/db", options: Self.options(), durability: .group, fileSystem: fs)
        try e.put(Self.k(0), Self.v(0))
        fs.inject(Fault(.ioError, on: .fdatasync, pathSuffix: "cow.wal.0"))
        #expect(throws: OrbitError.self) { try e.put(Self.k(1), Self.v(1)) }
        #expect(try e.get(Self.k(1)) == nil)
        #expect(try e.get(Self.k(0)) == Self.v(0))
        #expect(throws: OrbitError.self) { try e.createSnapshot(named: "s") }
        #expect(throws: OrbitError.self) { try e.checkpoint() }
        #expect(try e.get(Self.k(1)) == nil)
        try? e.close()
    }

    /// A failed fdatasync of the previous segment at a segment switch is sticky: a waiter whose
    /// record is in that segment is not acknowledged by re-syncing the same fd, whose error was
    /// already consumed (before, only the switching writer failed; the waiter got 0).
    @Test(arguments: [DurabilityMode.group, .periodic(milliseconds: 3_600_000)])
    func aFailedSyncAtASegmentSwitchIsSticky(_ durability: DurabilityMode) throws {
        let fs = FaultInjectingFileSystem(seed: 4)
        let e = try CowBTree(path: "/db", options: Self.options(), durability: durability, fileSystem: fs)
        try e.put(Self.k(0), Self.v(0))
        try e.sync()
        // A record written, its sync pending (a group waiter between its write and its sync).
        let pendingLSN: UInt64 = try e.writeLock.withLock { _ in
            let seg = e.walCurrent!
            WALFormat.begin(&e.walBuffer, txid: e.tree.txn + 1)
            WALFormat.finish(&e.walBuffer, seq: seg.seq)
            try e.walBuffer.withUnsafeBytes { try seg.file.write($0, at: seg.end) }
            seg.end += Int64(e.walBuffer.count)
            return e.walWrittenLSN.add(UInt64(e.walBuffer.count), ordering: .releasing).newValue
        }
        fs.inject(Fault(.ioError, on: .fdatasync, pathSuffix: "cow.wal.0"))
        #expect(throws: OrbitError.self) { try e.writeLock.withLock { _ in try e.startSegment() } }
        #expect(e.walSyncFailure.withLock { $0 } != nil)
        #expect(throws: OrbitError.self) { try e.syncWAL(upTo: pendingLSN) }
        #expect(e.walSyncedLSN.load(ordering: .acquiring) < pendingLSN)
        #expect(throws: OrbitError.self) { try e.put(Self.k(1), Self.v(1)) }
        #expect(throws: OrbitError.self) { try e.sync() }
        try? e.close()
    }

    // MARK: Malformed bytes and limits (issue 14 item 10)

    /// A store with a free list: deletes, then checkpoints.
    static func storeWithFreeList(_ fs: FaultInjectingFileSystem) throws -> MetaPage {
        let e = try CowBTree(path: "/db", options: options(), durability: .none, fileSystem: fs)
        for i in 0..<200 { try e.put(k(i), v(i)) }
        try e.checkpoint()
        for i in 0..<150 { try e.delete(k(i)) }
        try e.checkpoint()
        try e.close()
        let f = try fs.open("/db/cow.db", .readWrite)
        defer { try? f.close() }
        let metas = try readMetaPages(f, preferredPageSize: 512).compactMap { if case .success(let m) = $0.meta { m } else { nil } }
        return metas.max { $0.txid < $1.txid }!
    }

    /// A checksum-valid free-list page whose count runs past the page, or whose entries name a meta
    /// page, a page past the page count, or one page twice, is corruption naming the page (before:
    /// an out-of-bounds read, or a meta page handed out for overwriting).
    @Test(arguments: ["count", "meta", "past", "twice"]) func aMalformedFreeListPageIsCorruption(_ damage: String) throws {
        let fs = FaultInjectingFileSystem(seed: 6)
        let meta = try Self.storeWithFreeList(fs)
        #expect(meta.freeListPage != 0 && meta.freeCount >= 2)
        let f = try fs.open("/db/cow.db", .readWrite)
        let at = Int64(meta.freeListPage) * 512
        var page = try f.read(count: 512, at: at)
        page.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            switch damage {
            case "count": p.setU16(Layout.countOffset, 1000)
            case "meta": p.setU64(Layout.headerSize, 1)
            case "past": p.setU64(Layout.headerSize, meta.pageCount)
            default: p.setU64(Layout.headerSize + 8, p.u64(Layout.headerSize))
            }
            Page.sealChecksum(p, 512)
        }
        try f.write(page, at: at)
        try f.close()
        let e = try #require(throws: OrbitError.self) { _ = try CowBTree(path: "/db", options: Self.options(), durability: .none, fileSystem: fs) }
        #expect(e.code == .corruption && e.message.contains("page \(meta.freeListPage)"), "\(e)")
    }

    /// A checksum-valid WAL record with an unknown operation tag is corruption, not a delete.
    @Test func aWALRecordWithAnUnknownTagIsCorruption() throws {
        var r: [UInt8] = []
        WALFormat.begin(&r, txid: 1)
        Self.k(1).withUnsafeBytes { key in Self.v(1).withUnsafeBytes { WALFormat.appendPut(&r, key, $0) } }
        r[WALFormat.recordHeaderSize] = 7
        let e = try #require(throws: OrbitError.self) {
            try r.withUnsafeBytes { try WALFormat.forEachOperation(UnsafeRawBufferPointer(rebasing: $0[WALFormat.recordHeaderSize...]), at: "x") { _, _, _ in } }
        }
        #expect(e.code == .corruption && e.message.contains("tag 7"), "\(e)")
    }

    /// A checksum-valid meta page with an absurd height or key count is refused, never a trap.
    @Test func aMetaPageWithOutOfRangeFieldsIsRefused() throws {
        var m = MetaPage(pageSize: 512, maxKeysPerNode: 0)
        m.root = 2; m.pageCount = 3; m.height = UInt64.max
        guard case .failure = MetaPage.decode(m.encode()) else { Issue.record("height accepted"); return }
        m.height = 1; m.keys = UInt64.max
        guard case .failure = MetaPage.decode(m.encode()) else { Issue.record("keys accepted"); return }
        m.keys = 1
        guard case .success = MetaPage.decode(m.encode()) else { Issue.record("a good page refused"); return }
    }

    /// A value of 4 GiB or more is refused with a clear error (before: a trap in UInt32(_:)), by
    /// put and by write(batch); `CowOptions.limits` states the largest value accepted.
    @Test func aValueOf4GiBIsRefused() throws {
        let size = 1 << 32
        let base = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        try #require(base != MAP_FAILED)
        defer { munmap(base, size) }
        let huge = UnsafeRawBufferPointer(start: base, count: size)
        let fs = FaultInjectingFileSystem(seed: 7)
        let e = try CowBTree(path: "/db", options: Self.options(), durability: .none, fileSystem: fs)
        defer { try? e.close() }
        let limit = Self.options().limits.maxValueSize
        #expect(limit < Int(UInt32.max) - 9 - Self.options().limits.maxKeySize)
        for value in [huge, UnsafeRawBufferPointer(rebasing: huge[0..<(limit + 1)])] {
            let err = try #require(throws: OrbitError.self) { try Self.k(1).withUnsafeBytes { try e.put($0, value) } }
            #expect(err.code == .invalidArgument && err.hint?.contains("\(limit)") == true, "\(err)")
        }
        var batch = WriteBatch()
        batch.put(Self.k(2), Self.v(2))
        try e.write(batch)
        #expect(try e.get(Self.k(2)) == Self.v(2))
        #expect(try e.get(Self.k(1)) == nil)
    }
}

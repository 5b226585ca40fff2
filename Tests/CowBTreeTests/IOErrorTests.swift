import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Regression tests for what the I/O-error sweep (CrashLab IOErrorSweep) found, on
/// FaultInjectingFileSystem.
@Suite struct CowIOErrorTests {
    func key(_ i: Int) -> [UInt8] { Array("key\(1000 + i)".utf8) }
    func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i & 0xff), count: 60) }

    /// Found under `none` with the WAL: `sync()` fdatasynced the live WAL segments only, but a
    /// `none` checkpoint writes pages and meta without a sync and recycles the segments it covers,
    /// and new segments' names were never synced: writes acknowledged before a successful `sync()`
    /// were lost at a power loss. `sync()` now also syncs the page file and the directory.
    @Test func syncUnderNoneSurvivesAPowerLossAfterCheckpoints() throws {
        let fs = FaultInjectingFileSystem(seed: 1)
        try fs.createDirectory("/db", intermediates: true)
        fs.makeEverythingDurable()
        var o = CowOptions()
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.checkpointBytes = 4096
        o.snapshotInterval = 8
        let t = try CowBTree(path: "/db", options: o, durability: .none, fileSystem: fs)
        for i in 0..<100 { try t.put(key(i), value(i)) }
        try t.sync()

        var rng = SeededRNG(seed: 2)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        try t.close()
        let reopened = try CowBTree(path: "/db", options: o, durability: .none, fileSystem: lost)
        for i in 0..<100 { #expect(try reopened.get(key(i)) == value(i), "key \(i) lost after sync() and a power loss") }
        try reopened.close()
    }

    func store(_ fs: FaultInjectingFileSystem, wal: Bool, _ durability: DurabilityMode) throws -> CowBTree<FaultInjectingFileSystem> {
        var o = CowOptions()
        o.pageSize = 512
        o.wal = wal
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        return try CowBTree(path: "/db", options: o, durability: durability, fileSystem: fs)
    }

    func freshFileSystem() throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: 1)
        try fs.createDirectory("/db", intermediates: true)
        fs.makeEverythingDurable()
        return fs
    }

    /// Found under `group` (and `periodic`): a failed WAL fdatasync was reported to the writers
    /// waiting for it, but the store went on committing and acknowledging later writes, whose
    /// records followed ones the failed sync may have lost (fsyncgate): acknowledged writes were
    /// lost at a power loss. A failed WAL sync is now sticky: later commits and syncs fail.
    @Test(arguments: [DurabilityMode.group, .periodic(milliseconds: 10_000)])
    func aFailedWALSyncIsSticky(_ durability: DurabilityMode) throws {
        let fs = try freshFileSystem()
        let t = try store(fs, wal: true, durability)
        try t.put(key(1), value(1))
        try t.sync()
        fs.inject(Fault(.ioError, on: .fdatasync))
        try? t.put(key(2), value(2))  // group: fails in its sync; periodic: acknowledged unsynced
        #expect(throws: OrbitError.self) { try t.sync() }
        let later = try #require(throws: OrbitError.self) { try t.put(self.key(3), self.value(3)) }
        #expect(later.hasErrno(.ioError) && later.message.contains("refuses further writes"), "\(later)")
        #expect(throws: OrbitError.self) { try t.sync() }
        #expect(try t.get(key(1)) == value(1))

        var rng = SeededRNG(seed: 3)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        try? t.close()
        let reopened = try store(lost, wal: true, durability)
        #expect(try reopened.get(key(1)) == value(1))
        #expect(try reopened.get(key(3)) == nil)
        try reopened.close()
    }

    /// Found with `cow.wal=false` under `none`: a failed fdatasync in `sync()` left the store
    /// committing; the next synced checkpoint (at close) made a meta page durable over pages the
    /// failed sync had lost, and the store would not open after a power loss (a freeList page where
    /// a tree page was expected). A failed sync now poisons the store.
    @Test func aFailedPageFileSyncPoisonsAPureCopyOnWriteStore() throws {
        let fs = try freshFileSystem()
        let t = try store(fs, wal: false, .none)
        for i in 0..<40 { try t.put(key(i), value(i)) }
        try t.sync()
        for i in 40..<80 { try t.put(key(i), value(i)) }
        fs.inject(Fault(.ioError, on: .fdatasync))
        #expect(throws: OrbitError.self) { try t.sync() }
        #expect(throws: OrbitError.self) { try t.put(self.key(100), self.value(100)) }
        try? t.close()

        var rng = SeededRNG(seed: 4)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        let reopened = try store(lost, wal: false, .none)
        for i in 0..<40 { #expect(try reopened.get(key(i)) == value(i)) }
        #expect(try reopened.get(key(100)) == nil)
        try reopened.close()
    }

    /// Found by the I/O-error sweep (an engine dropped after a failed step, without close): deinit
    /// closed the store, the close queued a spare-segment job holding `self` unowned, and the job
    /// ran on the half-destroyed engine: the process crashed. deinit now stops the background
    /// thread first.
    @Test func droppingAnOpenStoreWithoutCloseDoesNotCrash() throws {
        let fs = try freshFileSystem()
        do {
            let t = try store(fs, wal: true, .everyWrite)
            for i in 0..<30 { try t.put(key(i), value(i)) }
        }  // released here: deinit closes it (a background job that held the engine for a moment
        // frees it, and its lock, a little later: wait for the lock)
        var opened: CowBTree<FaultInjectingFileSystem>? = nil
        for attempt in 0..<500 where opened == nil {
            do { opened = try store(fs, wal: true, .everyWrite) } catch let e as OrbitError where e.message.contains("in use") && attempt < 499 {
                usleep(10_000)
            }
        }
        let reopened = opened!
        for i in 0..<30 { #expect(try reopened.get(key(i)) == value(i)) }
        try reopened.close()
    }

    /// Found by the I/O-error sweep (EIO/ENOSPC on a WAL segment's header write): the failed
    /// write left the first bytes of the magic over the segment's zeros, and every later open
    /// refused the store ("not a cow WAL segment: bad magic"). A torn header is now a spare.
    @Test func aTornSegmentHeaderIsASpareNotAForeignFile() throws {
        let fs = try freshFileSystem()
        let t = try store(fs, wal: true, .everyWrite)
        for i in 0..<10 { try t.put(key(i), value(i)) }
        try t.close()
        let segment = try #require(try fs.list(directory: "/db").first { $0.hasPrefix("cow.wal.") })
        let f = try fs.open("/db/" + segment, .readWrite)
        let header = try f.read(count: 32, at: 0)
        try f.write(Array(header[0..<5]) + [UInt8](repeating: 0, count: 27), at: 0)
        try f.close()
        let reopened = try store(fs, wal: true, .everyWrite)
        for i in 0..<10 { #expect(try reopened.get(key(i)) == value(i)) }
        try reopened.close()
    }

    /// Found while fixing sync() under `none` (WAL mode): a `none` checkpoint wrote pages and meta
    /// without a sync, then recycled the WAL segments it covered. Once the kernel wrote a recycled
    /// segment's new contents back (any time: here the test syncs the segment files itself) and the
    /// checkpoint had not reached the disk, writes made durable by an earlier sync() were gone. WAL
    /// checkpoints now sync in every mode (in the background; one checkpoint per `checkpoint_bytes`).
    @Test func aNoneCheckpointIsDurableBeforeItsSegmentsAreRecycled() throws {
        let fs = try freshFileSystem()
        var o = CowOptions()
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.snapshotInterval = 4
        let t = try CowBTree(path: "/db", options: o, durability: .none, fileSystem: fs)
        for i in 0..<3 { try t.put(key(i), value(i)) }
        try t.sync()
        for i in 3..<40 { try t.put(key(i), value(i)) }  // checkpoints recycle and reuse the segments
        // Writeback: the kernel may write any dirty page of any file.
        for name in try fs.list(directory: "/db") where name.hasPrefix("cow.wal.") {
            let f = try fs.open("/db/" + name, .readWrite)
            try f.fdatasync()
            try f.close()
        }
        var rng = SeededRNG(seed: 6)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        try t.close()
        let reopened = try CowBTree(path: "/db", options: o, durability: .none, fileSystem: lost)
        for i in 0..<3 { #expect(try reopened.get(key(i)) == value(i), "key \(i) was synced") }
        try reopened.close()
    }
}

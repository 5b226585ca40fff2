#if canImport(Glibc)
import Glibc
#endif
@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Compaction picking and write pacing: a level-0 compaction split by key range across threads
/// yields non-overlapping level-1 tables; writes are delayed from the slowdown trigger and stop at
/// the stop trigger, visibly in the stats; the triggers are validated.
@Suite("LSM compaction picking") struct CompactionPickingTests {
    static func extra(_ s: StorageStats, _ name: String) -> Double { s.extra.first { $0.name == name }?.value ?? -1 }

    /// Every level >= 1 is sorted and its tables' user-key ranges do not overlap.
    static func expectDisjointLevels<FS: FileSystem>(_ e: LSMTree<FS>, _ context: String) {
        let v = e.readView().3
        for l in 1..<v.levels.count {
            let files = v.levels[l]
            for i in files.indices.dropFirst() {
                #expect(compareUser(files[i - 1].meta.largest, files[i].meta.smallest) < 0,
                        "\(context): level \(l) tables \(files[i - 1].meta.number) and \(files[i].meta.number) overlap")
            }
        }
    }

    @Test func splitLevel0CompactionYieldsDisjointLevel1() throws {
        let seed = TestSeed.pick("lsm.splitLevel0CompactionYieldsDisjointLevel1", default: 0x5_0B_C0)
        var rng = SeededRNG(seed: seed)
        try withTemporaryDirectory(prefix: "orbit-lsm-split") { dir in
            var o = LSMOptions()
            o.memtableSizeBytesOverride = 64 << 10
            o.compactionThreshold = 9  // 9 level-0 tables + level 1: the merge keeps its heap
            o.compactionThreads = 3
            o.blockCacheMB = 1
            let e = try LSMTree(fs: NoSyncFileSystem(), directory: dir, options: o)
            var model: [[UInt8]: [UInt8]] = [:]
            for round in 0..<12 {
                for _ in 0..<1200 {
                    let k = rng.bytes(12), v = rng.bytes(40)
                    try e.put(k, v); model[k] = v
                }
                if round % 3 == 2 { try e.delete(model.keys.first!); model[model.keys.first!] = nil }
                try e.flush()
            }
            try e.compactUntilSettled()
            let s = try e.stats()
            #expect(Self.extra(s, "subcompactions") >= 2, "seed \(seed): no level-0 compaction was split")
            #expect(Self.extra(s, "level0_files") < 9, "seed \(seed)")
            Self.expectDisjointLevels(e, "seed \(seed)")
            for (k, v) in model { try #require(try e.get(k) == v, "seed \(seed): key \(describeBytes(k))") }
            #expect(try e.scan(from: nil, to: nil).count == model.count, "seed \(seed): full scan")
            try e.close()
        }
    }

    /// While a compaction is held, level 0 grows: from the slowdown trigger writes are delayed
    /// (counted in delayed_writes and slowdown_ms), at the stop trigger they stop until the
    /// compaction ends (stalls, stall_ms, stall_max_ms); every write lands.
    @Test func writesSlowDownThenStopWhileLevel0IsFull() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-slowdown") { dir in
            var o = LSMOptions()
            o.memtableSizeBytesOverride = 16 << 10
            o.compactionThreshold = 1
            o.l0SlowdownWritesTrigger = 2
            o.l0StopWritesTrigger = 4
            o.delayedWriteRateMB = 1
            let fs = HoldingFileSystem(holdingAt: "lsm.compaction.after-tables-sync")
            let e = try LSMTree(fs: fs, directory: dir, options: o)
            let written = Atomic<Int>(0)
            func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i & 0xff), count: 100) }
            let writer = try OrbitThread(name: "test") {
                for i in 0..<2000 {
                    do { try e.put(Array("key-\(100_000 + i)".utf8), value(i)) } catch { break }
                    written.store(i + 1, ordering: .releasing)
                }
            }
            // The writer reaches the stop trigger: level 0 full while the first compaction is held.
            // (Polled without `stats()`, which waits for the write lock a stopped writer holds.)
            let full = eventually(60) { e.readView().3.levels[0].count >= 4 }
            #expect(full, "level 0 never reached the stop trigger")
            #expect(e.delayedWrites.load(ordering: .relaxed) > 0 && e.slowdownNanos.load(ordering: .relaxed) > 0, "no write was delayed")
            #expect(written.load(ordering: .acquiring) < 2000, "writes went on with level 0 full")
            fs.released.store(true, ordering: .releasing)
            writer.join()
            #expect(written.load(ordering: .acquiring) == 2000)
            try e.compactUntilSettled()
            let after = try e.stats()
            #expect(Self.extra(after, "stalls") >= 1 && Self.extra(after, "stall_ms") > 0, "no stop was recorded")
            #expect(Self.extra(after, "stall_max_ms") <= Self.extra(after, "stall_ms"))
            Self.expectDisjointLevels(e, "after the held compaction")
            for i in 0..<2000 { try #require(try e.get(Array("key-\(100_000 + i)".utf8)) == value(i)) }
            try e.close()
        }
    }

    @Test func level0TriggersAreValidated() throws {
        var o = LSMOptions()
        #expect(o.l0SlowdownTrigger == 20 && o.l0StopTrigger == 36, "defaults: 5x and 9x compaction_threshold")
        o.l0SlowdownWritesTrigger = 10
        o.l0StopWritesTrigger = 10
        #expect(throws: OrbitError.self) { try o.check(durability: .none) }
        o.l0StopWritesTrigger = 11
        try o.check(durability: .none)
        o.compactionThreshold = 12
        #expect(throws: OrbitError.self) { try o.check(durability: .none) }  // slowdown below the compaction trigger
        o = LSMOptions()
        o.compactionThreads = 0
        #expect(throws: OrbitError.self) { try o.check(durability: .none) }
        // The delayed rate falls from the full rate at the slowdown trigger to 1/8 of it.
        o = LSMOptions()
        #expect(o.delayedWriteRate(l0Files: 20) == 64 * 1_048_576)
        #expect(o.delayedWriteRate(l0Files: 35) == 8 * 1_048_576)
        #expect(o.delayedWriteRate(l0Files: 27) < o.delayedWriteRate(l0Files: 21))
    }
}

import CrashLab
import OrbitCore
import Testing

/// The CI-sized simulated power-loss sweep: 200 states per hand-written engine (50 per durability
/// mode), every one verified with the prefix rule. A broken state prints its record: the detail
/// holds the power-loss mode, the seeds that replay it and what broke.
@Suite("Power-loss sweep") struct PowerLossSweepTests {
    static let modes: [DurabilityMode] = [.none, .everyWrite, .group, .periodic(milliseconds: 5)]

    static func sweep(_ engine: String, _ mode: DurabilityMode, count: Int, seed: UInt64) throws -> [CrashRecord] {
        let settings = Settings(knobs: [])
        let context = CrashSweepContext(engine: engine, durability: mode, settings: settings, seed: seed, count: count,
                                        workDirectory: "/unused")
        var records: [CrashRecord] = []
        try PowerLossSweep.run(context) { records.append($0) }
        return records
    }

    @Test(arguments: ["lsm", "cow"], modes)
    func sweepKeepsThePrefixRule(_ engine: String, _ mode: DurabilityMode) throws {
        let seed: UInt64 = 0x5EED_0005 &+ UInt64(mode.description.utf8.count)
        let records = try Self.sweep(engine, mode, count: 50, seed: seed)
        #expect(records.count == 50)
        for r in records where r.verdict == .broken {
            Issue.record("seed \(seed): \(CrashCSV.row(r.csvCells))")
        }
        // The sweep really crashes mid-protocol, not only between operations.
        let named = records.filter { !$0.crashPointOrTime.hasPrefix("op=") && !$0.crashPointOrTime.hasPrefix("call#") }
        #expect(!named.isEmpty, "seed \(seed): no state crashed at a named crash point")
        #expect(records.contains { $0.opsAcknowledged > 0 }, "seed \(seed)")
    }

    @Test func onlyTheFileLayerEnginesAreSupported() {
        #expect(PowerLossSweep.supports(engine: "lsm") && PowerLossSweep.supports(engine: "cow"))
        #expect(!PowerLossSweep.supports(engine: "rocksdb") && !PowerLossSweep.supports(engine: "lmdb"))
    }
}

/// The oracle catches the bugs it exists for (planted: it is given the states a broken engine would
/// recover to).
@Suite("History oracle") struct HistoryOracleTests {
    /// Three keys; ops: put k0 v1, put k1 v2 (synced), put k0 v3, delete k1 (synced), put k2 v5 (unsynced).
    func oracle() -> HistoryOracle {
        var o = HistoryOracle(keyCount: 3)
        o.begin([.init(key: 0, version: 1)]); o.acknowledge()
        o.begin([.init(key: 1, version: 2)]); o.acknowledge()
        o.markSynced()
        o.begin([.init(key: 0, version: 3)]); o.acknowledge()
        o.begin([.init(key: 1, version: 0)]); o.acknowledge()
        o.markSynced()
        o.begin([.init(key: 2, version: 5)]); o.acknowledge()
        return o
    }

    @Test func everyPrefixFromTheSyncedPointIsAccepted() {
        let o = oracle()
        #expect(o.verify([3, 0, 0]).ok)
        #expect(o.verify([3, 0, 5]).ok)
        #expect(o.verify([3, 0, 0]).lostUnsynced == 1)
    }

    @Test func droppingTheLastSyncedWriteIsCaught() {
        let v = oracle().verify([3, 2, 0])   // the synced delete of k1 lost: k1 came back
        #expect(!v.ok)
        #expect(v.resurrected == 1)
        let w = oracle().verify([1, 0, 0])   // k0's synced v3 lost (not a prefix either)
        #expect(!w.ok && w.lostSynced >= 1)
    }

    @Test func aStaleValueIsCaught() {
        let v = oracle().verify([1, 0, 5])   // k0 served v1 after v3 was synced
        #expect(!v.ok)
        #expect(v.lostSynced == 1)
    }

    @Test func aLaterWriteWithoutAnEarlierOneIsNotAPrefix() {
        var o = HistoryOracle(keyCount: 2)
        o.begin([.init(key: 0, version: 1)]); o.acknowledge()
        o.begin([.init(key: 1, version: 2)]); o.acknowledge()
        #expect(!o.verify([0, 2]).ok)
        #expect(o.verify([1, 0]).ok)
    }

    @Test func aBatchIsAllOrNothing() {
        var o = HistoryOracle(keyCount: 2)
        o.begin([.init(key: 0, version: 1), .init(key: 1, version: 2)]); o.acknowledge()
        #expect(!o.verify([1, 0]).ok)
        #expect(o.verify([1, 2]).ok && o.verify([0, 0]).ok)
    }

    @Test func theInFlightOperationMayBeIn() {
        var o = HistoryOracle(keyCount: 1)
        o.begin([.init(key: 0, version: 1)]); o.acknowledge(); o.markSynced()
        o.begin([.init(key: 0, version: 2)])
        #expect(o.verify([2]).ok && o.verify([2]).inFlightApplied)
        #expect(o.verify([1]).ok)
    }

    @Test func valuesSayWhichWriteTheyCameFrom() {
        let key = Array("k-1".utf8)
        let v = VersionedValueCodec.encode(key: key, version: 42, size: 100)
        #expect(v.count == 100)
        #expect(VersionedValueCodec.decode(v) == .value(key: key, version: 42))
        var bad = v; bad[50] ^= 1
        if case .garbage = VersionedValueCodec.decode(bad) {} else { Issue.record("a damaged value decoded") }
    }
}

import CrashLab
#if canImport(Glibc)
import Glibc
#endif
import Foundation
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

    /// The full sweep, only when ORBIT_POWER_LOSS_STATES is set (states per engine, split over the
    /// four modes): `ORBIT_POWER_LOSS_STATES=10000 swift test -c release --filter fullSweep`.
    /// Prints states/s, broken states and coverage per crash point and power-loss mode.
    @Test func fullSweepFromTheEnvironment() throws {
        guard let text = getenv("ORBIT_POWER_LOSS_STATES").map({ String(cString: $0) }), let total = Int(text) else { return }
        for engine in ["lsm", "cow"] {
            var all: [CrashRecord] = []
            let t0 = MonotonicClock.nanoseconds()
            for (i, mode) in Self.modes.enumerated() {
                all += try Self.sweep(engine, mode, count: total / Self.modes.count, seed: 0xF011 &+ UInt64(i))
            }
            let seconds = Double(MonotonicClock.nanoseconds() &- t0) / 1e9
            let broken = all.filter { $0.verdict == .broken }
            var points: [String: Int] = [:], lossModes: [String: Int] = [:], byMode: [String: (Int, Int, Int)] = [:]
            for r in all {
                let p = r.crashPointOrTime.hasPrefix("op=") ? "op=N" : r.crashPointOrTime.hasPrefix("call#") ? "call#N"
                    : String(r.crashPointOrTime.split(separator: " ").first ?? "")
                points[p, default: 0] += 1
                if r.crashPointOrTime.contains("+reopen") { points["+reopen crash", default: 0] += 1 }
                let m = ["drop-unsynced", "random-subset", "torn-512", "torn-4096"].first { r.detail.contains($0) } ?? "?"
                lossModes[m, default: 0] += 1
                var t = byMode[r.durability] ?? (0, 0, 0)
                t.0 += 1; t.1 += r.opsAcknowledged; t.2 += r.lostUnsynced
                byMode[r.durability] = t
            }
            print("power-loss \(engine): \(all.count) states in \(String(format: "%.1f", seconds)) s (\(Int(Double(all.count) / seconds)) states/s), broken \(broken.count), lost synced \(all.reduce(0) { $0 + $1.lostSynced }), resurrected \(all.reduce(0) { $0 + $1.resurrected }), reopen failures \(all.filter { $0.detail.hasPrefix("REOPEN FAILED") }.count)")
            for (m, t) in byMode.sorted(by: { $0.key < $1.key }) { print("  durability \(m): \(t.0) states, \(t.1) ops acknowledged, \(t.2) unsynced lost") }
            for (p, n) in points.sorted(by: { $0.key < $1.key }) { print("  point \(p): \(n)") }
            for (m, n) in lossModes.sorted(by: { $0.key < $1.key }) { print("  mode \(m): \(n)") }
            for r in broken.prefix(5) { print("  BROKEN " + CrashCSV.row(r.csvCells), terminator: "") }
            #expect(broken.isEmpty)
        }
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

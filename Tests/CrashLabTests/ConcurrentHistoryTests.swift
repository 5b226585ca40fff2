import CowBTree
import Foundation
import Runner
import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing
@testable import CrashLab

/// The concurrent-history method, CI-sized (a few runs of 2,000 operations, 4 writers and 4
/// readers), the checker on hand-made histories, and the planted lsm read race.
@Suite struct ConcurrentHistoryTests {
    static func context(_ engine: String, seed: UInt64, runs: Int, work: String = "/tmp/orbit-history-tests") -> CrashSweepContext {
        let settings = Settings(knobs: CoreKnobs.all + Engines.allKnobs)
        return CrashSweepContext(engine: engine, durability: .none, settings: settings, seed: seed, count: runs,
                                 workDirectory: work + "-\(getpid())")
    }

    static func plan(_ ops: Int) -> ConcurrentHistorySweep.Plan {
        var p = ConcurrentHistorySweep.Plan()
        p.operations = ops
        return p
    }

    @Test(arguments: ["lsm", "cow", "rocksdb", "lmdb", "memory"]) func everyReadIsLinearizable(_ engine: String) throws {
        let seed = TestSeed.pick("ConcurrentHistoryTests.everyReadIsLinearizable", default: 0x415)
        var records: [CrashRecord] = []
        try ConcurrentHistorySweep.run(Self.context(engine, seed: seed, runs: 3), plan: Self.plan(2_000)) { records.append($0) }
        #expect(records.count == 3)
        for r in records {
            print("concurrent-history \(engine) run \(r.cycle): \(r.verdict) \(r.detail)")
            #expect(r.opsAcknowledged > 0 && r.opsRecovered > 0)
            #expect(r.verdict == .ok, "\(engine) seed \(seed) run \(r.cycle): \(r.detail)")
        }
    }

    /// Issue 14 bug 5 planted back (`LSMPlantedBug.readRace`: a reader takes its sequence number
    /// before its read view, the window widened): the checker must catch it.
    @Test func theLSMReadRaceIsCaught() throws {
        let seed = TestSeed.pick("ConcurrentHistoryTests.theLSMReadRaceIsCaught", default: 0x5EAD)
        var plan = Self.plan(4_000)
        plan.lsmPlantedBug = .readRace
        plan.keys = 8
        var broken = 0
        var runs = 0
        // Up to 10 runs, stopping at the first that catches it.
        while runs < 10 && broken == 0 {
            try ConcurrentHistorySweep.run(Self.context("lsm", seed: seed &+ UInt64(runs), runs: 1), plan: plan) { r in
                if r.verdict == .broken { broken += 1; print("caught: \(r.detail)") }
            }
            runs += 1
        }
        #expect(broken > 0, "the planted read race went unnoticed in \(runs) runs (seed \(seed))")
    }

    @Test func theCheckerFlagsAStaleGetAndATornScan() {
        // key 0: w1 [0,10], w2 [20,30]; a get at [40,50] returning w1 is stale.
        var h = RecordedHistory(keyCount: 2)
        h.writes = [.init(id: 1, key: 0, isDelete: false, invoked: 0, responded: 10),
                    .init(id: 2, key: 0, isDelete: false, invoked: 20, responded: 30),
                    .init(id: 3, key: 1, isDelete: false, invoked: 20, responded: 30)]
        h.reads = [.init(key: 0, observed: 1, invoked: 40, responded: 50)]
        #expect(h.check().violations == 1)
        // Overlapping the second write, either value is fine.
        h.reads = [.init(key: 0, observed: 1, invoked: 25, responded: 50), .init(key: 0, observed: 2, invoked: 25, responded: 26)]
        #expect(h.check().violations == 0)
        // A get that saw w2 ends at 26; a later get [27, 28] that returns w1 is an inversion.
        h.reads.append(.init(key: 0, observed: 1, invoked: 27, responded: 28))
        #expect(h.check().violations == 1)
        // Absent before any write: fine; absent after w1 ended and no delete: stale.
        h.reads = [.init(key: 1, observed: 0, invoked: 0, responded: 5), .init(key: 0, observed: 0, invoked: 11, responded: 12)]
        #expect(h.check().violations == 1)
        // A scan that sees key 0 at w2 (from 20 on) and key 1 absent (until 30): consistent at [20, 30].
        h.reads = []
        h.scans = [.init(lower: 0, upper: 2, observed: [2, 0], invoked: 15, responded: 35, malformed: nil)]
        #expect(h.check().violations == 0)
        // Key 0 at w1 (until w2 ended at 30) but key 1 at w3 only from 20: still one moment, [20, 30].
        h.scans = [.init(lower: 0, upper: 2, observed: [1, 3], invoked: 15, responded: 35, malformed: nil)]
        #expect(h.check().violations == 0)
        // A scan that runs wholly after both writes but sees key 0's old value: no such moment.
        h.scans = [.init(lower: 0, upper: 2, observed: [1, 3], invoked: 40, responded: 45, malformed: nil)]
        #expect(h.check().violations == 1)
    }
}

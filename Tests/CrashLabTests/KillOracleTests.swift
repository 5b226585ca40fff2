import Testing
import OrbitCore
import Runner
import OrbitTestSupport
@testable import CrashLab

/// The oracle of the kill experiment, on hand-made histories: it must pass a faithful recovery and
/// catch every kind of broken one.
@Suite struct KillOracleTests {
    typealias S = KillOracle.State

    func put(_ i: Int, _ r: Int) -> KillOp { KillOp(index: i, entries: [.init(record: r, put: true)], isBatch: false) }
    func del(_ i: Int, _ r: Int) -> KillOp { KillOp(index: i, entries: [.init(record: r, put: false)], isBatch: false) }

    /// Records 0..3: v0 on 0, v1 on 1 then deleted by 2, v3 on 3 (unsynced), op 4 on record 0 in flight.
    func history(synced: Bool = true) -> KillOracle {
        var o = KillOracle(recordCount: 4)
        for (op, s) in [(put(0, 0), synced), (put(1, 1), synced), (del(2, 1), synced), (put(3, 3), false)] {
            o.begin(op)
            let known = o.acknowledge(op.index, synced: s)
            #expect(known)
        }
        o.begin(put(4, 0))
        return o
    }

    @Test func faithfulRecoveryIsClean() {
        var o = history()
        #expect(o.acknowledgedCount == 4)
        #expect(o.ackedSynced == 3)
        #expect(o.inFlight.map(\.index) == [4])
        let v = o.verifyAndAdopt([.value(version: 0), .absent, .absent, .value(version: 3)])
        #expect(v.isClean, "\(v.problems)")
        #expect(v.inFlightRecovered == 0)
    }

    @Test func inFlightWriteMayBeRecovered() {
        var o = history()
        let v = o.verifyAndAdopt([.value(version: 4), .absent, .absent, .value(version: 3)])
        #expect(v.isClean, "\(v.problems)")
        #expect(v.inFlightRecovered == 1)
        // Adopted: the next cycle expects v4 on record 0.
        #expect(o.expected(0) == .value(version: 4))
        #expect(o.inFlight.isEmpty && o.acknowledgedCount == 0)
    }

    @Test func lostSyncedWriteIsCaught() {
        var o = history()
        let v = o.verifyAndAdopt([.absent, .absent, .absent, .value(version: 3)])
        #expect(v.lostSynced == 1 && v.lostUnsynced == 0 && !v.isClean)
        #expect(v.lostOps == 1)
        #expect(v.problems.first?.contains("record 0: missing") == true, "\(v.problems)")
    }

    @Test func lostUnsyncedWriteIsCountedApart() {
        var o = history()
        let v = o.verifyAndAdopt([.value(version: 0), .absent, .absent, .absent])
        #expect(v.lostSynced == 0 && v.lostUnsynced == 1 && !v.isClean)
    }

    @Test func staleValueIsCaught() {
        var o = KillOracle(recordCount: 1)
        for i in 0..<3 {
            o.begin(put(i, 0))
            o.acknowledge(i, synced: true)
        }
        let v = o.verifyAndAdopt([.value(version: 1)])
        #expect(v.lostSynced == 1, "\(v.problems)")
        #expect(v.problems.first?.contains("stale v1") == true, "\(v.problems)")
    }

    @Test func resurrectedDeleteIsCaught() {
        var o = history()
        let v = o.verifyAndAdopt([.value(version: 0), .value(version: 1), .absent, .value(version: 3)])
        #expect(v.resurrected == 1 && !v.isClean, "\(v.problems)")
    }

    @Test func foreignAndFutureValuesAreWrong() {
        var o = history()
        let v = o.verifyAndAdopt([.value(version: 0), .absent, .foreign, .value(version: 9)])
        #expect(v.wrong == 2 && !v.isClean, "\(v.problems)")
    }

    @Test func inFlightBatchIsAllOrNothing() {
        var o = KillOracle(recordCount: 3)
        let batch = KillOp(index: 7, entries: [.init(record: 0, put: true), .init(record: 1, put: true), .init(record: 2, put: false)],
                           isBatch: true)
        o.begin(batch)
        var all = o
        let allApplied = all.verifyAndAdopt([.value(version: 7), .value(version: 7), .absent])
        #expect(allApplied.isClean)
        var none = o
        let noneApplied = none.verifyAndAdopt([.absent, .absent, .absent])
        #expect(noneApplied.isClean)
        var torn = o
        let v = torn.verifyAndAdopt([.value(version: 7), .absent, .absent])
        #expect(v.tornBatches == 1 && !v.isClean, "\(v.problems)")
    }

    /// A writer that goes on after a failed call (node-kill) writes the records of its in-flight
    /// batch again: the batch is judged on the entries no later op wrote, and is torn only there.
    @Test func inFlightBatchWrittenAgainIsJudgedOnItsOtherEntries() {
        var o = KillOracle(recordCount: 4)
        let batch = KillOp(index: 7, entries: (0..<4).map { .init(record: $0, put: true) }, isBatch: true)
        o.begin(batch)
        o.begin(KillOp(index: 9, entries: [.init(record: 0, put: true), .init(record: 1, put: true)], isBatch: true))
        o.acknowledge(9, synced: true)
        o.begin(KillOp(index: 11, entries: [.init(record: 2, put: true)], isBatch: false))  // in flight too
        var applied = o
        let a = applied.verifyAndAdopt([.value(version: 9), .value(version: 9), .value(version: 11), .value(version: 7)])
        #expect(a.isClean, "\(a.problems)")
        var notApplied = o
        let n = notApplied.verifyAndAdopt([.value(version: 9), .value(version: 9), .absent, .absent])
        #expect(n.isClean, "\(n.problems)")
        // Both records the batch alone wrote must agree.
        var o2 = KillOracle(recordCount: 4)
        o2.begin(batch)
        o2.begin(KillOp(index: 9, entries: [.init(record: 0, put: true), .init(record: 1, put: true)], isBatch: true))
        o2.acknowledge(9, synced: true)
        let t = o2.verifyAndAdopt([.value(version: 9), .value(version: 9), .value(version: 7), .absent])
        #expect(t.tornBatches == 1, "\(t.problems)")
    }

    @Test func pipeLinesRoundTrip() throws {
        let op = KillOp(index: 12, entries: [.init(record: 5, put: true), .init(record: 9, put: false)], isBatch: true)
        let line = op.beginLine
        #expect(line == "B 12 w +5,-9\n")
        #expect(KillOp.parseBegin(line.dropLast()) == op)
        #expect(KillOp.parseAck(KillOp.ackLine(12, synced: true).dropLast())! == (12, true))
        #expect(KillOp.parseAck("A 12 X") == nil)
        #expect(KillOp.parseBegin("B 12 w") == nil)
        let value = KillOp.value(record: 5, version: 12, size: 64)
        #expect(value.count == 64)
        value.withUnsafeBytes { b in
            #expect(KillOp.version(of: b, record: 5, size: 64) == 12)
            #expect(KillOp.version(of: b, record: 6, size: 64) == nil)
            #expect(KillOp.version(of: UnsafeRawBufferPointer(rebasing: b[0..<40]), record: 5, size: 64) == nil)
        }
        #expect(KillOp.key(42, size: 8) == Array("00000042".utf8))
    }

    @Test func recordOfKeyIsTheInverseOfKey() {
        for (r, size) in [(0, 1), (42, 8), (99_999, 5), (7, 24)] {
            KillOp.key(r, size: size).withUnsafeBytes { #expect(KillOp.record(ofKey: $0, size: size) == r) }
        }
        for bad in ["0042", "00x42", "", "000000042", "99999999999999999999999"] {
            Array(bad.utf8).withUnsafeBytes { #expect(KillOp.record(ofKey: $0, size: 8) == nil, "\(bad)") }
        }
    }

    /// The node-kill sweep judges the key space from one scan; it must see what a get per record sees.
    @Test func verifyingByScanAgreesWithAGetPerRecord() throws {
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/crash-recovery.yaml")
        try c.applyFlags(sets: ["record_count=50"], backends: [], dataDir: nil)
        let plan = try CrashPlan(settings: c.settings)
        struct Fill: EngineBody {
            let plan: CrashPlan
            func run<E: StorageEngine>(_ engine: E) throws -> (KillSweep.VerifyBody.Result, KillSweep.VerifyBody.Result) {
                for r in stride(from: 0, to: plan.recordCount, by: 3) {
                    try engine.put(KillOp.key(r, size: plan.keySize), KillOp.value(record: r, version: r + 1, size: plan.valueSize))
                }
                try engine.put(KillOp.key(4, size: plan.keySize), KillOp.value(record: 5, version: 1, size: plan.valueSize))  // foreign
                try engine.put(Array("zz".utf8), Array("x".utf8))                                            // outside the key space
                try engine.put(KillOp.key(plan.recordCount + 1, size: plan.keySize), Array("x".utf8))        // beyond it
                let byGet = try KillSweep.VerifyBody(plan: plan, start: MonotonicClock.nanoseconds(), cache: nil).run(engine)
                let byScan = try KillSweep.VerifyByScanBody(plan: plan, start: MonotonicClock.nanoseconds()).run(engine)
                return (byGet, byScan)
            }
        }
        let (byGet, byScan) = try withTemporaryDirectory { dir in
            try Engines.withEngine("memory", directory: dir + "/store", settings: c.settings, Fill(plan: plan))
        }
        #expect(byScan.states == byGet.states)
        #expect(byScan.states[4] == .foreign && byScan.states[3] == .value(version: 4) && byScan.states[1] == .absent)
        #expect(byScan.extraKeys == 2 && byGet.extraKeys == 2)
    }

    @Test func planRefusesReadsAndAMissingKillPoint() throws {
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/crash-recovery.yaml")
        _ = try CrashPlan(settings: c.settings)
        var noPoint = c
        try noPoint.applyFlags(sets: ["kill_after_ops.max=0"], backends: [], dataDir: nil)
        let e1 = #expect(throws: OrbitError.self) { try CrashPlan(settings: noPoint.settings) }
        #expect(e1?.description.contains("flag --set kill_after_ops.max=0") == true, "\(String(describing: e1))")
        var reads = c
        try reads.applyFlags(sets: ["mix.read=0.5", "mix.update=0.3"], backends: [], dataDir: nil)
        let e2 = #expect(throws: OrbitError.self) { try CrashPlan(settings: reads.settings) }
        #expect(e2?.description.contains("mix.read") == true, "\(String(describing: e2))")
        // A workload field with a bad value names file:line:col.
        var bad = Settings(knobs: Configuration.allKnobs)
        let e3 = #expect(throws: OrbitError.self) {
            try WorkloadFileProbe.apply("crash_methods: [kill, reboot]\n", &bad)
        }
        #expect(e3?.description.contains("t.yaml:1:") == true && e3?.description.contains("reboot") == true, "\(String(describing: e3))")
    }
}

import Workloads
enum WorkloadFileProbe {
    static func apply(_ yaml: String, _ s: inout Settings) throws { try WorkloadFile.apply(yaml: yaml, path: "t.yaml", to: &s) }
}

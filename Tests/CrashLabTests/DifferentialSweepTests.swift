import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Synchronization
import Testing
@testable import CrashLab

/// The differential method, CI-sized: a few seeded streams of 400 operations on all five engines;
/// the replay file round trip; the shrinker on a planted difference.
@Suite struct DifferentialSweepTests {
    /// `tag` names the test: the suites' tests run in parallel, and two that shared a work directory
    /// removed each other's scratch stores (a peer's store deleted under it read as empty).
    static func context(_ engine: String, seed: UInt64, streams: Int, tag: String) -> CrashSweepContext {
        let settings = Settings(knobs: CoreKnobs.all + Engines.allKnobs)
        return CrashSweepContext(engine: engine, durability: .none, settings: settings, seed: seed, count: streams,
                                 workDirectory: NSTemporaryDirectory() + "orbit-differential-tests-\(getpid())-\(engine)\(tag)")
    }

    /// A plan over this build's engines only: the suites run in parallel in one process, and an engine
    /// another suite registers meanwhile (the toy of ToyEngineTests) must not join a stream halfway.
    static func plan(operations: Int) -> DifferentialSweep.Plan {
        var plan = DifferentialSweep.Plan()
        plan.operations = operations
        plan.engines = Engines.builtinNames.filter { !(Engines.capabilities($0)?.contains(.server) ?? false) }
        return plan
    }

    @Test(arguments: ["lsm", "cow"]) func everyEngineAgrees(_ engine: String) throws {
        let seed = TestSeed.pick("DifferentialSweepTests.everyEngineAgrees", default: 0xD1FF)
        let plan = Self.plan(operations: 1_500)
        var records: [CrashRecord] = []
        let c = Self.context(engine, seed: seed, streams: 3, tag: "-agree")
        defer { try? FileManager.default.removeItem(atPath: c.workDirectory) }
        try DifferentialSweep.run(c, plan: plan) { records.append($0) }
        #expect(records.count == 3)
        for r in records {
            print("differential \(engine) stream \(r.cycle): \(r.verdict) \(r.crashPointOrTime) \(r.detail)")
            #expect(r.verdict == .ok, "\(engine) seed \(seed) stream \(r.cycle): \(r.detail)")
            #expect(!r.detail.contains("differ from the majority"), "a peer differs: \(r.detail)")
        }
    }

    /// A sweep of two subjects runs each stream's peers once: the second subject finds their digests
    /// in the memo. A remembered digest that disagrees (planted here) makes the peers run again, so the
    /// memo can never hide a difference nor invent one.
    @Test func theSecondSubjectReusesThePeersAndAWrongMemoIsNotTrusted() throws {
        let seed = TestSeed.pick("DifferentialSweepTests.memo", default: 0xD1FF_0002)
        let plan = Self.plan(operations: 600)
        for engine in ["lsm", "cow"] {
            let c = Self.context(engine, seed: seed, streams: 2, tag: "-memo")
            defer { try? FileManager.default.removeItem(atPath: c.workDirectory) }
            var records: [CrashRecord] = []
            try DifferentialSweep.run(c, plan: plan) { records.append($0) }
            #expect(records.count == 2 && records.allSatisfy { $0.verdict == .ok }, "\(engine) seed \(seed): \(records.map(\.detail))")
        }
        let label = "seed=\(seed) stream=0 stream_seed=0x\(String(DifferentialSweep.streamSeed(seed, 0), radix: 16))"
        let key = try #require(DifferentialSweep.memo.withLock { m in m.keys.first { $0.hasPrefix(label + "|") && $0.hasSuffix("|memory") } }
            .map { String($0.dropLast("|memory".count)) })
        let remembered = DifferentialSweep.memo.withLock { m in plan.engines.map { m[key + "|" + $0] } }
        #expect(remembered.allSatisfy { $0 != nil } && Set(remembered.map { $0!.hash }).count == 1, "one digest for all five engines")
        DifferentialSweep.memo.withLock { $0[key + "|rocksdb"] = .init(hash: 1, count: 1) }
        let c = Self.context("cow", seed: seed, streams: 1, tag: "-memo")
        defer { try? FileManager.default.removeItem(atPath: c.workDirectory) }
        var records: [CrashRecord] = []
        try DifferentialSweep.run(c, plan: plan) { records.append($0) }
        #expect(records.count == 1 && records[0].verdict == .ok, "\(records.map(\.detail))")
        #expect(DifferentialSweep.memo.withLock { $0[key + "|rocksdb"] } == remembered[0], "the peers ran again and corrected the memo")
    }

    @Test func theReplayFileRoundTrips() throws {
        let ops = DiffStream.generate(seed: 7, count: 2_000)
        let text = DiffStream.render(ops, header: ["test"])
        #expect(try DiffStream.parse(text, file: "t") == ops)
        #expect(ops.contains(.reopen) && ops.contains { if case .snapshotRestore = $0 { true } else { false } })
        #expect(DiffStream.normalize(ops) == ops, "a generated stream is valid as it is")
        let bad = try #require(throws: OrbitError.self) { try DiffStream.parse("put x01\nfrobnicate\n", file: "f.ops") }
        #expect(bad.description.contains("line 2") && bad.description.contains("f.ops"))
    }

    /// A replay file (as a failing stream writes it) runs once through the sweep, on every engine.
    @Test func aReplayFileRunsOnEveryEngine() throws {
        let c = Self.context("cow", seed: 5, streams: 99, tag: "-replay")
        defer { try? FileManager.default.removeItem(atPath: c.workDirectory) }
        try FileManager.default.createDirectory(atPath: c.workDirectory, withIntermediateDirectories: true)
        let ops: [DiffOp] = [.put(Array("a".utf8), [1]), .snapshotCreate("s0"), .delete(Array("a".utf8)), .reopen, .check,
                             .snapshotRestore("s0"), .check, .batch([.init(isPut: true, key: Array("b".utf8), value: [])]), .reopen, .check]
        let file = c.workDirectory + "/case.ops"
        try DiffStream.render(ops, header: ["hand-written"]).write(toFile: file, atomically: true, encoding: .utf8)
        var plan = Self.plan(operations: 10_000)
        plan.replay = file
        var records: [CrashRecord] = []
        try DifferentialSweep.run(c, plan: plan) { records.append($0) }
        #expect(records.count == 1, "a replay is one stream, whatever the budget")
        #expect(records.first?.verdict == .ok, "\(records.first?.detail ?? "")")
        #expect(records.first?.opsRecovered == 3)
    }

    /// A difference the engines cannot have is planted by comparing memory with a stream that is
    /// not the same: the shrinker must cut a long stream down to the few ops that matter.
    @Test func theShrinkerFindsAShortStream() throws {
        let c = Self.context("lsm", seed: 1, streams: 1, tag: "-shrink")
        defer { try? FileManager.default.removeItem(atPath: c.workDirectory) }
        var plan = DifferentialSweep.Plan()
        plan.shrinkAttempts = 300
        // "Fails" whenever the stream still puts the poisoned key and then checks: a stand-in for an
        // engine bug, through the real delta-debugging loop.
        let poisoned: [UInt8] = Array("poison".utf8)
        var ops = DiffStream.generate(seed: 3, count: 600)
        ops.insert(.put(poisoned, [1]), at: 300)
        let short = DifferentialSweep.ddmin(ops, attempts: 300) { candidate in
            candidate.contains(.put(poisoned, [1]))
        }
        #expect(short.count <= 2, "shrunk to \(short.count) ops")
        #expect(short.contains(.put(poisoned, [1])))
    }
}

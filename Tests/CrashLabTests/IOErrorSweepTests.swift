#if canImport(Glibc)
import Glibc
#endif
import CowBTree
import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing
@testable import CrashLab

/// The I/O-error sweep, CI-sized: every durability mode of `lsm`, and of `cow` with and without its
/// WAL; 100 probes per engine. Replay one configuration with ORBIT_TEST_SEED.
@Suite struct IOErrorSweepTests {
    static let modes: [DurabilityMode] = [.none, .everyWrite, .group, .periodic(milliseconds: 20)]

    struct Config: CustomTestStringConvertible, Sendable {
        var engine: String
        var durability: DurabilityMode
        var cowWAL: Bool = true
        var probes: Int
        var testDescription: String { "\(engine) \(durability)" + (engine == "cow" ? " wal=\(cowWAL)" : "") }
    }

    /// Probes per engine: 100, or ORBIT_IOERROR_PROBES (the measured sweep: 2000).
    static let probesPerEngine: Int = {
        guard let text = getenv("ORBIT_IOERROR_PROBES"), let n = Int(String(cString: text)), n > 0 else { return 100 }
        return n
    }()

    static let configs: [Config] =
        modes.map { Config(engine: "lsm", durability: $0, probes: (probesPerEngine + 3) / 4) }
        + modes.flatMap { m in [true, false].map { Config(engine: "cow", durability: m, cowWAL: $0, probes: (probesPerEngine + 7) / 8) } }

    static func context(_ c: Config, seed: UInt64) throws -> CrashSweepContext {
        var settings = Settings(knobs: CoreKnobs.all + LSMOptions.knobs + CowOptions.knobs)
        try settings.applyEnvironment(["ORBIT_COW_WAL": c.cowWAL ? "true" : "false"])
        return CrashSweepContext(engine: c.engine, durability: c.durability, settings: settings, seed: seed,
                                 count: c.probes, workDirectory: "/unused", recordCount: 48, valueSize: 40)
    }

    @Test(arguments: configs) func sweepKeepsEveryPromise(_ c: Config) throws {
        let seed = TestSeed.pick("IOErrorSweepTests.sweepKeepsEveryPromise", default: 0x10E5)
        var records: [CrashRecord] = []
        try IOErrorSweep.run(try Self.context(c, seed: seed)) { records.append($0) }
        #expect(records.count == c.probes)
        for r in records where r.verdict != .ok {
            Issue.record("\(c.testDescription) seed \(seed) probe \(r.cycle) \(r.crashPointOrTime): \(r.detail)")
        }
        let fired = records.filter { !$0.crashPointOrTime.contains("not reached") }.count
        let broken = records.filter { $0.verdict != .ok }.count
        print("io-error sweep \(c.testDescription): \(records.count) probes, \(fired) faults fired, \(broken) broken, "
              + "\(records.reduce(0) { $0 + $1.opsAcknowledged }) writes acknowledged, \(records.reduce(0) { $0 + $1.opsSynced }) durable")
        #expect(fired * 2 >= records.count, "most faults fire (\(fired)/\(records.count))")
        #expect(records.allSatisfy { $0.method == .ioError && $0.engine == c.engine })
    }

    @Test func rocksdbAndLMDBAreNotSupported() throws {
        #expect(IOErrorSweep.supports(engine: "lsm") && IOErrorSweep.supports(engine: "cow"))
        #expect(!IOErrorSweep.supports(engine: "rocksdb") && !IOErrorSweep.supports(engine: "lmdb"))
        var c = try Self.context(Config(engine: "lsm", durability: .none, probes: 1), seed: 1)
        c.engine = "rocksdb"
        let e = try #require(throws: OrbitError.self) { try IOErrorSweep.run(c) { _ in } }
        #expect(e.code == .unsupported && e.description.contains("rocksdb"))
    }
}

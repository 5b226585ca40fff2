import Foundation
import OrbitCore
import Reports
import Runner
import Testing
import Workloads

/// `warmup: auto` (issue 19 item 4): the warm-up ends once throughput is steady over a sliding
/// window, or at its maximum; summary.json says when and why.
struct WarmupTests {
    /// Warming up: a server (16 client threads, so it is never idle) at 20 ms per operation at first,
    /// falling to 2 ms over 1.5 s, then steady: 50 ops/s rising to 500.
    static func run(_ sets: [String]) throws -> (BackendRun, Workload, Settings) {
        var c = Configuration()
        try c.applyFlags(sets: ["record_count=20", "operation_count=50", "mix.read=1", "seed=4", "threads=16", "warmup=auto",
                                "warmup_window_s=0.5", "warmup_bound=0.1"] + sets, backends: [], dataDir: nil)
        print("seed 4")
        let w = try Workload(settings: c.settings)
        let engine = PacedEngine(costNanos: 2_000_000, rampFromNanos: 20_000_000, rampNanos: 1_500_000_000)
        let r = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false).run(engine: engine, backend: "warming")
        return (r, w, c.settings)
    }

    @Test func autoWarmupEndsOnceThroughputIsSteady() throws {
        let (r, w, settings) = try Self.run(["warmup_max_s=20"])
        let wu = try #require(r.warmup)
        print("auto warm-up ended after \(wu.seconds) s: \(wu.reason), change \(wu.relativeChange ?? -1), \(wu.opsPerSecond ?? 0) ops/s")
        #expect(wu.mode == "auto" && wu.reason == "steady")
        #expect(wu.seconds >= 1.0)  // not before the ramp is over
        #expect(wu.seconds < 20)
        #expect(try #require(wu.relativeChange) < 0.1)
        // summary.json records it.
        var result = RunResult(runId: "t", workload: w, settings: settings,
                               environment: EnvironmentInfo.capture(dataDirectory: NSTemporaryDirectory()), startedAtMillis: 0,
                               backends: [r], outputDirectory: "")
        result.repeats = []
        let json = try ResultsWriter.summaryJSON(result)
        #expect(json.contains("\"reason\" : \"steady\"") && json.contains("\"mode\" : \"auto\""))
    }

    @Test func autoWarmupStopsAtItsMaximum() throws {
        let (r, _, _) = try Self.run(["warmup_max_s=0.5"])
        let wu = try #require(r.warmup)
        print("auto warm-up ended after \(wu.seconds) s: \(wu.reason)")
        #expect(wu.reason == "max")
        #expect(wu.seconds >= 0.5)
    }

    /// The steadiness measure: a flat series is steady, a ramp is not.
    @Test func relativeChangeOfAFlatAndARisingSeries() {
        #expect(AutoWarmup.relativeChange(Array(repeating: 100, count: 10)) == 0)
        let ramp = (0..<10).map { 100 + 10 * Double($0) }
        let c = AutoWarmup.relativeChange(ramp)!
        #expect(c > 0.6 && c < 0.8, "\(c)")  // 10 per sample over 10 samples against a mean of 145
        #expect(AutoWarmup.relativeChange([0, 0, 0]) == nil)
    }
}

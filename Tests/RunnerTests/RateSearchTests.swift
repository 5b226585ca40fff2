import Foundation
import OrbitCore
import Reports
import Runner
import Testing
import Workloads

/// Open loop done right (issue 19 item 2): schedule lag, late operations and backlog per interval;
/// SATURATED when the backlog grows; `search-rate` finds the highest rate meeting an SLO.
@Suite(.serialized)
struct RateSearchTests {
    init() { PacedDescriptor.register() }

    static func configuration(_ sets: [String]) throws -> Configuration {
        var c = Configuration()
        try c.applyFlags(sets: ["record_count=50", "mix.read=1", "seed=19"] + sets,
                         backends: [PacedDescriptor.name], dataDir: nil)
        print("seed 19")
        return c
    }

    /// A server of 100 ops/s (10 ms per operation; 8 client threads) asked for 200: the backlog grows
    /// every interval, operations start late, and the run is SATURATED; asked for 50 it keeps the
    /// schedule.
    @Test func aGrowingBacklogIsSaturated() throws {
        for (target, saturated) in [(200.0, true), (50.0, false)] {
            let c = try Self.configuration(["threads=8", "duration_s=2.5", "operation_count=0", "interval_s=0.5",
                                            "target_ops_s=\(Int(target))"])
            let w = try Workload(settings: c.settings)
            let r = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false)
                .run(engine: PacedEngine(costNanos: 10_000_000), backend: PacedDescriptor.name)
            let t = try #require(r.target)
            let rows = r.timeseries.filter { $0.schedule != nil }
            print("target \(target): achieved \(t.achieved), backlogs \(t.backlogs), late \(t.lateOps), lag \(t.maxLagNanos) ns")
            #expect(t.saturated == saturated)
            #expect(rows.count >= 5)
            #expect(rows.allSatisfy { $0.targetOpsPerSecond == target })
            if saturated {
                #expect(t.backlogs.dropLast().last! >= 100)
                #expect(t.lateOps >= 100)
                #expect(t.maxLagNanos >= 100_000_000)
                #expect(t.achieved < 0.8 * target)
            } else {
                #expect(t.backlogs.dropLast().last! <= 8)
            }
            // Closed-loop load rows carry no schedule, only the achieved rate.
            #expect(r.timeseries.filter { $0.operation == .load }.allSatisfy { $0.schedule == nil && $0.targetOpsPerSecond == 0 })
        }
    }

    /// The SLO grammar, and what a bad one says (exit status 2, what is allowed).
    @Test func sloTextIsParsedOrRefused() throws {
        let slo = try LatencySLO(parsing: "p99<=5ms, p999<20ms,max<=1s,p50<=250us")
        #expect(slo.clauses.map(\.percentile) == [99, 99.9, 100, 50])
        #expect(slo.clauses.map(\.limitNanos) == [5_000_000, 20_000_000, 1_000_000_000, 250_000])
        #expect(slo.clauses.map(\.strict) == [false, true, false, false])
        #expect(slo.clauses[0].holds(5_000_000) && !slo.clauses[1].holds(20_000_000))
        for bad in ["p99", "p99<=5", "p99<=fast", "q99<=5ms", "p101<=5ms", "p99<=5ms,", "p99<=-1ms", ""] {
            do {
                _ = try LatencySLO(parsing: bad)
                Issue.record("'\(bad)' was accepted")
            } catch let e as OrbitError {
                #expect(e.exitStatus == 2, "\(bad)")
                #expect(e.location == "flag --slo")
                #expect(e.hint?.contains("p99<=5ms") == true)
            }
        }
    }

    /// `search-rate` on a server of known capacity (50 ops/s: 20 ms per operation, served in turn)
    /// finds a rate within 10% of it. Few threads (4) and one interval per probe keep the harness's own
    /// CPU (merging interval histograms, slow in a debug build) small, so that on a loaded machine its
    /// threads still wake on time; the SLO is loose (p99 ≤ 500 ms): above the capacity a probe
    /// achieves less than 95% of its target (it cannot do more than the server), and a failing probe
    /// is run once more, so one slow spell of the machine does not end the search low.
    @Test func searchRateFindsTheKnownLimit() throws {
        let c = try Self.configuration(["threads=4", "paced.cost_us=20000", "record_count=20", "interval_s=3"])
        var search = RateSearch(configuration: c, slo: try LatencySLO(parsing: "p99<=500ms"))
        search.probeSeconds = 3
        search.warmupSeconds = 0.3
        search.tolerance = 0.05
        search.maxProbes = 14
        search.retries = 1
        let out = NSTemporaryDirectory() + "orbit-search-rate-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        search.outputDirectory = out
        var lines: [String] = []
        let outcome = try search.run { print($0); lines.append($0) }
        let answer = try #require(outcome.answer)
        print("search-rate found \(answer) ops/s against a true limit of 50 (\(outcome.probes.count) probes)")
        #expect(abs(answer - 50) <= 5)
        #expect(lines.count == outcome.probes.count + 1)
        #expect(outcome.probes.first?.target == 0)
        let csv = try String(contentsOfFile: out + "/search-rate.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == outcome.probes.count + 1)
        // Each probe is a full results directory; its store is gone.
        #expect(FileManager.default.fileExists(atPath: out + "/probe-1/summary.json"))
    }
}

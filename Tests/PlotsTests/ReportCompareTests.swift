import Foundation
import Testing
import OrbitCore
import Reports

/// `report` and `compare` on fixture results: exact expected tables (golden files in Fixtures/expected),
/// and compare's verdicts on a planted regression (run-b is run-a with rocksdb's get p99 raised 25% and
/// memory's update throughput lowered 20%).
struct ReportCompareTests {
    static func expected(_ name: String) throws -> String {
        try String(contentsOfFile: Fixtures.path("expected/" + name), encoding: .utf8)
    }

    @Test func reportTablesAreExact() throws {
        let runs = try [Fixtures.path("run-a"), Fixtures.path("run-b")].map(ResultsDirectory.read)
        let rows = try Report.rows(runs)
        #expect(rows.count == 18)
        #expect(Report.csv(rows) == (try Self.expected("report.csv")))
        #expect(Report.markdown(rows, runs: runs) == (try Self.expected("report.md")))
    }

    @Test func compareFlagsThePlantedRegressions() throws {
        let a = try ResultsDirectory.read(Fixtures.path("run-a")), b = try ResultsDirectory.read(Fixtures.path("run-b"))
        let o = try Compare.compare(a, b, threshold: 0.05)
        #expect(o.regressions == 2)
        let flagged = o.lines.filter { $0.verdict == .regression }.map { "\($0.key) \($0.metric)" }
        #expect(flagged == ["memory (none) run update ops_per_s", "rocksdb (none) run get p99_us"])
        #expect(o.onlyInA.isEmpty && o.onlyInB.isEmpty)
        #expect(Compare.markdown(o, a: a, b: b) == (try Self.expected("compare.md")))
        #expect(Compare.csv(o) == (try Self.expected("compare.csv")))
        // A 30% threshold lets both through.
        #expect(try Compare.compare(a, b, threshold: 0.30).regressions == 0)
        // The other way round, the planted changes are improvements.
        let back = try Compare.compare(b, a, threshold: 0.05)
        #expect(back.regressions == 0)
        #expect(back.lines.filter { $0.verdict == .improvement }.count == 2)
    }

    @Test func compareOfARunWithItselfFindsNothing() throws {
        let a = try ResultsDirectory.read(Fixtures.path("run-a"))
        let o = try Compare.compare(a, a, threshold: 0.05)
        #expect(o.regressions == 0)
        #expect(o.lines.allSatisfy { $0.ratio == 1 && $0.verdict == .same })
        #expect(o.lines.count == 9 * Compare.metrics.count)
    }
}

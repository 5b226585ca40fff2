import OrbitCore
import Foundation

/// `orbit-bench compare A B`: each metric of each (backend, durability, phase, operation) row the two
/// runs share, as the ratio B/A with its spread across repeats, flagged when it moved more than the
/// threshold in the bad direction (regression) or the good one (improvement) and, when both runs had
/// repeats, the 95% confidence intervals of the two medians (summary.csv's `*_ci_low`, `*_ci_high`)
/// do not overlap. A change beyond the threshold whose intervals overlap is "within noise". Runs
/// without repeats have no intervals: the threshold alone decides, and the line says so.
///
/// Refuses (`.invalidArgument`, exit status 2) runs of different workloads, a backend run under
/// different durability modes, and runs with no row in common, unless `force`.
public enum Compare {
    /// A metric and which way is worse.
    public struct Metric: Sendable {
        public var column: String
        public var higherIsWorse: Bool
    }

    /// The compared metrics: throughput (lower is worse) and latencies (higher is worse). max_us is left
    /// out: one stall decides it, so it flags noise.
    public static let metrics = [
        Metric(column: "ops_per_s", higherIsWorse: false), Metric(column: "micros_per_op", higherIsWorse: true),
        Metric(column: "p50_us", higherIsWorse: true), Metric(column: "p99_us", higherIsWorse: true),
        Metric(column: "p999_us", higherIsWorse: true),
    ]

    public enum Verdict: String, Sendable {
        case regression, improvement, same = "", noBaseline = "no baseline", withinNoise = "within noise"
    }

    public struct Line: Sendable {
        public var key: String
        public var metric: String
        public var a: String
        public var b: String
        /// B/A; nil when A is 0.
        public var ratio: Double?
        /// Lowest and highest B/A the repeats allow (B min / A max ... B max / A min); nil without repeats.
        public var spread: (low: Double, high: Double)?
        /// The 95% confidence intervals of A's and B's medians; nil for a run without repeats.
        public var intervalA: Bootstrap.Interval?
        public var intervalB: Bootstrap.Interval?
        public var verdict: Verdict
    }

    public struct Outcome: Sendable {
        public var lines: [Line]
        public var onlyInA: [String]
        public var onlyInB: [String]
        public var threshold: Double
        public var regressions: Int { lines.filter { $0.verdict == .regression }.count }
    }

    public static func compare(_ a: ResultsDirectory, _ b: ResultsDirectory, threshold: Double, force: Bool = false) throws -> Outcome {
        let ra = try Report.rows([a]), rb = try Report.rows([b])
        func key(_ r: Report.Row) -> String {
            "\(r.cell("backend")) (\(r.cell("durability"))) \(r.cell("phase")) \(r.cell("operation"))"
        }
        if !force { try checkComparable(a, b, ra, rb, key) }
        var lines: [Line] = []
        for x in ra {
            guard let y = rb.first(where: { key($0) == key(x) }) else { continue }
            for m in metrics {
                let av = x.cell(m.column), bv = y.cell(m.column)
                guard let an = Double(av), let bn = Double(bv) else { continue }
                let ratio: Double? = an > 0 ? bn / an : nil
                var spread: (Double, Double)?
                if let aLo = Double(x.cell(m.column + "_min")), let aHi = Double(x.cell(m.column + "_max")),
                   let bLo = Double(y.cell(m.column + "_min")), let bHi = Double(y.cell(m.column + "_max")), aLo > 0, aHi > 0,
                   (Int(x.cell("repeats")) ?? 1) > 1 || (Int(y.cell("repeats")) ?? 1) > 1 {
                    spread = (bLo / aHi, bHi / aLo)
                }
                let ia = interval(x, m.column), ib = interval(y, m.column)
                var verdict = Verdict.same
                if let ratio {
                    let worse = m.higherIsWorse ? ratio > 1 + threshold : ratio < 1 - threshold
                    let better = m.higherIsWorse ? ratio < 1 - threshold : ratio > 1 + threshold
                    verdict = worse ? .regression : (better ? .improvement : .same)
                    if verdict != .same, let ia, let ib, !ia.separates(from: ib) { verdict = .withinNoise }
                } else if bn > 0 {
                    verdict = .noBaseline
                }
                lines.append(Line(key: key(x), metric: m.column, a: av, b: bv, ratio: ratio, spread: spread,
                                  intervalA: ia, intervalB: ib, verdict: verdict))
            }
        }
        let keysB = Set(rb.map(key)), keysA = Set(ra.map(key))
        return Outcome(lines: lines, onlyInA: ra.map(key).filter { !keysB.contains($0) },
                       onlyInB: rb.map(key).filter { !keysA.contains($0) }, threshold: threshold)
    }

    /// A row's confidence interval of `column`'s median, when summary.csv has one.
    static func interval(_ r: Report.Row, _ column: String) -> Bootstrap.Interval? {
        guard let lo = Double(r.cell(column + "_ci_low")), let hi = Double(r.cell(column + "_ci_high")) else { return nil }
        return Bootstrap.Interval(low: lo, high: hi)
    }

    /// Refuses what cannot be compared: other workloads, other durability modes, nothing in common.
    static func checkComparable(_ a: ResultsDirectory, _ b: ResultsDirectory, _ ra: [Report.Row], _ rb: [Report.Row],
                                _ key: (Report.Row) -> String) throws {
        let hint = "compare runs of the same workload and durability, or pass --force to compare anyway"
        if !a.workload.isEmpty, !b.workload.isEmpty, a.workload != b.workload {
            throw OrbitError(.invalidArgument, "compare: A ran workload '\(a.workload)' (\(a.path)), B ran '\(b.workload)' (\(b.path))",
                             hint: hint)
        }
        func modes(_ rows: [Report.Row]) -> [String: Set<String>] {
            var m: [String: Set<String>] = [:]
            for r in rows { m[r.cell("backend"), default: []].insert(r.cell("durability")) }
            return m
        }
        let ma = modes(ra), mb = modes(rb)
        for backend in ma.keys.sorted() {
            guard let da = ma[backend], let db = mb[backend], da.isDisjoint(with: db) else { continue }
            throw OrbitError(.invalidArgument,
                             "compare: \(backend) ran with durability \(da.sorted().joined(separator: ", ")) in A (\(a.path)) "
                             + "and \(db.sorted().joined(separator: ", ")) in B (\(b.path))", hint: hint)
        }
        if !Set(ra.map(key)).isEmpty, Set(ra.map(key)).isDisjoint(with: Set(rb.map(key))) {
            throw OrbitError(.invalidArgument, "compare: A (\(a.path)) and B (\(b.path)) have no (backend, durability, phase, operation) row in common",
                             hint: "A has " + ra.map(key).joined(separator: "; ") + ". " + hint)
        }
    }

    public static func markdown(_ o: Outcome, a: ResultsDirectory, b: ResultsDirectory) -> String {
        var out = "# orbit-bench compare\n\n"
        out += "A: `\(a.runId)` (\(a.repeatCount) repeat\(a.repeatCount == 1 ? "" : "s")); B: `\(b.runId)` (\(b.repeatCount) repeat\(b.repeatCount == 1 ? "" : "s")).\n"
        out += "Ratio B/A; spread: the lowest and highest B/A the repeats allow (B min / A max – B max / A min).\n"
        out += "Threshold ±\(formatDouble(o.threshold * 100, decimals: 1))%: higher latency or lower throughput is a regression "
            + "when it exceeds the threshold and the 95% confidence intervals of the two medians (bootstrap over the repeats) "
            + "do not overlap; beyond the threshold with overlapping intervals it is within noise. "
            + "Without repeats there are no intervals and the threshold alone decides (noted \"no CI\").\n\n"
        out += "| backend (durability) phase operation | metric | A | B | B/A | spread | 95% CI A | 95% CI B | change |\n"
        out += "|---|---|---:|---:|---:|---:|---:|---:|---|\n"
        for l in o.lines {
            let ratio = l.ratio.map { formatDouble($0, decimals: 3) } ?? "—"
            let spread = l.spread.map { formatDouble($0.low, decimals: 3) + "–" + formatDouble($0.high, decimals: 3) } ?? "—"
            func ci(_ i: Bootstrap.Interval?) -> String { i.map { formatDouble($0.low, decimals: 3) + "–" + formatDouble($0.high, decimals: 3) } ?? "—" }
            let noCI = l.intervalA == nil || l.intervalB == nil
            var change = ""
            if let r = l.ratio {
                let pct = (r - 1) * 100
                change = (pct >= 0 ? "+" : "") + formatDouble(pct, decimals: 1) + "%"
            }
            switch l.verdict {
            case .regression:
                change += " REGRESSION"
                if noCI { change += " (no CI)" }
                if let sp = l.spread, sp.low <= 1, sp.high >= 1 { change += " (within the repeats' spread)" }
            case .improvement: change += " improvement" + (noCI ? " (no CI)" : "")
            case .withinNoise: change += " within noise (intervals overlap)"
            case .noBaseline: change = "no baseline (A is 0)"
            case .same: break
            }
            out += "| \(l.key) | \(l.metric) | \(l.a) | \(l.b) | \(ratio) | \(spread) | \(ci(l.intervalA)) | \(ci(l.intervalB)) | \(change) |\n"
        }
        if !o.onlyInA.isEmpty || !o.onlyInB.isEmpty { out += "\nRows without a counterpart (not compared):\n" }
        for k in o.onlyInA { out += "\nonly in A: \(k)" }
        for k in o.onlyInB { out += "\nonly in B: \(k)" }
        if !o.onlyInA.isEmpty || !o.onlyInB.isEmpty { out += "\n" }
        out += "\n\(o.regressions) regression\(o.regressions == 1 ? "" : "s") beyond ±\(formatDouble(o.threshold * 100, decimals: 1))%.\n"
        return out
    }

    public static let csvColumns = ["key", "metric", "a", "b", "ratio", "spread_low", "spread_high", "verdict",
                                    "a_ci_low", "a_ci_high", "b_ci_low", "b_ci_high"]

    public static func csv(_ o: Outcome) -> String {
        var out = CSV.row(csvColumns)
        for l in o.lines {
            out += CSV.row([l.key, l.metric, l.a, l.b, l.ratio.map { formatDouble($0, decimals: 6) } ?? "",
                            l.spread.map { formatDouble($0.low, decimals: 6) } ?? "", l.spread.map { formatDouble($0.high, decimals: 6) } ?? "",
                            l.verdict == .same ? "same" : l.verdict.rawValue,
                            l.intervalA.map { formatDouble($0.low, decimals: 6) } ?? "", l.intervalA.map { formatDouble($0.high, decimals: 6) } ?? "",
                            l.intervalB.map { formatDouble($0.low, decimals: 6) } ?? "", l.intervalB.map { formatDouble($0.high, decimals: 6) } ?? ""])
        }
        return out
    }
}

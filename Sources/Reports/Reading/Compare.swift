import OrbitCore
import Foundation

/// `orbit-bench compare A B`: each metric of each (backend, durability, phase, operation) row the two
/// runs share, as the ratio B/A with its spread across repeats, flagged when it moved more than the
/// threshold in the bad direction (regression) or the good one (improvement).
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
        case regression, improvement, same = "", noBaseline = "no baseline"
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
        public var verdict: Verdict
    }

    public struct Outcome: Sendable {
        public var lines: [Line]
        public var onlyInA: [String]
        public var onlyInB: [String]
        public var threshold: Double
        public var regressions: Int { lines.filter { $0.verdict == .regression }.count }
    }

    public static func compare(_ a: ResultsDirectory, _ b: ResultsDirectory, threshold: Double) throws -> Outcome {
        let ra = try Report.rows([a]), rb = try Report.rows([b])
        func key(_ r: Report.Row) -> String {
            "\(r.cell("backend")) (\(r.cell("durability"))) \(r.cell("phase")) \(r.cell("operation"))"
        }
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
                var verdict = Verdict.same
                if let ratio {
                    let worse = m.higherIsWorse ? ratio > 1 + threshold : ratio < 1 - threshold
                    let better = m.higherIsWorse ? ratio < 1 - threshold : ratio > 1 + threshold
                    verdict = worse ? .regression : (better ? .improvement : .same)
                } else if bn > 0 {
                    verdict = .noBaseline
                }
                lines.append(Line(key: key(x), metric: m.column, a: av, b: bv, ratio: ratio, spread: spread, verdict: verdict))
            }
        }
        let keysB = Set(rb.map(key)), keysA = Set(ra.map(key))
        return Outcome(lines: lines, onlyInA: ra.map(key).filter { !keysB.contains($0) },
                       onlyInB: rb.map(key).filter { !keysA.contains($0) }, threshold: threshold)
    }

    public static func markdown(_ o: Outcome, a: ResultsDirectory, b: ResultsDirectory) -> String {
        var out = "# orbit-bench compare\n\n"
        out += "A: `\(a.runId)` (\(a.repeatCount) repeat\(a.repeatCount == 1 ? "" : "s")); B: `\(b.runId)` (\(b.repeatCount) repeat\(b.repeatCount == 1 ? "" : "s")).\n"
        out += "Ratio B/A; spread: the lowest and highest B/A the repeats allow (B min / A max – B max / A min).\n"
        out += "Threshold ±\(formatDouble(o.threshold * 100, decimals: 1))%: higher latency or lower throughput is a regression "
            + "(still flagged, and noted, when the repeats' spread includes 1).\n\n"
        out += "| backend (durability) phase operation | metric | A | B | B/A | spread | change |\n"
        out += "|---|---|---:|---:|---:|---:|---|\n"
        for l in o.lines {
            let ratio = l.ratio.map { formatDouble($0, decimals: 3) } ?? "—"
            let spread = l.spread.map { formatDouble($0.low, decimals: 3) + "–" + formatDouble($0.high, decimals: 3) } ?? "—"
            var change = ""
            if let r = l.ratio {
                let pct = (r - 1) * 100
                change = (pct >= 0 ? "+" : "") + formatDouble(pct, decimals: 1) + "%"
            }
            switch l.verdict {
            case .regression:
                change += " REGRESSION"
                if let sp = l.spread, sp.low <= 1, sp.high >= 1 { change += " (within the repeats' spread)" }
            case .improvement: change += " improvement"
            case .noBaseline: change = "no baseline (A is 0)"
            case .same: break
            }
            out += "| \(l.key) | \(l.metric) | \(l.a) | \(l.b) | \(ratio) | \(spread) | \(change) |\n"
        }
        for k in o.onlyInA { out += "\nonly in A: \(k)" }
        for k in o.onlyInB { out += "\nonly in B: \(k)" }
        if !o.onlyInA.isEmpty || !o.onlyInB.isEmpty { out += "\n" }
        out += "\n\(o.regressions) regression\(o.regressions == 1 ? "" : "s") beyond ±\(formatDouble(o.threshold * 100, decimals: 1))%.\n"
        return out
    }

    public static let csvColumns = ["key", "metric", "a", "b", "ratio", "spread_low", "spread_high", "verdict"]

    public static func csv(_ o: Outcome) -> String {
        var out = CSV.row(csvColumns)
        for l in o.lines {
            out += CSV.row([l.key, l.metric, l.a, l.b, l.ratio.map { formatDouble($0, decimals: 6) } ?? "",
                            l.spread.map { formatDouble($0.low, decimals: 6) } ?? "", l.spread.map { formatDouble($0.high, decimals: 6) } ?? "",
                            l.verdict == .same ? "same" : l.verdict.rawValue])
        }
        return out
    }
}

import OrbitCore
import Foundation

/// `orbit-bench report`: one comparison table across results directories and their backends, as
/// Markdown (a table per phase and operation type) and as CSV (one row per run, backend, phase and
/// operation). Figures are copied from each summary.csv unchanged (medians when the run had repeats).
public enum Report {
    public static let csvColumns = [
        "run_id", "workload", "backend", "durability", "phase", "operation", "repeats", "count", "ops_per_s",
        "ops_per_s_min", "ops_per_s_max", "micros_per_op", "p50_us", "p99_us", "p99_us_min", "p99_us_max", "p999_us",
        "max_us", "errors",
    ]

    /// One summary.csv row with its run.
    public struct Row: Sendable {
        public var runId: String
        public var cells: [String: String]
        public func cell(_ c: String) -> String { cells[c] ?? "" }
        /// A figure with its (min–max) over the repeats, where the row has repeats.
        public func withRange(_ c: String) -> String {
            let lo = cell(c + "_min"), hi = cell(c + "_max")
            guard (Int(cell("repeats")) ?? 1) > 1, !lo.isEmpty, !hi.isEmpty else { return cell(c) }
            return "\(cell(c)) (\(lo)–\(hi))"
        }
    }

    /// The rows by phase and operation, in first-seen order, with the best ops/s of each group.
    public static func groups(_ rows: [Row]) -> [(phase: String, operation: String, members: [Row], bestOpsPerSecond: Double)] {
        var keys: [(phase: String, op: String)] = []
        for r in rows where !keys.contains(where: { $0.phase == r.cell("phase") && $0.op == r.cell("operation") }) {
            keys.append((r.cell("phase"), r.cell("operation")))
        }
        return keys.map { k in
            let members = rows.filter { $0.cell("phase") == k.phase && $0.cell("operation") == k.op }
            return (k.phase, k.op, members, members.compactMap { Double($0.cell("ops_per_s")) }.max() ?? 0)
        }
    }

    public static func rows(_ runs: [ResultsDirectory]) throws -> [Row] {
        var out: [Row] = []
        for r in runs {
            guard let s = r.summary else {
                throw OrbitError(.invalidArgument, "no summary.csv in the results directory", at: r.path,
                                 hint: "report compares `orbit-bench run` results")
            }
            for i in s.rows.indices {
                var cells: [String: String] = [:]
                for (c, v) in zip(s.header, s.rows[i]) { cells[c] = v }
                cells["run_id"] = r.runId
                if cells["repeats"] == nil { cells["repeats"] = "1" }
                out.append(Row(runId: r.runId, cells: cells))
            }
        }
        return out
    }

    public static func csv(_ rows: [Row]) -> String {
        var out = CSV.row(csvColumns)
        for r in rows { out += CSV.row(csvColumns.map { r.cell($0) }) }
        return out
    }

    public static func markdown(_ rows: [Row], runs: [ResultsDirectory]) -> String {
        var out = "# orbit-bench report\n\n"
        out += "Runs: " + runs.map { "`\($0.runId)`" + ($0.workload.isEmpty ? "" : " (workload \($0.workload))") }.joined(separator: ", ") + ".\n"
        out += "Figures from each run's summary.csv (medians over its repeats where it had repeats; the range is min–max).\n"
        out += "`vs best`: ops/s as a fraction of the fastest row of the table.\n"
        for (phase, op, members, best) in groups(rows) {
            out += "\n## \(phase): \(op)\n\n"
            out += "| run | backend | durability | repeats | count | ops/s | vs best | µs/op | p50 µs | p99 µs | p99.9 µs | max µs | errors |\n"
            out += "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            for r in members {
                let range = r.withRange
                let ops = Double(r.cell("ops_per_s")) ?? 0
                let vs = best > 0 ? formatDouble(ops / best, decimals: 2) + "×" : ""
                out += "| \(r.runId) | \(r.cell("backend")) | \(r.cell("durability")) | \(r.cell("repeats")) | \(r.cell("count")) | "
                    + "\(range("ops_per_s")) | \(vs) | \(r.cell("micros_per_op")) | \(range("p50_us")) | \(range("p99_us")) | "
                    + "\(range("p999_us")) | \(r.cell("max_us")) | \(r.cell("errors")) |\n"
            }
        }
        return out
    }
}

public import OrbitCore
public import Workloads
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Evaluates alert thresholds (`Workloads.Thresholds`) against a results directory: one row per
/// backend and threshold, the value measured, and whether it breaches the limit. A value the run did
/// not record (no read operations, an engine without a compaction backlog) is "n/a" and no breach.
public enum ThresholdCheck {
    public struct Row: Sendable, Equatable {
        public var backend: String
        public var metric: Thresholds.Metric
        public var limit: Double
        /// nil: the run recorded nothing to compare.
        public var value: Double?
        /// Where the value comes from ("get", "insert": the worst operation; "cgroup peak").
        public var basis: String
        public var breached: Bool { value.map { $0 > limit } ?? false }
    }

    /// Operations whose latency `write_latency_p95` covers; `read_latency_p95` covers `get`.
    public static let writeOperations: Set<String> = [
        OperationType.insert.name, OperationType.update.name, OperationType.delete.name, OperationType.readModifyWrite.name,
        OperationType.batch.name, OperationType.load.name,
    ]
    public static let readOperations: Set<String> = [OperationType.get.name]

    public static func evaluate(_ results: ResultsDirectory, _ thresholds: Thresholds) throws -> [Row] {
        let json = summaryJSON(results.path)
        var rows: [Row] = []
        for backend in results.backends {
            for (metric, limit) in thresholds.limits {
                let (value, basis) = try measure(metric, backend, results, json)
                rows.append(Row(backend: backend, metric: metric, limit: limit, value: value, basis: basis))
            }
        }
        return rows
    }

    static func summaryJSON(_ dir: String) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: dir + "/summary.json"),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return root
    }

    static func backendJSON(_ json: [String: Any], _ backend: String) -> [String: Any] {
        ((json["backends"] as? [[String: Any]]) ?? []).first { $0["backend"] as? String == backend } ?? [:]
    }

    static func number(_ any: Any?) -> Double? {
        if let n = any as? NSNumber { return n.doubleValue }
        return nil
    }

    static func measure(_ metric: Thresholds.Metric, _ backend: String, _ r: ResultsDirectory,
                        _ json: [String: Any]) throws -> (Double?, String) {
        switch metric {
        case .writeLatencyP95, .readLatencyP95:
            let ops = metric == .writeLatencyP95 ? writeOperations : readOperations
            var worst: (Double, String)?
            for h in r.histograms where h.backend == backend && !h.intended && ops.contains(h.operation) {
                guard let p = try p95Micros(h.path) else { continue }
                if worst == nil || p > worst!.0 { worst = (p, h.operation) }
            }
            return (worst?.0, worst.map { "p95 of \($0.1)" } ?? "no such operation")
        case .errorRate:
            guard let s = r.summary else { return (nil, "no summary.csv") }
            var count = 0.0, errors = 0.0
            for i in s.rows.indices where try s.string(i, "backend") == backend {
                count += try s.number(i, "count") ?? 0
                if s.has("errors") { errors += try s.number(i, "errors") ?? 0 }
            }
            return count > 0 ? (errors / count, "\(Int(errors)) of \(Int(count)) operations") : (nil, "no operations")
        case .memoryUsage:
            let b = backendJSON(json, backend)
            if let m = b["memory_regime"] as? [String: Any], let peak = number(m["peak_bytes"]), let limit = number(m["limit_bytes"]), limit > 0 {
                return (peak / limit, "cgroup peak ÷ memory_limit_mb")
            }
            let env = json["environment"] as? [String: Any] ?? [:]
            if let heap = number(b["peak_process_heap_bytes"]), let total = number(env["memory_bytes"]), total > 0 {
                return (heap / total, "peak heap ÷ machine memory")
            }
            return (nil, "no memory figures in summary.json")
        case .diskUsage:
            guard let dir = backendJSON(json, backend)["data_dir"] as? String, let usage = fileSystemUsage(dir) else {
                return (nil, "no data_dir on this machine")
            }
            return (usage, "file system of data_dir, now")
        case .compactionBacklog:
            guard let s = r.stats, s.has("compaction_backlog") else { return (nil, "no stats.csv") }
            var worst: Double?
            for i in s.rows.indices where try s.string(i, "backend") == backend {
                if let v = try s.number(i, "compaction_backlog") { worst = max(worst ?? v, v) }
            }
            return (worst, worst == nil ? "not reported by the engine" : "largest in stats.csv")
        }
    }

    /// The 95th percentile (µs) of an .hgrm percentile distribution: the first row at or above 0.95.
    static func p95Micros(_ path: String) throws -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let cols = line.split(separator: " ", omittingEmptySubsequences: true)
            guard cols.count >= 3, let value = Double(cols[0]), let p = Double(cols[1]) else { continue }
            if p >= 0.95 { return value }
        }
        return nil
    }

    /// Used ÷ (used + available) of the file system holding `path` (or its nearest existing ancestor), as df.
    static func fileSystemUsage(_ path: String) -> Double? {
        var p = path
        while !FileManager.default.fileExists(atPath: p) {
            let parent = parentDirectory(of: p)
            if parent == p { return nil }
            p = parent
        }
        var st = statvfs()
        guard statvfs(p, &st) == 0 else { return nil }
        let used = Double(st.f_blocks - st.f_bfree), avail = Double(st.f_bavail)
        return used + avail > 0 ? used / (used + avail) : nil
    }

    /// The table `check` prints, then one line per breach.
    public static func render(_ rows: [Row]) -> String {
        var lines = [["backend", "threshold", "limit", "value", "status", "basis"]]
        for r in rows {
            lines.append([r.backend, r.metric.rawValue, r.metric.format(r.limit), r.value.map(r.metric.format) ?? "n/a",
                          r.value == nil ? "n/a" : r.breached ? "BREACH" : "ok", r.basis])
        }
        let widths = (0..<6).map { c in lines.map { $0[c].count }.max()! }
        var out = ""
        for l in lines {
            out += zip(l, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .replacing(/\s+$/, with: "") + "\n"
        }
        let breaches = rows.filter(\.breached)
        if breaches.isEmpty {
            out += "thresholds: all \(rows.count) checks within their limits\n"
        } else {
            out += "thresholds: \(breaches.count) breached:\n"
            for b in breaches {
                out += "  \(b.backend) \(b.metric.rawValue) = \(b.metric.format(b.value!)) > \(b.metric.format(b.limit)) (\(b.basis))\n"
            }
        }
        return out
    }
}

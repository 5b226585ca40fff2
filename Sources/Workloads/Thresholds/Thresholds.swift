public import OrbitCore
import Foundation
import Yams

/// Alert thresholds (issue 20 item 4; the origin's recommended values): limits a run's results must
/// stay within. `orbit-bench check RESULTS --thresholds FILE` evaluates them against a results
/// directory; a workload's `thresholds:` section (knobs `thresholds.<metric>`) makes `run` do the same.
///
/// Values are written with their unit, so nothing is ambiguous: latencies as durations (`100ms`,
/// `250us`, `1.5s`, `800ns`), rates and usages as percentages (`0.1%`, `80%`), the compaction backlog
/// as a count (`10`). Internally: microseconds, fractions (0.001 for 0.1%) and counts.
public struct Thresholds: Sendable, Equatable {
    public enum Metric: String, Sendable, CaseIterable {
        /// p95 of the write operations' latency (insert, update, delete, read_modify_write, batch, load).
        case writeLatencyP95 = "write_latency_p95"
        /// p95 of the read operations' latency (get).
        case readLatencyP95 = "read_latency_p95"
        /// Failed operations ÷ all operations, per backend.
        case errorRate = "error_rate"
        /// Peak memory ÷ the memory available: the cgroup's peak charge ÷ memory_limit_mb when the run
        /// had one, else the peak process heap ÷ the machine's memory.
        case memoryUsage = "memory_usage"
        /// How full the file system holding the backend's data_dir is (at the time of the check).
        case diskUsage = "disk_usage"
        /// The largest compaction backlog the engine reported during the run (stats.csv).
        case compactionBacklog = "compaction_backlog"

        public enum Unit: Sendable { case duration, percentage, count }

        public var unit: Unit {
            switch self {
            case .writeLatencyP95, .readLatencyP95: .duration
            case .errorRate, .memoryUsage, .diskUsage: .percentage
            case .compactionBacklog: .count
            }
        }

        /// What a value must look like (for errors and `list`).
        public var allowed: String {
            switch unit {
            case .duration: "a duration with its unit, e.g. 100ms, 250us, 1.5s"
            case .percentage: "a percentage in 0%...100%, e.g. 0.1%, 80%"
            case .count: "a non-negative integer, e.g. 10"
            }
        }

        /// Formats a value in this metric's canonical unit as it is written.
        public func format(_ v: Double) -> String {
            switch unit {
            case .duration: v >= 1000 ? formatDouble(v / 1000, decimals: 3) + "ms" : formatDouble(v, decimals: 3) + "us"
            case .percentage: formatDouble(v * 100, decimals: 4) + "%"
            case .count: formatDouble(v, decimals: 0)
            }
        }

        /// Parses a value as written ("100ms", "0.1%", "10") into the canonical unit; nil if malformed.
        public func parse(_ text: String) -> Double? {
            let t = text.trimmingCharacters(in: .whitespaces)
            func number(_ s: Substring) -> Double? {
                let trimmed = s.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isNumber || $0 == "." }), let v = Double(trimmed), v.isFinite, v >= 0 else { return nil }
                return v
            }
            switch unit {
            case .duration:
                for (suffix, scale) in [("ns", 0.001), ("us", 1.0), ("µs", 1.0), ("ms", 1000.0), ("s", 1_000_000.0)] where t.hasSuffix(suffix) {
                    return number(t.dropLast(suffix.count)).map { $0 * scale }
                }
                return nil
            case .percentage:
                guard t.hasSuffix("%"), let v = number(t.dropLast()), v <= 100 else { return nil }
                return v / 100
            case .count:
                return UInt64(t).map(Double.init)
            }
        }
    }

    /// The limits set, in `Metric.allCases` order.
    public var limits: [(metric: Metric, limit: Double)]

    public init(limits: [(metric: Metric, limit: Double)] = []) {
        self.limits = Metric.allCases.compactMap { m in limits.last(where: { $0.metric == m }) }
    }

    public var isEmpty: Bool { limits.isEmpty }

    public static func == (a: Thresholds, b: Thresholds) -> Bool {
        a.limits.map(\.metric) == b.limits.map(\.metric) && a.limits.map(\.limit) == b.limits.map(\.limit)
    }

    /// The origin's recommended thresholds, the default of `orbit-bench check`.
    public static let recommended: Thresholds = {
        let written: [(Metric, String)] = [
            (.writeLatencyP95, "100ms"), (.readLatencyP95, "10ms"), (.errorRate, "0.1%"),
            (.memoryUsage, "80%"), (.diskUsage, "85%"), (.compactionBacklog, "10"),
        ]
        return Thresholds(limits: written.map { (metric: $0.0, limit: $0.0.parse($0.1)!) })
    }()

    /// The same as YAML, as a thresholds file is written.
    public static let recommendedYAML = """
        # The origin's recommended alert thresholds (orbit-bench check's default).
        write_latency_p95: 100ms
        read_latency_p95: 10ms
        error_rate: 0.1%
        memory_usage: 80%
        disk_usage: 85%
        compaction_backlog: 10

        """

    // MARK: Knobs (a workload's `thresholds:` section)

    /// `thresholds.<metric>` knobs: empty (the default) sets no limit.
    public static let knobs: [Knob] = Metric.allCases.map { m in
        Knob("thresholds." + m.rawValue, key: m.rawValue, env: "ORBIT_THRESHOLDS_" + m.rawValue.uppercased(), kind: .string,
             default: .string(""), help: "alert threshold: the run fails (exit status 1) when \(m.rawValue) exceeds it (empty: none)",
             constraint: KnobConstraint(allowed: m.allowed + " (or empty: no limit)") { v in
                 guard case .string(let s) = v else { return false }
                 return s.isEmpty || m.parse(s) != nil
             })
    }

    /// The thresholds a workload set (its `thresholds.*` knobs).
    public static func from(settings: Settings) -> Thresholds {
        Thresholds(limits: Metric.allCases.compactMap { m in
            let s = settings.string("thresholds." + m.rawValue)
            return m.parse(s).map { (m, $0) }
        })
    }

    // MARK: Files

    /// Reads a thresholds file: a YAML mapping of `metric: value` (optionally under a top-level
    /// `thresholds:` key, so a workload file's section can be used as it is). Errors name
    /// file:line:column and what is allowed (`.invalidWorkload`, exit status 2).
    public static func load(path: String) throws -> Thresholds {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw OrbitError(.invalidArgument, "cannot read the thresholds file", at: path, hint: "give a YAML file of `metric: value` lines")
        }
        return try parse(yaml: text, path: path)
    }

    public static func parse(yaml: String, path: String) throws -> Thresholds {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let e as YamlError { throw WorkloadFile.yamlError(e, path) }
        guard let root else { throw OrbitError(.invalidWorkload, "the thresholds file is empty", at: "\(path):1:1", hint: "e.g. read_latency_p95: 10ms") }
        guard case .mapping(var top) = root else {
            throw OrbitError(.invalidWorkload, "a thresholds file must be a mapping of metric: value, found \(WorkloadFile.kindName(root))",
                             at: WorkloadFile.loc(path, root), hint: "e.g. read_latency_p95: 10ms")
        }
        if top.count == 1, let (k, v) = top.first, case .scalar(let ks) = k, ks.string == "thresholds" {
            guard case .mapping(let inner) = v else {
                throw OrbitError(.invalidWorkload, "'thresholds' must be a mapping of metric: value, found \(WorkloadFile.kindName(v))",
                                 at: WorkloadFile.loc(path, v))
            }
            top = inner
        }
        var limits: [(metric: Metric, limit: Double)] = []
        var seen = Set<String>()
        for (keyNode, value) in top {
            let key = try WorkloadFile.keyString(keyNode, path)
            guard let metric = Metric(rawValue: key) else {
                throw OrbitError(.invalidWorkload, "unknown threshold '\(key)'", at: WorkloadFile.loc(path, keyNode),
                                 hint: "allowed: " + Metric.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard seen.insert(key).inserted else {
                throw OrbitError(.invalidWorkload, "threshold '\(key)' appears twice", at: WorkloadFile.loc(path, keyNode))
            }
            guard case .scalar(let sc) = value, let v = metric.parse(sc.string) else {
                throw OrbitError(.invalidWorkload, "bad value \(WorkloadFile.kindName(value)) for '\(key)'", at: WorkloadFile.loc(path, value),
                                 hint: "allowed: " + metric.allowed)
            }
            limits.append((metric, v))
        }
        return Thresholds(limits: limits)
    }
}

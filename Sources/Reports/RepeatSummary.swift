public import Runner
import OrbitCore

/// summary.csv's figures of one backend, phase and operation across the measured repeats of a run:
/// the median of each figure, and its min and max. A single run is one repeat (median = min = max).
public struct SummaryRow: Sendable {
    /// The figures of summary.csv, in its column order (after backend, workload, durability, operation).
    public enum Figure: Int, CaseIterable, Sendable, Hashable {
        case count, microsPerOp, opsPerSecond, mbPerSecond, p50, p75, p99, p999, p9999, max
        case errors, notFound, intendedP50, intendedP99, intendedP999, intendedMax
        case netBytesSent, netBytesReceived
    }

    public var backend: String
    public var durability: String
    public var phase: String
    public var operation: String
    /// How many repeats had this row (an operation type can be absent from a repeat, e.g. no deletes drawn).
    public var repeats: Int
    public var median: [Double]
    public var min: [Double]
    public var max: [Double]
    /// The 95% bootstrap confidence interval of the median of each figure in `Figure.withInterval`
    /// (nil with fewer than two repeats).
    public var interval: [Figure: Bootstrap.Interval] = [:]

    /// The figures summary.csv gives a confidence interval for, in its column order.
    public static let intervalFigures: [(figure: Figure, column: String)] = [
        (.opsPerSecond, "ops_per_s"), (.microsPerOp, "micros_per_op"), (.p50, "p50_us"), (.p99, "p99_us"), (.p999, "p999_us"),
    ]

    public func median(_ f: Figure) -> Double { median[f.rawValue] }
    public func min(_ f: Figure) -> Double { min[f.rawValue] }
    public func max(_ f: Figure) -> Double { max[f.rawValue] }

    /// The figures of one operation summary, indexed by `Figure`.
    static func figures(_ op: OperationSummary) -> [Double] {
        [
            Double(op.count), op.microsPerOp, op.opsPerSecond, op.mbPerSecond,
            op.percentileMicros(50), op.percentileMicros(75), op.percentileMicros(99), op.percentileMicros(99.9),
            op.percentileMicros(99.99), op.maxMicros, Double(op.errors), Double(op.notFound),
            Double(op.intended.valueAtPercentile(50)) / 1000, Double(op.intended.valueAtPercentile(99)) / 1000,
            Double(op.intended.valueAtPercentile(99.9)) / 1000, Double(op.intended.max) / 1000,
            Double(op.netBytesSent), Double(op.netBytesReceived),
        ]
    }

    /// The rows of a run: per backend (in run order), phase and operation (in the order the first repeat
    /// that has them lists them), medians over `result.repeats` (or the single run).
    public static func rows(_ result: RunResult) -> [SummaryRow] {
        let repeats: [[BackendRun]] = result.repeats.count > 1 ? result.repeats.map(\.backends) : [result.backends]
        var out: [SummaryRow] = []
        for (i, b) in result.backends.enumerated() {
            var keys: [(phase: String, op: OperationType)] = []
            for rep in repeats where i < rep.count {
                for op in rep[i].operations where !keys.contains(where: { $0.phase == op.phase && $0.op == op.operation }) {
                    keys.append((op.phase, op.operation))
                }
            }
            for key in keys {
                let samples = repeats.compactMap { rep -> [Double]? in
                    guard i < rep.count else { return nil }
                    return rep[i].operations.first { $0.phase == key.phase && $0.operation == key.op }.map(figures)
                }
                let n = Figure.allCases.count
                var row = SummaryRow(
                    backend: b.backend, durability: b.durability.description, phase: key.phase, operation: key.op.name,
                    repeats: samples.count,
                    median: (0..<n).map { f in Self.median(samples.map { $0[f] }) },
                    min: (0..<n).map { f in samples.map { $0[f] }.min() ?? 0 },
                    max: (0..<n).map { f in samples.map { $0[f] }.max() ?? 0 })
                for (f, column) in intervalFigures {
                    let seed = Bootstrap.seed(result.workload.seed, "\(b.backend) \(key.phase) \(key.op.name) \(column)")
                    row.interval[f] = Bootstrap.medianInterval(samples.map { $0[f.rawValue] }, seed: seed)
                }
                out.append(row)
            }
        }
        return out
    }

    /// The median (the mean of the two middle values for an even count).
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// Picking the repeat that stands for a backend in the files that cannot be medians (hgrm, timeseries,
/// stats, metrics, interval CSVs): the one whose run-phase mean latency is the median.
public enum Representative {
    /// Mean service time of the backend's run phase (the load phase when there is no run phase), ns.
    public static func meanLatency(_ b: BackendRun) -> Double {
        let run = b.operations.filter { $0.phase != "load" }
        let ops = run.isEmpty ? b.operations : run
        let n = ops.reduce(0) { $0 + $1.count }
        return n == 0 ? 0 : Double(ops.reduce(0) { $0 + $1.latencySumNanos }) / Double(n)
    }

    /// Index into `runs` of the median run (the lower middle one for an even count).
    public static func medianIndex(_ runs: [BackendRun]) -> Int {
        let order = runs.indices.sorted { meanLatency(runs[$0]) < meanLatency(runs[$1]) }
        return order[(order.count - 1) / 2]
    }
}

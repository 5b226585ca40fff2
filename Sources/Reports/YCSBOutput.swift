public import Runner
import OrbitCore

/// YCSB's end-of-run lines, so scripts that parse YCSB output read ours:
///
/// ```
/// [OVERALL], RunTime(ms), 10110
/// [OVERALL], Throughput(ops/sec), 98.91
/// [READ], Operations, 511
/// [READ], AverageLatency(us), 17.7
/// [READ], MinLatency(us), 5
/// [READ], MaxLatency(us), 2045
/// [READ], 95thPercentileLatency(us), 28
/// [READ], 99thPercentileLatency(us), 46
/// [READ], Return=OK, 511
/// ```
///
/// For the run phase (the load phase when the run phase did not run, as `orbit-bench load`), one block
/// per backend. `measurement_interval` (YCSB's measurement.interval) picks service times (`op`, the
/// `[READ]` lines), intended latencies (`intended`, `[Intended-READ]`) or both.
public enum YCSBOutput {
    public static func render(_ b: BackendRun, measurementInterval: String) -> String {
        let runOps = b.operations.filter { $0.phase != "load" }
        let ops = runOps.isEmpty ? b.operations.filter { $0.phase == "load" } : runOps
        let seconds = runOps.isEmpty ? b.loadSeconds : b.runSeconds
        let total = ops.reduce(0) { $0 + $1.count + $1.errors }
        var out = "[OVERALL], RunTime(ms), \(Int((seconds * 1000).rounded()))\n"
        out += "[OVERALL], Throughput(ops/sec), \(number(seconds > 0 ? Double(total) / seconds : 0))\n"
        for op in ops {
            let name = YCSBNames.name(op.operation)
            if measurementInterval != "intended" {
                out += block(name, op.histogram, mean: op.microsPerOp, count: op.count)
                if op.count > op.notFound { out += "[\(name)], Return=OK, \(op.count - op.notFound)\n" }
                if op.notFound > 0 { out += "[\(name)], Return=NOT_FOUND, \(op.notFound)\n" }
                if op.errors > 0 { out += "[\(name)], Return=ERROR, \(op.errors)\n" }
            }
            if measurementInterval != "op" {
                let h = op.intended
                out += block("Intended-" + name, h, mean: h.mean / 1000, count: op.count)
            }
        }
        return out
    }

    static func block(_ name: String, _ h: LatencyHistogram, mean: Double, count: UInt64) -> String {
        func us(_ nanos: UInt64) -> String { String(nanos / 1000) }
        var s = "[\(name)], Operations, \(count)\n"
        s += "[\(name)], AverageLatency(us), \(number(mean))\n"
        s += "[\(name)], MinLatency(us), \(us(h.min))\n"
        s += "[\(name)], MaxLatency(us), \(us(h.max))\n"
        s += "[\(name)], 95thPercentileLatency(us), \(us(h.valueAtPercentile(95)))\n"
        s += "[\(name)], 99thPercentileLatency(us), \(us(h.valueAtPercentile(99)))\n"
        return s
    }

    /// Java's Double.toString-like form for these figures: at most 3 decimals, no trailing zeros, ".0" kept.
    static func number(_ v: Double) -> String {
        var s = formatDouble(v, decimals: 3)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s += "0" }
        } else {
            s += ".0"
        }
        return s
    }
}

import Foundation
import OrbitCore

/// Progress reporting on standard error: on a terminal a line redrawn every second, otherwise a plain
/// line every 10 seconds (so CI logs stay readable).
final class StatusLine: @unchecked Sendable {
    let isTerminal: Bool
    let enabled: Bool
    var lastPrintNanos: UInt64 = 0
    var lastOps = 0
    var lastNanos: UInt64 = 0
    var printedLive = false
    var phaseStart: UInt64 = 0
    /// YCSB-style lines (one per period, never redrawn), showing this measurement.interval
    /// (op, intended, both); nil: orbit-bench's own line.
    let ycsb: String?
    let configuredPeriod: Double

    /// `periodSeconds` 0: 1 s on a terminal, 10 s otherwise.
    init(enabled: Bool, periodSeconds: Double = 0, ycsb: String? = nil) {
        self.enabled = enabled
        self.ycsb = ycsb
        configuredPeriod = periodSeconds
        isTerminal = isatty(STDERR_FILENO) == 1 && ycsb == nil
    }

    var periodNanos: UInt64 {
        configuredPeriod > 0 ? UInt64(configuredPeriod * 1e9) : (isTerminal ? 1_000_000_000 : 10_000_000_000)
    }

    /// Called from the monitor thread; prints when a period has passed.
    func update(label: String, done: Int, total: Int?, now: UInt64, start: UInt64, latest: IntervalSummary?,
                byOperation: [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)] = [],
                schedule: (target: Double, figures: ScheduleFigures)? = nil) {
        guard enabled else { return }
        if start != phaseStart {
            // A new phase: restart the rate and wait a full period before the first line.
            phaseStart = start
            lastNanos = start
            lastOps = 0
            lastPrintNanos = start
        }
        guard now - lastPrintNanos >= periodNanos else { return }
        let dt = Double(now - lastNanos) / 1e9
        let rate = dt > 0 ? Double(done - lastOps) / dt : 0
        lastOps = done
        lastNanos = now
        lastPrintNanos = now
        if let mode = ycsb {
            FileHandle.standardError.write(Data((ycsbLine(label: label, done: done, total: total, rate: rate,
                                                          elapsed: Double(now - start) / 1e9, mode: mode, byOperation) + "\n").utf8))
            return
        }
        var s = "[\(label)] \(done) ops  \(Int(rate)) ops/s"
        if let l = latest, l.count > 0 {
            s += "  p50 \(us(l.p50))  p99 \(us(l.p99))"
        }
        if let sc = schedule, sc.target > 0, label.hasSuffix(" run") {
            let (target, f) = (sc.target, sc.figures)
            // Open loop: the target beside the achieved rate, and how the schedule is kept.
            s += "  target \(Int(target)) ops/s  lag \(formatDouble(Double(f.lagNanos) / 1e6, decimals: 1))ms  late \(f.lateOps)  backlog \(f.backlogOps)"
        }
        if let total, total > 0, rate > 0 {
            let eta = Double(max(0, total - done)) / rate
            s += "  ETA \(Int(eta.rounded()))s"
        }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + s).utf8))
            printedLive = true
        } else {
            FileHandle.standardError.write(Data((s + "\n").utf8))
        }
    }

    /// YCSB's status line: `2026-11-23 07:10:00:123 10 sec: 12345 operations; 1234.5 current ops/sec;
    /// est completion in 5 seconds [READ: Count=.., Max=.., Min=.., Avg=.., 90=.., 99=.., 99.9=.., 99.99=..]`
    /// (latencies in µs, of the last interval).
    func ycsbLine(label: String, done: Int, total: Int?, rate: Double, elapsed: Double, mode: String,
                  _ ops: [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)]) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss:SSS"
        var s = "\(f.string(from: Date())) \(Int(elapsed)) sec: \(done) operations; \(formatDouble(rate, decimals: 1)) current ops/sec;"
        if let total, total > 0, rate > 0 {
            s += " est completion in \(Int((Double(max(0, total - done)) / rate).rounded())) seconds"
        }
        for (op, service, intended) in ops {
            let name = YCSBNames.name(op)
            func part(_ prefix: String, _ h: IntervalSummary) -> String {
                func u(_ v: UInt64) -> String { String(v / 1000) }
                return " [\(prefix)\(name): Count=\(h.count), Max=\(u(h.max)), Min=\(u(h.min)), Avg=\(formatDouble(h.mean / 1000, decimals: 2)), "
                    + "90=\(u(h.p90)), 99=\(u(h.p99)), 99.9=\(u(h.p999)), 99.99=\(u(h.p9999))]"
            }
            if mode != "intended" { s += part("", service) }
            if mode != "op" { s += part("Intended-", intended ?? service) }
        }
        return s
    }

    func finish() {
        if printedLive {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            printedLive = false
        }
    }

    func us(_ nanos: UInt64) -> String {
        let v = Double(nanos) / 1000
        return v < 10 ? formatDouble(v, decimals: 2) + "µs" : formatDouble(v.rounded(), decimals: 0) + "µs"
    }
}

/// YCSB's names of operations in its output (`[READ]`, `[READ-MODIFY-WRITE]`).
public enum YCSBNames {
    public static func name(_ op: OperationType) -> String {
        switch op {
        case .get: "READ"
        case .update: "UPDATE"
        case .insert, .load: "INSERT"
        case .delete: "DELETE"
        case .rangeQuery: "SCAN"
        case .readModifyWrite: "READ-MODIFY-WRITE"
        default: op.name.uppercased()
        }
    }
}

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

    init(enabled: Bool) {
        self.enabled = enabled
        isTerminal = isatty(STDERR_FILENO) == 1
    }

    var periodNanos: UInt64 { isTerminal ? 1_000_000_000 : 10_000_000_000 }

    /// Called from the monitor thread; prints when a period has passed.
    func update(label: String, done: Int, total: Int?, now: UInt64, start: UInt64, latest: IntervalSummary?) {
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
        var s = "[\(label)] \(done) ops  \(Int(rate)) ops/s"
        if let l = latest, l.count > 0 {
            s += "  p50 \(us(l.p50))  p99 \(us(l.p99))"
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

#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import Runner

/// Reads a reopened store back and compares it with what was written.
struct ReadBack: EngineBody {
    let expected: [[UInt8]: [UInt8]?]
    let recent: [(key: [UInt8], before: [UInt8]?, after: [UInt8]?)]
    /// Whether the flipped byte lies in the final record of a log (see `CorruptionProbe.Outcome.tail`).
    let inLastRecord: Bool

    func run<E: StorageEngine>(_ engine: E) throws -> (CorruptionProbe.Outcome, String) {
        var observed: [[UInt8]: [UInt8]] = [:]
        for key in expected.keys {
            if let v = try engine.get(key) { observed[key] = v }
        }
        var scanned: [[UInt8]: [UInt8]] = [:]
        var order = true
        var previous: [UInt8]? = nil
        var scanCount = 0
        try engine.scan(from: nil, to: nil, limit: 0) { k, v in
            let key = [UInt8](k)
            if let p = previous, compareBytes(p, key) >= 0 { order = false }
            previous = key
            scanned[key] = [UInt8](v)
            scanCount += 1
            return true
        }
        return classify(observed: observed, scanned: scanned, scanCount: scanCount, ordered: order)
    }

    func classify(observed: [[UInt8]: [UInt8]], scanned: [[UInt8]: [UInt8]], scanCount: Int,
                  ordered: Bool) -> (CorruptionProbe.Outcome, String) {
        func differences(_ state: [[UInt8]: [UInt8]?]) -> (wrong: Int, missing: Int, resurrected: Int, example: String) {
            var wrong = 0, missing = 0, resurrected = 0
            var example = ""
            for (k, want) in state {
                let got = observed[k]
                switch (want, got) {
                case (nil, nil): continue
                case (nil, _?): resurrected += 1
                case (_?, nil): missing += 1
                case (let w?, let g?): if w == g { continue }; wrong += 1
                }
                if example.isEmpty { example = " e.g. " + String(decoding: k, as: UTF8.self) }
            }
            return (wrong, missing, resurrected, example)
        }
        let d = differences(expected)
        let scanMatches = scanned == observed && scanCount == observed.count && ordered
        let extra = scanned.keys.filter { expected[$0] == nil }.count
        if d.wrong == 0 && d.missing == 0 && d.resurrected == 0 && scanMatches {
            return (.correct, "")
        }
        if inLastRecord && scanMatches {
            // A prefix of the history without its last j writes?
            var state = expected
            for (j, w) in recent.reversed().enumerated() {
                state[w.key] = .some(w.before)
                let p = differences(state)
                if p.wrong == 0 && p.missing == 0 && p.resurrected == 0 {
                    return (.tail, "recovered without the last \(j + 1) write(s), as after a torn final append")
                }
            }
        }
        var detail = "wrong=\(d.wrong) missing=\(d.missing) resurrected=\(d.resurrected)"
        if !scanMatches { detail += " scan-mismatch(count=\(scanCount) extra=\(extra) ordered=\(ordered))" }
        return (.silent, detail + d.example)
    }
}

/// Runs one probe's check in a child process, so a trap or a fault in an engine reading a corrupt
/// store is recorded as a `crash` instead of ending the sweep.
enum ProbeIsolation {
    #if canImport(Glibc)
    private final class Job: @unchecked Sendable {
        let body: () -> (CorruptionProbe.Outcome, String)
        var result: (CorruptionProbe.Outcome, String) = (.crash, "the check's thread did not finish")
        init(_ body: @escaping () -> (CorruptionProbe.Outcome, String)) { self.body = body }
    }

    /// Runs `body` on a thread created in the forked child. The thread that called fork(2) keeps the
    /// parent's thread-local state (Swift's `Mutex`, which the engines used before OrbitCore's
    /// `Lock`, cached a thread id there for its futex: a lock taken from it named a thread that does
    /// not exist in the child, and the next contender trapped — an engine's background thread did,
    /// in 4 of 107 probes under load); a thread born in the child starts clean.
    static func onThreadBornInChild(_ body: () -> (CorruptionProbe.Outcome, String)) -> (CorruptionProbe.Outcome, String) {
        withoutActuallyEscaping(body) { body in
            let job = Job(body)
            do {
                let thread = try OrbitThread(name: "probe-check") { job.result = job.body() }
                thread.join()
            } catch {
                return (.crash, "could not start the check's thread (\(error))")
            }
            return job.result
        }
    }
    #endif

    static func run(timeoutSeconds: Int, isolate: Bool,
                    _ body: () -> (CorruptionProbe.Outcome, String)) -> (CorruptionProbe.Outcome, String) {
        #if canImport(Glibc)
        guard isolate else { return body() }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return body() }
        let pid = fork()
        if pid < 0 { close(fds[0]); close(fds[1]); return body() }
        if pid == 0 {
            close(fds[0])
            let (outcome, detail) = onThreadBornInChild(body)
            var text = Array((outcome.rawValue + "\t" + detail).utf8)
            if text.count > 4000 { text = Array(text[..<4000]) }
            var off = 0
            while off < text.count {
                let n = text[off...].withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
                if n <= 0 { break }
                off += n
            }
            _exit(0)
        }
        close(fds[1])
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        var timedOut = false
        let deadline = DispatchTimeLike.nowMillis() + Int64(timeoutSeconds) * 1000
        while true {
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let left = deadline - DispatchTimeLike.nowMillis()
            if left <= 0 { timedOut = true; break }
            let r = poll(&p, 1, Int32(min(left, 1000)))
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        close(fds[0])
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return (.hang, "no answer in \(timeoutSeconds) s; killed") }
        let signal = status & 0x7f
        if signal != 0 { return (.crash, "the reading process died on signal \(signal)") }
        let text = String(decoding: out, as: UTF8.self)
        guard let tab = text.firstIndex(of: "\t"), let outcome = CorruptionProbe.Outcome(rawValue: String(text[..<tab])) else {
            return (.crash, "the reading process exited with status \((status >> 8) & 0xff) without an answer")
        }
        return (outcome, String(text[text.index(after: tab)...]))
        #else
        return body()
        #endif
    }
}

enum DispatchTimeLike {
    static func nowMillis() -> Int64 {
        #if canImport(Glibc)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
        #else
        return 0
        #endif
    }
}

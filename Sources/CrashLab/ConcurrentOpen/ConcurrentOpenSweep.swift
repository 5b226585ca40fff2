public import OrbitCore
import Foundation
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14, "Widen the crash lab" 2: a second open beside a process that holds the store.
///
/// A holder child (`HolderChild`, the orbit-bench executable) opens the store read-write and keeps
/// it. Between bursts of its writes (after each burst it syncs, so its files are quiet), the sweep
/// makes one open attempt, in turn: another process read-write, another process read-only (a
/// child forked from this process: `ProbeIsolation`), a second instance in the holder's process
/// read-write, then read-only. `crash.opens_per_holder` attempts per holder; then the holder reads
/// every record back and closes, and this process reopens the store and checks every write the
/// holder acknowledged (`KillOracle`).
///
/// The verdict per attempt:
/// - read-write: must be refused with an error naming the lock (the word "lock" and the store's
///   path); the holder's pid is noted when the error gives it (`pid_named`);
/// - read-only: refused likewise, or opened — allowed only if it wrote nothing. Per engine, from
///   its documented promise: lsm and cow are to take a shared lock for a read-only open that an
///   exclusive holder refuses (issue 13, item 4), so they are expected to refuse; RocksDB's
///   OpenForReadOnly and LMDB's MDB_RDONLY are documented to run beside a writer, so they may
///   open. Both outcomes are judged by the same rule: nothing written.
/// - any attempt: the directory listing and every file's bytes are as before it (lock files
///   aside); a crash or a hang of the opening process is broken.
/// The holder's row: it lost nothing it acknowledged, in its own reads and after the reopen.
public enum ConcurrentOpenSweep: DurableStoreSweep, ChildProcessSweep {
    public static let method = CrashRecord.Method.concurrentOpen

    public static let opensKnobName = "crash.opens_per_holder"

    /// The attempts, in the order each holder sees them.
    public static let kinds = ["process-rw", "process-ro", "instance-rw", "instance-ro"]

    static let replyTimeoutSeconds = 60.0

    public static func run(_ c: CrashSweepContext, executable: String, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: c.engine) else {
            throw OrbitError(.unsupported, "the concurrent-open sweep does not support engine '\(c.engine)'",
                             hint: "supported: " + engines.joined(separator: ", "))
        }
        var plan = try CrashPlan(settings: c.settings)
        plan.recordCount = c.recordCount
        plan.valueSize = c.valueSize
        let perHolder = c.settings.knob(named: opensKnobName) != nil ? max(1, c.settings.int(opensKnobName)) : 40
        let sets = CrashPlan.workerAssignments(c.settings) + ["durability=\(c.durability)", "record_count=\(plan.recordCount)",
                                                              "value_size=\(plan.valueSize)"]
        var attempts = 0
        var holder = 0
        var cycle = 0
        while attempts < max(1, c.count) {
            let store = c.workDirectory + "/store-\(holder)"
            try? POSIXFileSystem().removeTree(store)
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let n = min(perHolder, max(1, c.count) - attempts)
            let seed = c.seed &+ UInt64(holder) &* 0x9E37_79B9_7F4A_7C15
            try runHolder(c, plan: plan, executable: executable, store: store, sets: sets, seed: seed, holder: holder,
                          attempts: n, cycle: &cycle, onRecord: onRecord)
            attempts += n
            holder += 1
            try? POSIXFileSystem().removeTree(store)
        }
    }

    /// The holder child and the parent's end of its pipes.
    final class Holder {
        let process = Process()
        let toChild = Pipe()
        let fromChild = Pipe()
        var lines = LineBuffer()
        var queue: [String] = []
        var oracle: KillOracle
        var pid: Int32 = 0
        var eof = false

        init(recordCount: Int) { oracle = KillOracle(recordCount: recordCount) }

        func send(_ s: String) { try? toChild.fileHandleForWriting.write(contentsOf: Data(s.utf8)) }

        /// The next reply line (not a B/A line, which feed the oracle), or nil after the timeout or at EOF.
        func reply(timeout: Double) -> String? {
            let deadline = MonotonicClock.nanoseconds() + UInt64(timeout * 1e9)
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            let fd = fromChild.fileHandleForReading.fileDescriptor
            while true {
                if !queue.isEmpty { return queue.removeFirst() }
                if eof { return nil }
                let now = MonotonicClock.nanoseconds()
                if now >= deadline { return nil }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
                if r < 0 { if errno == EINTR { continue }; return nil }
                if r == 0 { continue }
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 { if errno == EINTR { continue }; eof = true; continue }
                if n == 0 { eof = true; continue }
                lines.append(buf[0..<n]) { line in
                    switch line.first {
                    case "B": if let op = KillOp.parseBegin(line) { oracle.begin(op) }
                    case "A": if let a = KillOp.parseAck(line) { oracle.acknowledge(a.index, synced: a.synced) }
                    default: queue.append(String(line))
                    }
                }
            }
        }
    }

    static func runHolder(_ c: CrashSweepContext, plan: CrashPlan, executable: String, store: String, sets: [String], seed: UInt64,
                          holder number: Int, attempts: Int, cycle: inout Int, onRecord: (CrashRecord) throws -> Void) throws {
        let h = Holder(recordCount: plan.recordCount)
        h.process.executableURL = URL(fileURLWithPath: executable)
        h.process.arguments = ["crash-lab-child", "--role", "hold", "--backend", c.engine, "--store", store, "--seed", String(seed)]
            + sets.flatMap { ["--set", $0] }
        h.process.standardInput = h.toChild
        h.process.standardOutput = h.fromChild
        let stderrPath = c.workDirectory + "/holder-stderr.log"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let err = FileHandle(forWritingAtPath: stderrPath)
        h.process.standardError = err ?? FileHandle.nullDevice
        defer { try? err?.close() }
        do { try h.process.run() } catch {
            throw OrbitError(.io, "cannot start the concurrent-open holder", at: executable,
                             hint: "the holder is the orbit-bench executable itself (crash-lab-child)", cause: .library("\(error)"))
        }
        defer {
            if h.process.isRunning { kill(h.process.processIdentifier, SIGKILL) }
            h.process.waitUntilExit()
        }
        var rng = SeededRNG(seed: seed, stream: 0x636F)
        let replay = "seed=\(c.seed) holder=\(number) holder_seed=\(seed)"
        func base(_ point: String) -> CrashRecord {
            cycle += 1
            return CrashRecord(cycle: cycle, engine: c.engine, durability: c.durability.description, method: .concurrentOpen,
                               crashPointOrTime: point, opsAcknowledged: h.oracle.acknowledgedCount, opsSynced: h.oracle.ackedSynced,
                               opsRecovered: 0, lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok,
                               storeBytes: DirectoryBytes.of(store))
        }
        guard let ready = h.reply(timeout: KillSweep.startTimeoutSeconds), ready.hasPrefix("R ") else {
            var r = base("holder-start")
            r.verdict = .broken
            r.detail = LabText.oneLine("the holder did not open the store: \(stderrTail(stderrPath)); \(replay)")
            try onRecord(r)
            return
        }
        h.pid = Int32(ready.dropFirst(2)) ?? h.process.processIdentifier
        let lockNames = ["lock", "LOCK"]
        for i in 0..<attempts {
            h.send("W \(1 + rng.below(8))\n")
            guard let paused = h.reply(timeout: replyTimeoutSeconds), paused == "P" else {
                var r = base("holder-write")
                r.verdict = .broken
                r.detail = LabText.oneLine("the holder failed while writing: \(stderrTail(stderrPath)); \(replay)")
                try onRecord(r)
                return
            }
            let kind = kinds[i % kinds.count]
            let before = try StoreImage.read(store)
            var outcome: (opened: Bool, ms: Double, text: String)
            if kind.hasPrefix("process") {
                let access: StoreAccess = kind.hasSuffix("ro") ? .readOnly : .readWrite
                let (o, text) = ProbeIsolation.run(timeoutSeconds: 30, isolate: true) {
                    let t0 = MonotonicClock.nanoseconds()
                    do {
                        try Engines.withEngine(c.engine, directory: store, settings: c.settings, access: access, ReadOneKey(plan: plan))
                        return (.correct, HolderChild.ms(since: t0))
                    } catch {
                        return (.detected, HolderChild.ms(since: t0) + " " + LabText.oneLine("\(error)"))
                    }
                }
                switch o {
                case .correct: outcome = (true, Double(text) ?? 0, "")
                case .detected:
                    let sp = text.firstIndex(of: " ") ?? text.endIndex
                    outcome = (false, Double(text[..<sp]) ?? 0, String(text[sp...]).trimmingCharacters(in: .whitespaces))
                default: outcome = (false, 0, "CRASH/HANG: " + text)
                }
            } else {
                h.send(kind.hasSuffix("ro") ? "O ro\n" : "O rw\n")
                guard let answer = h.reply(timeout: replyTimeoutSeconds), answer.hasPrefix("O ") else {
                    var r = base(kind + "#\(i)")
                    r.verdict = .broken
                    r.detail = LabText.oneLine("the holder did not answer a second open in its process (hang or crash): \(stderrTail(stderrPath)); \(replay)")
                    try onRecord(r)
                    return
                }
                let parts = answer.split(separator: " ", maxSplits: 3).map(String.init)
                outcome = (parts[1] == "opened", Double(parts.count > 2 ? parts[2] : "") ?? 0, parts.count > 3 ? parts[3] : "")
            }
            let after = try StoreImage.read(store)
            let changes = before.changes(to: after)
            var r = base(kind + "#\(i)")
            r.recoveryMs = outcome.ms
            var problems: [String] = []
            if outcome.text.hasPrefix("CRASH/HANG") { problems.append("the opening process crashed or hung") }
            if outcome.opened && kind.hasSuffix("rw") { problems.append("A SECOND READ-WRITE OPEN SUCCEEDED beside the holder (pid \(h.pid))") }
            if !outcome.opened && !outcome.text.hasPrefix("CRASH/HANG") {
                let namesLock = lockNames.contains { outcome.text.contains($0) } && outcome.text.contains(store)
                if !namesLock { problems.append("REFUSED WITHOUT NAMING THE LOCK") }
            }
            if !changes.isEmpty { problems.append("THE ATTEMPT CHANGED THE STORE: " + changes.prefix(5).joined(separator: ", ")) }
            r.verdict = problems.isEmpty ? .ok : .broken
            let pidNamed = outcome.text.contains("pid \(h.pid)")
            r.detail = LabText.oneLine((problems.isEmpty ? (outcome.opened ? "opened read-only, wrote nothing" : "refused naming the lock")
                                                         : problems.joined(separator: "; "))
                                       + "; pid_named=\(pidNamed ? "yes" : "no"); \(replay); " + outcome.text, limit: 700)
            try onRecord(r)
        }
        // Even holders check themselves and close; odd ones are killed (SIGKILL) with the store
        // open, as a crash would leave it after the second opens: every durable engine promises
        // that a process kill loses nothing acknowledged, and a second open that truncated the
        // holder's log shows up here. Then the store is reopened here and checked.
        let killed = number % 2 == 1
        var r = base(killed ? "holder-killed" : "holder")
        var problems: [String] = []
        if killed {
            kill(h.process.processIdentifier, SIGKILL)
            h.process.waitUntilExit()
        } else {
            h.send("V\n")
            let verdict = h.reply(timeout: replyTimeoutSeconds) ?? "no answer"
            let closed = h.reply(timeout: replyTimeoutSeconds) ?? "no answer"
            h.process.waitUntilExit()
            if !verdict.hasPrefix("V ok") { problems.append("the holder's own reads: " + verdict) }
            if closed != "C ok" { problems.append("the holder's close: " + closed) }
        }
        let start = MonotonicClock.nanoseconds()
        do {
            let v = try Engines.withEngine(c.engine, directory: store, settings: c.settings,
                                           KillSweep.VerifyBody(plan: plan, start: start, cache: nil))
            r.recoveryMs = v.recoveryMs
            var oracle = h.oracle
            let check = oracle.verifyAndAdopt(v.states)
            r.lostSynced = check.lostSynced
            r.lostUnsynced = check.lostUnsynced
            r.resurrected = check.resurrected
            r.opsRecovered = r.opsAcknowledged - check.lostOps
            if !check.isClean || v.extraKeys != 0 {
                problems.append("after the reopen: lost=\(check.lostSynced + check.lostUnsynced) resurrected=\(check.resurrected) wrong=\(check.wrong) extra_keys=\(v.extraKeys) "
                                + check.problems.prefix(3).joined(separator: "; "))
            }
        } catch {
            problems.append("the reopen after the holder closed failed: \(error)")
        }
        r.verdict = problems.isEmpty ? .ok : .broken
        r.detail = LabText.oneLine((problems.isEmpty ? "the holder lost nothing it acknowledged" + (killed ? " (killed, then reopened)" : "")
                                                    : problems.joined(separator: "; ")) + "; \(replay)",
                                   limit: 700)
        try onRecord(r)
    }

    static func stderrTail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(300))
    }
}

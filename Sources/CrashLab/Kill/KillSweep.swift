import OrbitCore
import Foundation
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// Real process crashes: a child `orbit-bench crash-worker` writes to the store and reports each
/// operation over a pipe; the parent SIGKILLs it at a seeded random operation count or time, reopens
/// the store itself, times recovery (open until the first read is served), reads every key and checks
/// it against its oracle. Then the next cycle continues on the same store.
public enum KillSweep: CrashSweep {
    public static let method: CrashRecord.Method = .kill

    /// Every durable engine; `memory` keeps nothing after its process ends.
    public static func supports(engine: String) -> Bool { Engines.isDurable(engine) && !(Engines.capabilities(engine)?.contains(.server) ?? false) }

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try run(context, executable: workerExecutable(), onRecord: onRecord)
    }

    /// The orbit-bench executable that runs the worker: this process's own (`/proc/self/exe`), or the
    /// `orbit-bench` beside it when this process is another program (a test bundle).
    public static func workerExecutable() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let url = URL(fileURLWithPath: me)
        if url.lastPathComponent == "orbit-bench" { return me }
        return url.deletingLastPathComponent().appendingPathComponent("orbit-bench").path
    }

    /// How long the worker may take to open the store, and to die after SIGKILL.
    static let startTimeoutSeconds = 300.0

    public static func run(_ c: CrashSweepContext, executable: String, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: c.engine) else {
            throw OrbitError(.invalidArgument, "backend \(c.engine) keeps nothing after its process ends: a kill experiment needs a durable engine",
                             at: "backend \(c.engine)", hint: "use rocksdb, lsm, cow or lmdb")
        }
        var plan = try CrashPlan(settings: c.settings)
        plan.recordCount = c.recordCount
        plan.valueSize = c.valueSize
        let store = c.workDirectory + "/store"
        try? POSIXFileSystem().removeTree(store)
        do {
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        } catch {
            throw OrbitError(.io, "cannot create the crash store directory", at: store, cause: .library("\(error)"))
        }
        let stderrPath = c.workDirectory + "/worker-stderr.log"
        var oracle = KillOracle(recordCount: plan.recordCount)
        var rng = SeededRNG(seed: c.seed, stream: 0x6B696C6C)
        let promise = Engines.durabilityPromise(c.engine, c.durability)
        let sets = CrashPlan.workerAssignments(c.settings) + ["durability=\(c.durability)", "record_count=\(plan.recordCount)",
                                                              "value_size=\(plan.valueSize)"]
        let staleCache: StaleCache? = plan.plantedBug == .staleValue ? StaleCache() : nil
        var nextOp = 0
        for cycle in 1...max(1, c.count) {
            // The kill point: an operation count or a time, seeded.
            var byOps = plan.killAfterOps != nil
            if let _ = plan.killAfterOps, plan.killAfterMs != nil { byOps = rng.next() & 1 == 0 }
            let target = byOps ? Int.random(in: plan.killAfterOps!, using: &rng) : Int.random(in: plan.killAfterMs!, using: &rng)
            let point = byOps ? "op=\(target)" : "t=\(target)ms"
            var record = CrashRecord(cycle: cycle, engine: c.engine, durability: c.durability.description, method: .kill,
                                     crashPointOrTime: point, opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0, lostSynced: 0,
                                     lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)
            let seed = c.seed &+ UInt64(cycle) &* 0x9E37_79B9_7F4A_7C15
            let outcome = try runChild(executable: executable, backend: c.engine, store: store, sets: sets, firstOp: nextOp, seed: seed,
                                       byOps: byOps, target: target, oracle: &oracle, stderrPath: stderrPath)
            nextOp = max(nextOp, outcome.lastBegun + 1)
            record.opsAcknowledged = oracle.acknowledgedCount
            record.opsSynced = oracle.ackedSynced
            if let failure = outcome.failure {
                // The worker could not open the store (a failed reopen) or failed a write.
                record.verdict = .broken
                record.detail = failure
                try onRecord(record)
                return
            }
            record.storeBytes = directoryBytes(store)
            let verified: VerifyBody.Result
            let start = MonotonicClock.nanoseconds()
            do {
                verified = try Engines.withEngine(c.engine, directory: store, settings: c.settings,
                                                  VerifyBody(plan: plan, start: start, cache: staleCache))
            } catch {
                record.recoveryMs = Double(MonotonicClock.nanoseconds() - start) / 1e6
                record.verdict = .broken
                record.detail = "reopen failed: \(error)"
                try onRecord(record)
                return  // nothing to continue on
            }
            record.recoveryMs = verified.recoveryMs
            let inFlight = oracle.inFlight.count
            let v = oracle.verifyAndAdopt(verified.states)
            record.lostSynced = v.lostSynced
            record.lostUnsynced = v.lostUnsynced
            record.resurrected = v.resurrected
            record.opsRecovered = record.opsAcknowledged - v.lostOps + v.inFlightRecovered
            // Every durable engine promises at least that a process kill loses nothing acknowledged.
            let keepsOnKill = promise.survives != .nothing
            let broken = v.lostSynced > 0 || v.resurrected > 0 || v.wrong > 0 || v.tornBatches > 0 || verified.extraKeys != 0
                || (keepsOnKill && v.lostUnsynced > 0)
            record.verdict = broken ? .broken : .ok
            // A clean reopen of the recovered store, for comparison with the recovery time.
            let again = MonotonicClock.nanoseconds()
            let cleanMs = (try? Engines.withEngine(c.engine, directory: store, settings: c.settings, FirstRead(plan: plan, start: again))) ?? -1
            var detail = ["in_flight=\(inFlight)", "in_flight_recovered=\(v.inFlightRecovered)", "clean_reopen_ms=\(formatDouble(cleanMs, decimals: 3))"]
            if v.wrong > 0 { detail.append("wrong=\(v.wrong)") }
            if v.tornBatches > 0 { detail.append("torn_batches=\(v.tornBatches)") }
            if verified.extraKeys != 0 { detail.append("keys_outside_the_key_space=\(verified.extraKeys)") }
            detail += v.problems
            record.detail = detail.joined(separator: "; ")
            try onRecord(record)
        }
    }

    // MARK: - The child

    struct ChildOutcome {
        var lastBegun = -1
        /// Why the cycle could not be verified (the worker failed before the kill).
        var failure: String?
    }

    static func runChild(executable: String, backend: String, store: String, sets: [String], firstOp: Int, seed: UInt64,
                         byOps: Bool, target: Int, oracle: inout KillOracle, stderrPath: String) throws -> ChildOutcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["crash-worker", "--backend", backend, "--store", store, "--first-op", String(firstOp), "--seed", String(seed)]
            + sets.flatMap { ["--set", $0] }
        let pipe = Pipe()
        p.standardOutput = pipe
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let err = FileHandle(forWritingAtPath: stderrPath)
        p.standardError = err ?? FileHandle.nullDevice
        defer { try? err?.close() }
        do { try p.run() } catch {
            throw OrbitError(.io, "cannot start the crash worker", at: executable,
                             hint: "the worker is the orbit-bench executable itself (crash-worker)", cause: .library("\(error)"))
        }
        let fd = pipe.fileHandleForReading.fileDescriptor
        var outcome = ChildOutcome()
        var lines = LineBuffer()
        var ready = false
        var acked = 0
        var readyAt: UInt64 = 0
        let startedAt = MonotonicClock.nanoseconds()
        var killed = false
        func handle(_ line: Substring) {
            switch line.first {
            case "R":
                ready = true
                readyAt = MonotonicClock.nanoseconds()
            case "B":
                if let op = KillOp.parseBegin(line) {
                    oracle.begin(op)
                    outcome.lastBegun = max(outcome.lastBegun, op.index)
                }
            case "A":
                if let a = KillOp.parseAck(line), oracle.acknowledge(a.index, synced: a.synced) { acked += 1 }
            case "E":
                outcome.failure = "worker: " + String(line.dropFirst(2))
            default:
                break
            }
        }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var eof = false
        while !eof {
            if !killed {
                let due = byOps ? (ready && acked >= target) : (ready && MonotonicClock.nanoseconds() >= readyAt + UInt64(target) * 1_000_000)
                if due {
                    kill(p.processIdentifier, SIGKILL)
                    killed = true
                }
                if !ready, Double(MonotonicClock.nanoseconds() - startedAt) / 1e9 > startTimeoutSeconds {
                    kill(p.processIdentifier, SIGKILL)
                    killed = true
                    outcome.failure = "the worker did not open the store within \(Int(startTimeoutSeconds)) s"
                }
            }
            var waitMs: Int32 = 50
            if !killed, ready, !byOps {
                let left = Int64(readyAt + UInt64(target) * 1_000_000) - Int64(MonotonicClock.nanoseconds())
                waitMs = Int32(max(0, min(50, left / 1_000_000)))
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, killed ? 1000 : waitMs)
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { if killed { break }; continue }  // killed and quiet: everything said is read
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; break }
            if n == 0 { eof = true; break }
            lines.append(buf[0..<n], handle)
        }
        p.waitUntilExit()
        if !killed || !(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL), outcome.failure == nil {
            let tail = (try? String(contentsOfFile: stderrPath, encoding: .utf8))?.trimmingWhitespace() ?? ""
            outcome.failure = "the worker ended before the kill (\(p.terminationReason == .uncaughtSignal ? "signal" : "status") \(p.terminationStatus))"
                + (tail.isEmpty ? "" : ": " + String(tail.suffix(500)))
        }
        return outcome
    }

    // MARK: - The verifier (parent)

    /// Planted bug stale-value: a read cache kept across reopens and never invalidated.
    final class StaleCache: @unchecked Sendable {
        var states: [Int: KillOracle.State] = [:]
    }

    struct VerifyBody: EngineBody {
        struct Result {
            var recoveryMs: Double
            var states: [KillOracle.State]
            /// Keys the scan saw beyond the key space's present records.
            var extraKeys: Int
        }
        let plan: CrashPlan
        let start: UInt64
        let cache: StaleCache?

        func run<E: StorageEngine>(_ engine: E) throws -> Result {
            var states: [KillOracle.State] = []
            states.reserveCapacity(plan.recordCount)
            var recoveryMs = 0.0
            for r in 0..<plan.recordCount {
                if let cache, let s = cache.states[r] {
                    states.append(s)
                } else {
                    let key = KillOp.key(r, size: plan.keySize)
                    let s: KillOracle.State = try key.withUnsafeBytes { k in
                        try engine.get(k) { v in
                            guard let v else { return .absent }
                            return KillOp.version(of: v, record: r, size: plan.valueSize).map { .value(version: $0) } ?? .foreign
                        }
                    }
                    cache?.states[r] = s
                    states.append(s)
                }
                if r == 0 { recoveryMs = Double(MonotonicClock.nanoseconds() - start) / 1e6 }
            }
            var scanned = 0
            try engine.scan(from: nil, to: nil, limit: 0) { _, _ in
                scanned += 1
                return true
            }
            let present = states.filter { $0 != .absent }.count
            return Result(recoveryMs: recoveryMs, states: states, extraKeys: cache == nil ? scanned - present : 0)
        }
    }

    /// The key space's states from one full scan (a server backend answers it in a few range
    /// requests, where `VerifyBody` makes one round trip per record: 5,000 records over a 3-member
    /// etcd took ~100 s a cycle that way). A key that is not exactly some record's key counts as
    /// an extra key; a record's value is judged as `VerifyBody` judges it.
    struct VerifyByScanBody: EngineBody {
        let plan: CrashPlan
        let start: UInt64

        func run<E: StorageEngine>(_ engine: E) throws -> VerifyBody.Result {
            var states = [KillOracle.State](repeating: .absent, count: plan.recordCount)
            var extraKeys = 0
            var firstAt: UInt64 = 0
            try engine.scan(from: nil, to: nil, limit: 0) { k, v in
                if firstAt == 0 { firstAt = MonotonicClock.nanoseconds() }
                guard let r = KillOp.record(ofKey: k, size: plan.keySize), r < plan.recordCount else {
                    extraKeys += 1
                    return true
                }
                states[r] = KillOp.version(of: v, record: r, size: plan.valueSize).map { .value(version: $0) } ?? .foreign
                return true
            }
            let end = firstAt == 0 ? MonotonicClock.nanoseconds() : firstAt
            return VerifyBody.Result(recoveryMs: Double(end - start) / 1e6, states: states, extraKeys: extraKeys)
        }
    }

    struct FirstRead: EngineBody {
        let plan: CrashPlan
        let start: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> Double {
            _ = try engine.get(KillOp.key(0, size: plan.keySize))
            return Double(MonotonicClock.nanoseconds() - start) / 1e6
        }
    }

    /// Bytes of the regular files under `path`.
    static func directoryBytes(_ path: String) -> Int64 { DirectoryBytes.of(path) }
}

/// Splits bytes read from the pipe into lines; a partial last line waits for its newline (and is
/// dropped at EOF: a line the worker did not finish was not said).
struct LineBuffer {
    var pending: [UInt8] = []

    mutating func append(_ bytes: ArraySlice<UInt8>, _ handle: (Substring) -> Void) {
        var start = bytes.startIndex
        for i in bytes.indices where bytes[i] == 0x0A {
            if pending.isEmpty {
                handle(Substring(String(decoding: bytes[start..<i], as: UTF8.self)))
            } else {
                pending += bytes[start..<i]
                handle(Substring(String(decoding: pending, as: UTF8.self)))
                pending.removeAll(keepingCapacity: true)
            }
            start = i + 1
        }
        pending += bytes[start..<bytes.endIndex]
    }
}

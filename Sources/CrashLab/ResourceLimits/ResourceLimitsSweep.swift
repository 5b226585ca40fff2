public import OrbitCore
import Foundation
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14, "Widen the crash lab" 5: a store with thousands of tables under RLIMIT_NOFILE = 256.
///
/// Each case is one child process (`GrowChild`) that lowers its own descriptor limit to
/// `crash.nofile` (default 256; this process keeps its own), grows a fresh store past
/// `crash.grow_tables` tables (default 2,000; cow and lmdb, which have no tables: 4x as many
/// pages, through many WAL segments and checkpoints for cow), reading back as it goes, closes
/// it, reopens it under the same limit, checks every key, writes again and closes.
///
/// The verdict: broken when anything fails (an EMFILE in a write, a flush, a read or the reopen;
/// a wrong or missing value), or when the process's anonymous resident memory exceeds the
/// engine's own account (`StorageStats.memoryUsageBytes`) by more than 256 MiB at any sample.
/// RocksDB merges its tables as it goes (1 MiB write buffers; its bytes are capped at
/// grow_tables x 32 KiB), so its row says how many tables it reached.
public enum ResourceLimitsSweep: DurableStoreSweep, ChildProcessSweep {
    public static let method = CrashRecord.Method.resourceLimits

    /// The longest one grow-and-reopen may take.
    static let timeoutSeconds = 1_800.0

    public static func run(_ c: CrashSweepContext, executable: String, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: c.engine) else {
            throw OrbitError(.unsupported, "the resource-limits sweep does not support engine '\(c.engine)'",
                             hint: "supported: " + engines.joined(separator: ", "))
        }
        let nofile = c.settings.knob(named: "crash.nofile") != nil ? c.settings.int("crash.nofile") : 256
        let tables = c.settings.knob(named: "crash.grow_tables") != nil ? c.settings.int("crash.grow_tables") : 2_000
        let growth = try EngineRegistry.visit(Engines.descriptor(c.engine), GrowChild.GrowthOf(settings: c.settings))
        let sets = CrashPlan.workerAssignments(c.settings) + ["durability=\(c.durability)", "value_size=\(c.valueSize)"]
        for cycle in 1...max(1, c.count) {
            let store = c.workDirectory + "/store"
            try? POSIXFileSystem().removeTree(store)
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let seed = c.seed &+ UInt64(cycle) &* 0x9E37_79B9_7F4A_7C15
            let unit = "\(growth.unitName)>=\(growth.targetUnits(tables: tables))"
            var record = CrashRecord(cycle: cycle, engine: c.engine, durability: c.durability.description, method: .resourceLimits,
                                     crashPointOrTime: "\(unit) nofile=\(nofile)", opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0,
                                     lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)
            let (status, lines, stderr) = try runChild(executable: executable, args: [
                "crash-lab-child", "--role", "grow", "--backend", c.engine, "--store", store, "--seed", String(seed),
            ] + sets.flatMap { ["--set", $0] })
            let replay = "seed=\(c.seed) cycle=\(cycle) child_seed=\(seed)"
            record.storeBytes = DirectoryBytes.of(store)
            if let ok = lines.last(where: { $0.hasPrefix("OK ") }), status == 0 {
                record.opsAcknowledged = Int(LabText.field("writes", in: ok) ?? 0)
                record.opsSynced = record.opsAcknowledged
                record.opsRecovered = record.opsAcknowledged
                record.recoveryMs = LabText.field("reopen_ms", in: ok) ?? 0
                let reached = Int(LabText.field("units", in: ok) ?? 0)
                var note = "kept working: " + ok.dropFirst(3)
                if let why = growth.shortfallReason, reached < tables { note += " (\(why): \(reached) tables reached)" }
                record.detail = LabText.oneLine(note + "; " + replay, limit: 700)
            } else {
                record.verdict = .broken
                let failure = lines.last(where: { $0.hasPrefix("E ") }).map { String($0.dropFirst(2)) }
                    ?? "the child ended with status \(status) without a result: " + String(stderr.suffix(300))
                record.opsAcknowledged = Int(LabText.field("writes", in: failure) ?? 0)
                record.detail = LabText.oneLine("FAILED under RLIMIT_NOFILE=\(nofile): " + failure + "; " + replay, limit: 700)
            }
            try onRecord(record)
            try? POSIXFileSystem().removeTree(store)
        }
    }

    /// Runs the child to its end; its stdout lines, exit status (a signal: 128 + n) and stderr.
    static func runChild(executable: String, args: [String]) throws -> (Int32, [String], String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            throw OrbitError(.io, "cannot start the resource-limits child", at: executable,
                             hint: "the child is the orbit-bench executable itself (crash-lab-child)", cause: .library("\(error)"))
        }
        // stderr drains on its own thread so a chatty child never blocks on a full pipe. Joined, not
        // polled: Foundation's `Thread.isFinished` is a plain read of a field the thread writes, with
        // no happens-before edge to its `data` (a race ThreadSanitizer reported, issue 14).
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let errThread: OrbitThread
        do { errThread = try OrbitThread(name: "resource-limits stderr") { errBox.data = err.fileHandleForReading.readDataToEndOfFile() } } catch {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw error
        }
        let fd = out.fileHandleForReading.fileDescriptor
        var lines: [String] = []
        var buffer = LineBuffer()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        let deadline = MonotonicClock.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while true {
            if MonotonicClock.nanoseconds() > deadline {
                kill(p.processIdentifier, SIGKILL)
                lines.append("E timeout: no result in \(Int(timeoutSeconds)) s; killed")
                break
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 1000)
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { break }
            buffer.append(buf[0..<n]) { lines.append(String($0)) }
        }
        p.waitUntilExit()
        errThread.join()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return (status, lines, String(decoding: errBox.data, as: UTF8.self))
    }
}

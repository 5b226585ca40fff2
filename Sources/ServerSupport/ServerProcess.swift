#if canImport(Glibc)
import Glibc
#endif
import CServerSpawn
public import OrbitCore

/// One server process the harness started, and the thread that keeps it.
///
/// The keeper thread forks the server (`orbit_spawn`: PR_SET_PDEATHSIG(SIGKILL) between fork and
/// exec) and then waits for it with waitpid. The kernel's parent-death signal fires when the thread
/// that forked exits, so the keeper lives exactly as long as the server: whether the harness ends
/// by `stop()`, by an error, by Ctrl-C (the handlers stop every tracked server first) or by SIGKILL
/// (the kernel kills the server), no server outlives it.
public final class ServerProcess: @unchecked Sendable {
    public struct Spec: Sendable {
        /// What the server is called in messages ("postgres", "redis-server").
        public var name: String
        public var executable: String
        public var arguments: [String]
        public var workingDirectory: String
        /// Standard output and error go here (appended).
        public var logFile: String
        /// Run as this uid/gid inside a user namespace of its own (PostgreSQL refuses root); nil: as the harness.
        public var innerIdentity: (uid: Int32, gid: Int32)?
        /// The signal that stops the server cleanly (PostgreSQL: SIGINT, fast shutdown; Redis: SIGTERM).
        public var stopSignal: Int32
        /// Extra environment variables (the harness's own are inherited).
        public var environment: [String: String]

        public init(name: String, executable: String, arguments: [String], workingDirectory: String, logFile: String,
                    innerIdentity: (uid: Int32, gid: Int32)? = nil, stopSignal: Int32 = SIGTERM, environment: [String: String] = [:]) {
            self.name = name
            self.executable = executable
            self.arguments = arguments
            self.workingDirectory = workingDirectory
            self.logFile = logFile
            self.innerIdentity = innerIdentity
            self.stopSignal = stopSignal
            self.environment = environment
        }
    }

    private struct State {
        var pid: pid_t = 0
        var spawnError: OrbitError?
        var started = false
        /// The wait status once the process has exited.
        var exitStatus: Int32?
    }

    public let spec: Spec
    private let state = Lock(State())
    private var keeper: OrbitThread?

    /// Starts the process (returns once it has exec'd or failed to).
    public init(_ spec: Spec, trackForSignals: Bool = true) throws {
        self.spec = spec
        if trackForSignals { orbit_servers_install_handlers(10_000) }
        keeper = try OrbitThread(name: "orbit-keeper-\(spec.name)") { [self] in keep(track: trackForSignals) }
        state.withLock(until: { $0.started }) { _ in }
        if let e = state.withLock({ $0.spawnError }) {
            keeper?.join()
            throw e
        }
    }

    public var pid: pid_t { state.withLock { $0.pid } }

    /// The wait status if the process has exited, else nil.
    public var exitStatus: Int32? { state.withLock { $0.exitStatus } }
    public var isRunning: Bool { exitStatus == nil }

    private func keep(track: Bool) {
        let logFD = open(spec.logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else {
            let e = errno
            state.withLock {
                $0.spawnError = OrbitError(.io, "cannot open the log file of \(spec.name)", at: spec.logFile, cause: .errno(Errno(e)))
                $0.started = true
            }
            state.broadcast()
            return
        }
        defer { close(logFD) }
        var env: [String]? = nil
        if !spec.environment.isEmpty {
            var all: [String: String] = [:]
            var p = environ
            while let entry = p.pointee {
                let s = String(cString: entry)
                if let eq = s.firstIndex(of: "=") { all[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
                p += 1
            }
            for (k, v) in spec.environment { all[k] = v }
            env = all.map { "\($0.key)=\($0.value)" }.sorted()
        }
        let pid = withCStrings([spec.executable] + spec.arguments) { argv in
            withOptionalCStrings(env) { envp in
                var step: UnsafePointer<CChar>?
                let r = orbit_spawn(spec.executable, argv, envp, spec.workingDirectory, logFD,
                                    spec.innerIdentity?.uid ?? -1, spec.innerIdentity?.gid ?? -1, &step)
                return (r, step.map { String(cString: $0) })
            }
        }
        if pid.0 < 0 {
            state.withLock {
                $0.spawnError = OrbitError(.io, "cannot start \(spec.name) (\(pid.1 ?? "spawn") failed)", at: spec.executable,
                                           cause: .errno(Errno(-pid.0)))
                $0.started = true
            }
            state.broadcast()
            return
        }
        if track { orbit_servers_track(pid.0, spec.stopSignal) }
        state.withLock {
            $0.pid = pid.0
            $0.started = true
        }
        state.broadcast()
        var status: Int32 = 0
        while waitpid(pid.0, &status, 0) < 0 && errno == EINTR {}
        if track { orbit_servers_untrack(pid.0) }
        state.withLock { $0.exitStatus = status }
        state.broadcast()
    }

    /// Waits until the process exits, at most `timeoutNanos`; true when it has.
    @discardableResult
    public func waitForExit(timeoutNanos: UInt64) -> Bool {
        let deadline = MonotonicClock.nanoseconds() &+ min(timeoutNanos, UInt64.max / 4)
        return state.withLock(until: { $0.exitStatus != nil }, deadline: deadline) { _, exited in exited }
    }

    /// Sends `signal` to the process (if it still runs).
    public func send(_ signal: Int32) {
        state.withLock { s in
            if s.exitStatus == nil, s.pid > 0 { kill(s.pid, signal) }
        }
    }

    /// Stops the process: its stop signal, then SIGKILL after `graceNanos`. Returns the wait status.
    /// Joins the keeper thread. Safe to call more than once.
    @discardableResult
    public func stop(graceNanos: UInt64 = 30_000_000_000) -> Int32 {
        send(spec.stopSignal)
        if !waitForExit(timeoutNanos: graceNanos) {
            send(SIGKILL)
            waitForExit(timeoutNanos: .max / 2)
        }
        keeper?.join()
        return exitStatus ?? 0
    }

    /// Runs a one-shot command (initdb) to its end; throws when it fails, naming the command, its log
    /// and the log's last lines.
    public static func run(_ spec: Spec, timeoutNanos: UInt64 = 300_000_000_000) throws {
        let p = try ServerProcess(spec, trackForSignals: false)
        if !p.waitForExit(timeoutNanos: timeoutNanos) {
            p.send(SIGKILL)
            p.stop()
            throw OrbitError(.engine, "\(spec.name) did not finish within \(timeoutNanos / 1_000_000_000) s", at: spec.logFile,
                             hint: ServerLog.tailHint(spec.logFile))
        }
        p.stop()
        let status = p.exitStatus ?? 0
        guard status == 0 else {
            throw OrbitError(.engine, "\(spec.name) failed (\(describeWaitStatus(status)))", at: spec.logFile,
                             hint: ServerLog.tailHint(spec.logFile))
        }
    }
}

/// "exit status 1", "killed by signal 9".
public func describeWaitStatus(_ status: Int32) -> String {
    let sig = status & 0x7f
    if sig == 0 { return "exit status \((status >> 8) & 0xff)" }
    return "killed by signal \(sig)"
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

private func withOptionalCStrings<R>(_ strings: [String]?, _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> R) -> R {
    guard let strings else { return body(nil) }
    return withCStrings(strings) { body($0) }
}

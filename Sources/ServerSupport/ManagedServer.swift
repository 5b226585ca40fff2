#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore

/// A server the harness runs for a backend, on 127.0.0.1 at a free port, with its files in a
/// directory under the run's data dir: started, waited for until it answers, and stopped.
public final class ManagedServer: @unchecked Sendable {
    public let name: String
    public let port: Int
    public let logFile: String
    public let process: ServerProcess

    /// A server started by its own protocol (a cluster's member, started beside the others), taken
    /// over by the harness: stopped by `stop()` like any other.
    public init(name: String, port: Int, logFile: String, process: ServerProcess) {
        self.name = name
        self.port = port
        self.logFile = logFile
        self.process = process
    }

    /// Starts the server that `spec(port)` describes and waits until `answers(port)` is true, at most
    /// `timeoutNanos`. A server that exits because another process took its port is started again on
    /// another (at most `attempts` times). Throws an error naming the server, its log and its last
    /// log lines when it exits or does not answer in time (the process is stopped first).
    public static func start(name: String, logFile: String, attempts: Int = 3, timeoutNanos: UInt64 = 60_000_000_000,
                             spec: (Int) throws -> ServerProcess.Spec, answers: (Int) -> Bool) throws -> ManagedServer {
        var attempt = 0
        while true {
            attempt += 1
            let port = try LoopbackPort.free()
            let logStart = fileSize(logFile)
            let process = try ServerProcess(try spec(port))
            let deadline = MonotonicClock.nanoseconds() &+ timeoutNanos
            var pause: UInt64 = 2_000_000
            while true {
                if answers(port) { return ManagedServer(name: name, port: port, logFile: logFile, process: process) }
                if let status = process.exitStatus {
                    process.stop()
                    let fresh = ServerLog.tail(logFile, lines: 40, from: logStart)
                    if attempt < attempts, fresh.contains(where: Self.saysPortTaken) {
                        break  // the port was taken between our probe and its bind: another port
                    }
                    throw OrbitError(.engine, "\(name) exited while starting (\(describeWaitStatus(status)))", at: logFile,
                                     hint: ServerLog.tailHint(logFile))
                }
                if MonotonicClock.nanoseconds() >= deadline {
                    process.stop(graceNanos: 5_000_000_000)
                    throw OrbitError(.engine, "\(name) did not answer on 127.0.0.1:\(port) within \(timeoutNanos / 1_000_000_000) s",
                                     at: logFile, hint: ServerLog.tailHint(logFile))
                }
                process.waitForExit(timeoutNanos: pause)
                pause = min(pause * 2, 50_000_000)
            }
        }
    }

    /// Stops the server cleanly (its stop signal; SIGKILL after `graceNanos`). Throws when it did not
    /// exit cleanly, naming its log.
    public func stop(graceNanos: UInt64 = 60_000_000_000) throws {
        let status = process.stop(graceNanos: graceNanos)
        guard status == 0 else {
            throw OrbitError(.engine, "\(name) did not stop cleanly (\(describeWaitStatus(status)))", at: logFile,
                             hint: ServerLog.tailHint(logFile))
        }
    }

    /// Whether a log line says the port was taken: PostgreSQL and Redis write "Address already in
    /// use" (strerror), etcd (Go) "bind: address already in use"; PostgreSQL also "could not bind".
    public static func saysPortTaken(_ line: String) -> Bool {
        let l = line.lowercased()
        return l.contains("address already in use") || l.contains("could not bind")
    }

    public static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}

/// Who a server runs as.
public enum ServerIdentity {
    /// When the harness runs as root: the uid and gid of `user` (else of `nobody`) to be inside a
    /// user namespace of the server's own (PostgreSQL refuses to run as root). Not root: nil, the
    /// server runs as the harness's user.
    public static func unprivileged(preferring user: String) -> (uid: Int32, gid: Int32)? {
        guard geteuid() == 0 else { return nil }
        for name in [user, "nobody"] {
            if let pw = getpwnam(name) { return (Int32(bitPattern: pw.pointee.pw_uid), Int32(bitPattern: pw.pointee.pw_gid)) }
        }
        return (65534, 65534)
    }
}

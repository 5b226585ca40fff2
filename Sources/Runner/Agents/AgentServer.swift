#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore
public import Workloads
import Foundation

/// `orbit-bench agent --listen HOST:PORT`: serves coordinators one at a time. For each job it checks
/// the workload, answers `accepted`, waits for the start barrier, opens the backend (a server at an
/// address the job names), loads its share and warms up, answers `ready`, waits for the run barrier,
/// runs, and sends its raw results. A heartbeat frame goes out every second meanwhile
/// (docs/formats/agent-protocol.md).
public struct AgentServer: Sendable {
    public var address: AgentKnobs.Address
    /// Where each job's store directory goes (a server backend keeps only a marker there); nil: /tmp.
    public var dataDirectory: String?
    /// Serve one coordinator, then return (its job's error thrown).
    public var once = false

    public init(address: AgentKnobs.Address, dataDirectory: String? = nil, once: Bool = false) {
        self.address = address
        self.dataDirectory = dataDirectory
        self.once = once
    }

    static func log(_ line: String) { FileHandle.standardError.write(Data("orbit-bench agent: \(line)\n".utf8)) }

    /// Listens and serves until killed (or, with `once`, one coordinator).
    public func serve() throws {
        let listener = try AgentSocket.listen(address)
        defer { _ = Glibc.close(listener) }
        Self.log("listening on \(address)")
        var jobs = 0
        while true {
            var peer = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &len) }
            }
            if fd < 0 {
                if errno == EINTR { continue }
                throw OrbitError(.io, "accept failed: \(String(cString: strerror(errno)))", at: "agent \(address)")
            }
            jobs += 1
            let socket = AgentSocket(fd: fd)
            do {
                try serve(socket, job: jobs)
            } catch {
                Self.log("job \(jobs) failed: \(error)")
                if once { socket.close(); throw error }
            }
            socket.close()
            if once { return }
        }
    }

    static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(cString: buf)
    }

    /// Serves one coordinator on `socket`.
    func serve(_ socket: AgentSocket, job number: Int) throws {
        func fail(_ e: any Error) -> any Error {
            let status = (e as? OrbitError)?.exitStatus ?? 1
            if let payload = try? AgentJSON.encode(AgentErrorMessage(message: "\(e)", exitStatus: status)) {
                try? socket.send(.error, payload)
            }
            return e
        }
        let first = try socket.receive(timeoutSeconds: 60)
        guard first.kind == .job else { throw fail(OrbitError(.invalidArgument, "protocol error: a \(first.kind) frame where a job was due")) }
        let job: AgentJob
        do { job = try AgentJSON.decode(AgentJob.self, first.payload, frame: .job) } catch { throw fail(OrbitError(.invalidArgument, "\(error)")) }
        guard job.protocolVersion == Int(AgentFrame.version) else {
            throw fail(OrbitError(.invalidArgument, "the job speaks protocol version \(job.protocolVersion); this agent speaks \(AgentFrame.version)",
                                  hint: "run the same orbit-bench on the coordinator and the agents"))
        }
        // The coordinator's settings, each from its source there; checked here as they would be there.
        let workload: Workload, settings: Settings
        do {
            var s = Settings(knobs: Configuration.allKnobs)
            for entry in job.settings {
                guard entry.count == 3 else { throw OrbitError(.invalidArgument, "protocol error: a job setting of \(entry.count) fields") }
                try s.set(entry[0], text: entry[1], from: .flag("coordinator's \(entry[0])=\(entry[1]) (from its \(entry[2]))"))
            }
            try Engines.validate(job.backend, settings: s)
            workload = try Workload(settings: s, path: nil)
            settings = s
        } catch {
            throw fail(error)
        }
        Self.log("job \(number): agent \(job.index + 1) of \(job.agents), backend \(job.backend), \(workload.threads) threads, "
                 + "records \(workload.insertStart)..<\(workload.insertStart + workload.insertCount), \(workload.operationCount) operations")
        try socket.send(.accepted, try AgentJSON.encode(AgentAccepted(hostname: Self.hostname(), threads: workload.threads)))
        // A heartbeat that cannot be sent means the coordinator has gone: the run phase stops early.
        let abort = RunAbort()
        let heartbeat = try PeriodicTask(periodMillis: 1000, name: "orbit-agent-alive") {
            do { try socket.send(.alive, Array("{}".utf8)) } catch { abort.raise() }
        }
        defer { heartbeat.stop() }

        /// Waits for the coordinator's `go` of `barrier` (an error frame or a closed connection ends the job).
        @Sendable func pass(_ barrier: String) throws {
            let f: (kind: AgentFrame.Kind, payload: [UInt8])
            do { f = try socket.receive(timeoutSeconds: nil) } catch {
                throw OrbitError(.io, "the coordinator went away before the \(barrier) barrier: \(error)")
            }
            switch f.kind {
            case .go:
                let go = try AgentJSON.decode(AgentGo.self, f.payload, frame: .go)
                guard go.barrier == barrier else { throw OrbitError(.io, "protocol error: the \(go.barrier) barrier where \(barrier) was due") }
            case .error:
                let m = try? AgentJSON.decode(AgentErrorMessage.self, f.payload, frame: .error)
                throw OrbitError(.io, "the coordinator stopped the job: \(m?.message ?? "?")")
            default:
                throw OrbitError(.io, "protocol error: a \(f.kind) frame where the \(barrier) barrier was due")
            }
        }
        try pass("start")
        let root = dataDirectory ?? NSTemporaryDirectory()
        let jobDir = (root.hasSuffix("/") ? root : root + "/") + "orbit-agent-\(getpid())-\(number)"
        let directory = jobDir + "/" + job.backend
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw fail(OrbitError(.io, "cannot create the job's store directory", at: directory, cause: .library("\(error)")))
        }
        defer { try? FileManager.default.removeItem(atPath: jobDir) }
        var runner = BenchmarkRunner(workload: workload, settings: settings, showStatus: false)
        runner.abort = abort
        runner.beforeRunPhases = {
            try socket.send(.ready, Array("{}".utf8))
            try pass("run")
        }
        let result: BackendRun
        do { result = try runner.run(backend: job.backend, directory: directory) } catch { throw fail(error) }
        if abort.raised { throw OrbitError(.io, "the coordinator went away during the run; the run phase stopped early") }
        try socket.send(.result, try AgentJSON.encode(AgentResultMessage(result, hostname: Self.hostname())))
        Self.log("job \(number): done, \(result.operations.reduce(0) { $0 + $1.count }) operations")
    }
}

/// Ends a run phase early from another thread (`BenchmarkRunner.abort`): raised once, read before
/// every operation of the phase's foreground threads.
public final class RunAbort: Sendable {
    let flag = StopFlag()
    public init() {}
    public func raise() { flag.raise() }
    public var raised: Bool { flag.raised }
}

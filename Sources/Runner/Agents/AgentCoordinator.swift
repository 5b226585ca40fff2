#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore
public import Workloads
import Foundation

/// One agent's share of a `run --agents` run and what it measured (summary.json `agents`).
public struct AgentOutcome: Sendable {
    public var address: String
    public var index: Int
    /// The agent's own hostname (as it reported it).
    public var hostname: String
    public var threads: Int
    public var insertStart: Int
    public var insertCount: Int
    /// The run phase's operations (0: until duration_s).
    public var operationCount: Int
    /// The agent's part of target_ops_s (0: closed loop).
    public var targetOpsPerSecond: Double
    public var seed: Int
    public var loadSeconds: Double
    public var runSeconds: Double
    public var operations: [OperationSummary]
    public var errors: [String]
}

/// The coordinator of `run --agents` (README "Load from several machines"; the protocol:
/// docs/formats/agent-protocol.md): splits the workload into one share per agent, sends each its
/// job, passes two barriers (start: every agent accepted its job; run: every agent loaded and warmed
/// up), collects each agent's raw histograms and merges them exactly into one `BackendRun`, which the
/// normal results writer writes.
///
/// An agent that cannot be reached, reports an error, closes its connection or stays silent for
/// `agent_timeout_s` fails the run with an error naming it (host:port and what happened).
public struct AgentCoordinator: Sendable {
    public let workload: Workload
    public let settings: Settings
    public let agents: [AgentKnobs.Address]
    public let timeoutSeconds: Double

    public init(workload: Workload, settings: Settings) throws {
        self.workload = workload
        self.settings = settings
        agents = try AgentKnobs.parseAddresses(settings.string(AgentKnobs.agents))
        timeoutSeconds = settings.double(AgentKnobs.timeout)
    }

    /// Whether the settings name agents (`agents` not empty).
    public static func isDistributed(_ settings: Settings) -> Bool { !settings.string(AgentKnobs.agents).isEmpty }

    /// Checks, before anything runs or is written, that the run can be spread over the agents: the
    /// list parses, every backend is a server backend with its server's address set (each agent
    /// would otherwise open a store of its own), and the workload has nothing that only one process
    /// can do. Throws `.invalidArgument`/`.invalidConfig` (exit status 2).
    public static func validate(settings s: Settings, backends: [String], workload w: Workload) throws {
        let source = s.source(AgentKnobs.agents)
        let at = "agents from \(source)"
        let list: [AgentKnobs.Address]
        do { list = try AgentKnobs.parseAddresses(s.string(AgentKnobs.agents)) } catch let e as OrbitError {
            var located = e
            located.location = at
            throw located
        }
        for backend in backends {
            guard let caps = Engines.capabilities(backend), caps.contains(.server) else {
                throw OrbitError(.invalidArgument,
                                 "the \(backend) backend is embedded: with agents each agent would open a store of its own on its own machine",
                                 at: at, hint: "agents drive a server every agent reaches: " + Engines.names(with: .server).joined(separator: ", ")
                                     + ", each with its server's address set")
            }
            guard let knob = Engines.serverAddressKnob(backend), !s.string(knob).isEmpty else {
                let knob = Engines.serverAddressKnob(backend)
                throw OrbitError(.invalidArgument,
                                 "the \(backend) backend would start a managed server on each agent's loopback: agents need one server they all reach",
                                 at: at, hint: knob.map { "set \($0) to the server's address (reachable from every agent, not 127.0.0.1)" }
                                     ?? "the \(backend) backend has no server address setting")
            }
        }
        if w.isMultiPhase {
            throw OrbitError(.invalidArgument, "a workload with phases cannot be spread over agents yet", at: at,
                             hint: "run each phase as its own workload, or run without agents")
        }
        if w.recordTrace != nil {
            throw OrbitError(.invalidArgument, "record_trace records one process's operations; with agents they run elsewhere", at: at,
                             hint: "drop record_trace or the agents")
        }
        if w.memoryLimitMB > 0 {
            throw OrbitError(.invalidArgument, "memory_limit_mb bounds this process; with agents the load runs on the agents", at: at,
                             hint: "drop memory_limit_mb or the agents")
        }
        if w.runPhase, w.operationCount > 0, w.operationCount < list.count {
            throw OrbitError(.invalidArgument, "operation_count \(w.operationCount) is fewer than one operation per agent (\(list.count) agents)",
                             at: "operation_count from \(s.source("operation_count"))", hint: "at least \(list.count) operations")
        }
        if w.load, w.insertCount > 0, w.insertCount < list.count {
            throw OrbitError(.invalidArgument, "\(w.insertCount) records to load are fewer than one per agent (\(list.count) agents)",
                             at: "record_count from \(s.source("record_count"))", hint: "at least \(list.count) records")
        }
    }

    /// One agent's share: a disjoint slice of the insert range and of the run phase's operations, an
    /// equal part of the target rate, the workload's threads, and its own seed (seed + index).
    public struct Share: Sendable {
        public var index: Int
        public var threads: Int
        public var insertStart: Int
        public var insertCount: Int
        public var operationCount: Int
        public var targetOpsPerSecond: Double
        public var seed: Int
    }

    public static func shares(_ w: Workload, agents k: Int) -> [Share] {
        (0..<k).map { i in
            func slice(_ n: Int) -> (Int, Int) { (n * i / k, n * (i + 1) / k - n * i / k) }
            let (ins, insN) = slice(w.insertCount)
            let (_, ops) = slice(w.operationCount)
            return Share(index: i, threads: w.threads, insertStart: w.insertStart + ins, insertCount: insN, operationCount: ops,
                         targetOpsPerSecond: w.targetOpsPerSecond / Double(k), seed: Int((UInt64(w.seed) &+ UInt64(i)) & UInt64(Int.max)))
        }
    }

    /// Settings the coordinator keeps to itself (where results go, how the coordinator itself runs).
    static let notSent: Set<String> = [AgentKnobs.agents, AgentKnobs.timeout, "data_dir", "record_trace", "plots", "repeat",
                                       "warmup_repeats", "memory_limit_mb", "backends", "insert_start", "insert_count",
                                       "operation_count", "target_ops_s", "seed"]

    /// The job of one agent: the settings that are not built-in defaults, and its share.
    func job(_ share: Share, backend: String) -> AgentJob {
        var list: [[String]] = []
        for e in settings.entries where e.source != .builtinDefault && !Self.notSent.contains(e.name) {
            list.append([e.name, Self.text(e.value), e.source.description])
        }
        let shareSource = "coordinator's share for agent \(share.index)"
        list.append(["backends", backend, shareSource])
        list.append(["insert_start", String(share.insertStart), shareSource])
        // insert_count 0 means "up to record_count": an empty share keeps nothing to load instead.
        list.append(["insert_count", String(share.insertCount), shareSource])
        if share.insertCount == 0 { list.append(["load", "false", shareSource]) }
        list.append(["operation_count", String(share.operationCount), shareSource])
        list.append(["target_ops_s", Self.text(.double(share.targetOpsPerSecond)), shareSource])
        list.append(["seed", String(share.seed), shareSource])
        return AgentJob(protocolVersion: Int(AgentFrame.version), index: share.index, agents: agents.count, backend: backend, settings: list)
    }

    /// A value as `--set` would give it (doubles in full precision).
    static func text(_ v: KnobValue) -> String {
        if case .double(let d) = v { return "\(d)" }
        return v.description
    }

    final class Connection: @unchecked Sendable {
        let address: AgentKnobs.Address
        let share: Share
        let socket: AgentSocket
        var hostname = "?"
        init(_ address: AgentKnobs.Address, _ share: Share, _ socket: AgentSocket) {
            self.address = address
            self.share = share
            self.socket = socket
        }
    }

    /// An error naming the agent: its address, and what happened.
    func failure(_ address: AgentKnobs.Address, _ what: String, code: OrbitError.Code = .io) -> OrbitError {
        OrbitError(code, "agent \(address): \(what)", at: "agents from \(settings.source(AgentKnobs.agents))",
                   hint: code == .io ? "is `orbit-bench agent --listen \(address)` running there, and reachable from here?" : nil)
    }

    /// Runs the workload of `backend` on every agent and returns the merged run. `directory` is this
    /// process's store directory of the backend (the coordinator opens the backend there after the
    /// run, for the server's final figures and description).
    public func run(backend: String, directory: String) throws -> BackendRun {
        let shares = Self.shares(workload, agents: agents.count)
        var connections: [Connection] = []
        var finished = false
        defer {
            if !finished {
                let abort = (try? AgentJSON.encode(AgentErrorMessage(message: "the coordinator stopped the run", exitStatus: 1))) ?? []
                for c in connections { try? c.socket.send(.error, abort) }
            }
            for c in connections { c.socket.close() }
        }
        for (a, share) in zip(agents, shares) {
            do {
                connections.append(Connection(a, share, try AgentSocket.connect(a, timeoutSeconds: timeoutSeconds)))
            } catch let e as AgentWireError {
                throw failure(a, "unreachable: \(e)")
            }
        }
        for c in connections {
            do { try c.socket.send(.job, try AgentJSON.encode(job(c.share, backend: backend))) } catch let e as AgentWireError {
                throw failure(c.address, "sending the job failed: \(e)")
            }
        }
        let accepted = try collect(connections, .accepted)
        for (c, payload) in zip(connections, accepted) {
            do { c.hostname = try AgentJSON.decode(AgentAccepted.self, payload, frame: .accepted).hostname } catch let e as AgentWireError {
                throw failure(c.address, "\(e)")
            }
        }
        let started = SystemWallClock().nowMillis()
        try broadcast(connections, AgentGo(barrier: "start"))
        if workload.runPhase {
            _ = try collect(connections, .ready)
            try broadcast(connections, AgentGo(barrier: "run"))
        }
        let payloads = try collect(connections, .result)
        var results: [AgentResultMessage] = []
        for (c, payload) in zip(connections, payloads) {
            do { results.append(try AgentJSON.decode(AgentResultMessage.self, payload, frame: .result)) } catch let e as AgentWireError {
                throw failure(c.address, "\(e)")
            }
        }
        finished = true
        var merged = try merge(results, connections: connections, backend: backend)
        let wall = Double(SystemWallClock().nowMillis() - started) / 1000
        // The coordinator's own look at the server once the agents are done: its final figures and description.
        let look = try Engines.withEngine(backend, directory: directory, settings: settings, FinalLook())
        merged.durability = look.durability
        merged.promise = Engines.durabilityPromise(backend, look.durability)
        merged.finalStats = look.stats
        merged.server = look.server
        merged.statsRows = [StatsRow(elapsedSeconds: wall, stats: look.stats, processHeapBytes: 0)]
        merged.dataDirectory = directory
        return merged
    }

    struct FinalLook: EngineBody {
        func run<E: StorageEngine>(_ engine: E) throws -> (stats: StorageStats, server: ServerDescription?, durability: DurabilityMode) {
            (try engine.stats(), ((engine as AnyObject) as? any ServerBackedEngine)?.serverDescription, engine.durability)
        }
    }

    func broadcast(_ connections: [Connection], _ go: AgentGo) throws {
        let payload = try AgentJSON.encode(go)
        for c in connections {
            do { try c.socket.send(.go, payload) } catch let e as AgentWireError {
                throw failure(c.address, "sending the \(go.barrier) barrier failed: \(e)")
            }
        }
    }

    /// Waits until every agent has sent a frame of `kind` (heartbeats skipped) and returns their
    /// payloads in agent order. Fails at once when any agent reports an error, breaks the protocol,
    /// closes its connection or is silent for `agent_timeout_s`.
    func collect(_ connections: [Connection], _ kind: AgentFrame.Kind) throws -> [[UInt8]] {
        var got = [[UInt8]?](repeating: nil, count: connections.count)
        var heard = [UInt64](repeating: MonotonicClock.nanoseconds(), count: connections.count)
        let limit = UInt64(timeoutSeconds * 1e9)
        while got.contains(where: { $0 == nil }) {
            let waiting = connections.indices.filter { got[$0] == nil }
            var fds = waiting.map { pollfd(fd: connections[$0].socket.fd, events: Int16(POLLIN), revents: 0) }
            let r = poll(&fds, nfds_t(fds.count), 500)
            if r < 0 && errno != EINTR { throw OrbitError(.io, "poll failed: \(String(cString: strerror(errno)))") }
            for (k, i) in waiting.enumerated() where r > 0 && fds[k].revents != 0 {
                let c = connections[i]
                let frame: (kind: AgentFrame.Kind, payload: [UInt8])
                do { frame = try c.socket.receive(timeoutSeconds: timeoutSeconds) } catch let e as AgentWireError {
                    throw failure(c.address, "\(e), waiting for its \(kind) frame")
                }
                heard[i] = MonotonicClock.nanoseconds()
                switch frame.kind {
                case .alive: continue
                case kind: got[i] = frame.payload
                case .error:
                    let m = try? AgentJSON.decode(AgentErrorMessage.self, frame.payload, frame: .error)
                    let status = m?.exitStatus ?? 1
                    throw failure(c.address, "failed: \(m?.message ?? "(an error frame that does not parse)")",
                                  code: status == 2 ? .invalidConfig : .engine)
                default:
                    throw failure(c.address, "protocol error: a \(frame.kind) frame while waiting for its \(kind) frame")
                }
            }
            let now = MonotonicClock.nanoseconds()
            for i in waiting where got[i] == nil && now - heard[i] > limit {
                throw failure(connections[i].address,
                              "silent for \(formatDouble(timeoutSeconds, decimals: 0)) s (agent_timeout_s) while the coordinator waited for its \(kind) frame")
            }
        }
        return got.map { $0! }
    }

    // MARK: - Merging

    /// The agents' results as one backend run: per phase and operation, counts and sums added and
    /// histograms merged bucket by bucket (exact: the union of every agent's latencies); each phase's
    /// length the longest agent's; timeseries rows of the same interval merged the same way.
    func merge(_ results: [AgentResultMessage], connections: [Connection], backend: String) throws -> BackendRun {
        var operations: [OperationSummary] = []
        var outcomes: [AgentOutcome] = []
        var threadBase = 0
        var samples: [MetricSample] = []
        var errors: [String] = []
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for (c, r) in zip(connections, results) {
            var own: [OperationSummary] = []
            for o in r.operations {
                guard let op = OperationType(wireName: o.operation) else { throw failure(c.address, "result names an unknown operation '\(o.operation)'") }
                let h: LatencyHistogram, ih: LatencyHistogram?
                do {
                    h = try o.histogram.histogram()
                    ih = try o.intended?.histogram()
                } catch let e as AgentWireError { throw failure(c.address, "result's \(o.phase) \(o.operation) histogram: \(e)") }
                guard h.totalCount == o.count else {
                    throw failure(c.address, "result's \(o.phase) \(o.operation) histogram holds \(h.totalCount) latencies for \(o.count) operations")
                }
                var s = OperationSummary(phase: o.phase, operation: op, count: o.count, errors: o.errors, notFound: o.notFound,
                                         latencySumNanos: o.latencySumNanos, logicalBytes: o.logicalBytes, phaseSeconds: o.phaseSeconds,
                                         histogram: h)
                s.netBytesSent = o.netBytesSent
                s.netBytesReceived = o.netBytesReceived
                s.intendedHistogram = ih
                own.append(s)
                if let k = operations.firstIndex(where: { $0.phase == s.phase && $0.operation == op }) {
                    var m = operations[k]
                    m.count += s.count
                    m.errors += s.errors
                    m.notFound += s.notFound
                    m.latencySumNanos += s.latencySumNanos
                    m.logicalBytes += s.logicalBytes
                    m.netBytesSent += s.netBytesSent
                    m.netBytesReceived += s.netBytesReceived
                    m.phaseSeconds = max(m.phaseSeconds, s.phaseSeconds)
                    m.histogram.add(h)
                    if let ih {
                        if m.intendedHistogram == nil { m.intendedHistogram = ih } else { m.intendedHistogram!.add(ih) }
                    }
                    operations[k] = m
                } else {
                    operations.append(s)
                }
            }
            for (k, w) in r.samples.enumerated() where w.count == 11 {
                guard let op = OperationType(rawValue: UInt8(truncatingIfNeeded: w[2])) else { continue }
                let m = PersistenceMetrics(operationType: op, latencyNanos: w[3], memoryUsedBytes: w[5], diskBytesRead: w[6],
                                           diskBytesWritten: w[7], success: w[8] != 0, netBytesSent: w[9], netBytesReceived: w[10])
                samples.append(MetricSample(timestampNanos: w[0], thread: threadBase + Int(w[1]), metrics: m, intendedLatencyNanos: w[4],
                                            phase: k < r.samplePhases.count ? r.samplePhases[k] : ""))
            }
            threadBase += c.share.threads
            errors += r.errors.map { "agent \(c.address): \($0)" }
            digest = (digest ^ (UInt64(r.opStreamDigest, radix: 16) ?? 0)) &* 0x100_0000_01b3
            outcomes.append(AgentOutcome(address: c.address.description, index: c.share.index, hostname: r.hostname, threads: c.share.threads,
                                         insertStart: c.share.insertStart, insertCount: c.share.insertCount,
                                         operationCount: c.share.operationCount, targetOpsPerSecond: c.share.targetOpsPerSecond,
                                         seed: c.share.seed, loadSeconds: r.loadSeconds, runSeconds: r.runSeconds, operations: own,
                                         errors: r.errors))
        }
        samples.sort { $0.timestampNanos < $1.timestampNanos }
        let timeseries = try mergeTimeseries(results, connections: connections)
        let phases = mergePhases(results.map(\.phases))
        var run = BackendRun(
            backend: backend, durability: settings.durability(), promise: Engines.durabilityPromise(backend, settings.durability()),
            dataDirectory: nil, openSeconds: results.map(\.openSeconds).max() ?? 0, loadSeconds: results.map(\.loadSeconds).max() ?? 0,
            warmupSeconds: results.map(\.warmupSeconds).max() ?? 0, runSeconds: results.map(\.runSeconds).max() ?? 0,
            operations: operations, statsRows: [], timeseries: timeseries, samples: samples, opStreamDigest: digest,
            opStreamReproducible: results.allSatisfy(\.opStreamReproducible), finalStats: StorageStats(), errors: errors,
            target: Self.mergeTargets(results.compactMap(\.target)))
        run.phases = phases
        run.cpuSeconds = results.reduce(0) { $0 + $1.cpuSeconds }
        run.wallSeconds = results.map(\.wallSeconds).max() ?? 0
        run.agents = outcomes
        return run
    }

    /// Rows of the same phase, operation and interval (its index from the agent's start: the agents
    /// started at one barrier) merged: counts and rates added, histograms merged.
    func mergeTimeseries(_ results: [AgentResultMessage], connections: [Connection]) throws -> [TimeseriesRow] {
        struct Key: Hashable { var phase: String; var op: UInt8; var interval: Int }
        var rows: [Key: (row: TimeseriesRow, latency: LatencyHistogram?, intended: LatencyHistogram?)] = [:]
        let interval = workload.intervalSeconds
        for (c, r) in zip(connections, results) {
            for w in r.timeseries {
                guard let op = OperationType(wireName: w.operation) else { throw failure(c.address, "result names an unknown operation '\(w.operation)'") }
                let key = Key(phase: w.phase, op: op.rawValue, interval: Int((w.elapsedSeconds / interval - 1e-6).rounded(.up)))
                let lat: LatencyHistogram?, int: LatencyHistogram?
                do {
                    lat = try w.latency?.histogram()
                    int = try w.intended?.histogram()
                } catch let e as AgentWireError { throw failure(c.address, "result's timeseries histogram: \(e)") }
                let schedule = w.schedule.flatMap { $0.count == 3 ? ScheduleFigures(lateOps: $0[0], lagNanos: $0[1], backlogOps: $0[2]) : nil }
                if var m = rows[key] {
                    m.row.count += w.count
                    m.row.elapsedSeconds = max(m.row.elapsedSeconds, w.elapsedSeconds)
                    m.row.lengthSeconds = max(m.row.lengthSeconds, w.lengthSeconds)
                    m.row.achievedOpsPerSecond += w.achievedOpsPerSecond
                    m.row.targetOpsPerSecond += w.targetOpsPerSecond
                    if let s = schedule {
                        if m.row.schedule == nil { m.row.schedule = s } else { m.row.schedule!.merge(s) }
                    }
                    if let lat { if m.latency == nil { m.latency = lat } else { m.latency!.add(lat) } }
                    if let int { if m.intended == nil { m.intended = int } else { m.intended!.add(int) } }
                    rows[key] = m
                } else {
                    let row = TimeseriesRow(elapsedSeconds: w.elapsedSeconds, operation: op, count: w.count, opsPerSecond: 0, latency: nil,
                                            intendedLatency: nil, lengthSeconds: w.lengthSeconds, achievedOpsPerSecond: w.achievedOpsPerSecond,
                                            targetOpsPerSecond: w.targetOpsPerSecond, schedule: schedule, phase: w.phase)
                    rows[key] = (row, lat, int)
                }
            }
        }
        var out: [TimeseriesRow] = rows.values.map { m in
            var row = m.row
            row.opsPerSecond = row.lengthSeconds > 0 ? Double(row.count) / row.lengthSeconds : 0
            row.latency = m.latency.flatMap { $0.totalCount > 0 ? IntervalSummary($0) : nil }
            row.intendedLatency = m.intended.flatMap { $0.totalCount > 0 ? IntervalSummary($0) : nil }
            return row
        }
        let order = ["load": 0]
        out.sort { ($0.elapsedSeconds, $0.operation.rawValue, order[$0.phase] ?? 1) < ($1.elapsedSeconds, $1.operation.rawValue, order[$1.phase] ?? 1) }
        return out
    }

    func mergePhases(_ lists: [[WirePhase]]) -> [PhaseOutcome] {
        var out: [PhaseOutcome] = []
        var targets: [String: [WireTarget]] = [:]
        for list in lists {
            for p in list {
                if let t = p.target { targets[p.name, default: []].append(t) }
                if let k = out.firstIndex(where: { $0.name == p.name }) {
                    out[k].threads += p.threads
                    out[k].startSeconds = min(out[k].startSeconds, p.startSeconds)
                    out[k].endSeconds = max(out[k].endSeconds, p.endSeconds)
                    out[k].operations += p.operations
                } else {
                    out.append(PhaseOutcome(name: p.name, background: p.background, threads: p.threads, startSeconds: p.startSeconds,
                                            endSeconds: p.endSeconds, operations: p.operations))
                }
            }
        }
        for k in out.indices { out[k].target = Self.mergeTargets(targets[out[k].name] ?? []) }
        return out
    }

    /// The agents' schedules as one: targets, rates, threads, late operations and backlogs added; the
    /// worst lag and the furthest behind kept.
    static func mergeTargets(_ ts: [WireTarget]) -> TargetOutcome? {
        guard let first = ts.first else { return nil }
        var t = TargetOutcome(wire: first)
        for w in ts.dropFirst() {
            t.target += w.target
            t.achieved += w.achieved
            t.behindNanos = max(t.behindNanos, w.behindNanos)
            t.threads += w.threads
            t.maxLagNanos = max(t.maxLagNanos, w.maxLagNanos)
            t.lateOps += w.lateOps
            for (i, b) in w.backlogs.enumerated() {
                if i < t.backlogs.count { t.backlogs[i] += b } else { t.backlogs.append(b) }
            }
        }
        return t
    }
}

#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import ServerSupport

/// A managed etcd cluster of `etcd.members` members (3: one failure tolerated) on 127.0.0.1, each
/// with its own client and peer port and its own data directory under the store directory:
/// member 0 is `server/` (the one-member layout), member i `server-<i>/`, its log `server-<i>.log`
/// and its pid `server-<i>.pid`. The ports are chosen once, when the cluster is created, and kept in
/// `cluster.ports` (a line `<client> <peer>` per member): a member's peer URL is part of the
/// cluster's membership, so a restarted member must listen where it did.
///
/// All members start together (a member serves only once a quorum has elected a leader) and the
/// cluster is ready when every member's `/health` answers true. A member killed by the crash lab is
/// restarted on its data directory with the same flags (etcd ignores the initial-cluster flags once
/// its data directory has a WAL) and rejoins as a follower.
final class EtcdCluster: @unchecked Sendable {
    struct Member {
        var index: Int
        var name: String
        var data: String
        var log: String
        var pidFile: String
        var clientPort: Int
        var peerPort: Int
    }

    static let portsFile = "cluster.ports"

    let directory: String
    let members: [Member]
    let executable: String
    let access: StoreAccess
    private let token: String
    private let servers: Lock<[ManagedServer?]>
    /// Logs written outside the store (a read-only open), removed at stop.
    let temporaryLogs: [String]

    /// The store entries of a cluster of `n` members (beyond `ServerStoreDirectory.entries`).
    static func entries(upTo n: Int) -> [String] {
        [portsFile] + (1..<max(n, 8)).flatMap { ["server-\($0)", "server-\($0).log", "server-\($0).pid"] }
    }

    static func memberName(_ i: Int) -> String { i == 0 ? EtcdServer.memberName : "\(EtcdServer.memberName)-\(i)" }
    static func dataName(_ i: Int) -> String { i == 0 ? ServerStoreDirectory.serverData : "server-\(i)" }

    private init(directory: String, members: [Member], executable: String, access: StoreAccess, token: String, temporaryLogs: [String]) {
        self.directory = directory
        self.members = members
        self.executable = executable
        self.access = access
        self.token = token
        self.temporaryLogs = temporaryLogs
        servers = Lock(Array(repeating: nil, count: members.count))
    }

    /// Starts (creating on a read-write open of an empty store) the cluster of `options.members` members.
    static func start(directory: String, options: EtcdOptions, access: StoreAccess) throws -> EtcdCluster {
        let fs = POSIXFileSystem()
        let n = options.members
        if access == .readWrite { try ServerStoreDirectory.prepare(directory, backend: EtcdDescriptor.name) }
        let portsPath = joinPath(directory, portsFile)
        let existing = try fs.exists(portsPath)
        if !existing, try fs.exists(joinPath(directory, joinPath(ServerStoreDirectory.serverData, "member"))) {
            throw OrbitError(.invalidConfig, "\(directory) holds a one-member etcd store; etcd.members=\(n) needs a store of its own",
                             at: "etcd.members", hint: "point --data-dir at another directory (or --fresh); nothing was written")
        }
        if access == .readOnly, !existing {
            throw OrbitError(.notFound, "\(directory) holds no etcd cluster (\(portsPath))",
                             hint: "a read-only command needs a store an earlier read-write run made; nothing was written")
        }
        let exe = try EtcdServer.binary(options)
        var attempt = 0
        while true {
            attempt += 1
            var ports: [(Int, Int)] = []
            if existing {
                let text = String(decoding: try fs.readFile(portsPath), as: UTF8.self)
                for line in text.split(separator: "\n") {
                    let f = line.split(separator: " ")
                    guard f.count == 2, let c = Int(f[0]), let p = Int(f[1]) else {
                        throw OrbitError(.corruption, "bad line '\(line)' (expected '<client port> <peer port>')", at: portsPath,
                                         hint: "the file orbit-bench wrote when it created the cluster; remove the store with --fresh")
                    }
                    ports.append((c, p))
                }
                guard ports.count == n else {
                    throw OrbitError(.invalidConfig, "the etcd cluster in \(directory) has \(ports.count) members, etcd.members is \(n)",
                                     at: "etcd.members", hint: "set etcd.members=\(ports.count) for this store, or use another --data-dir")
                }
            } else {
                var taken = Set<Int>()
                while ports.count < n {
                    let c = try LoopbackPort.free(), p = try LoopbackPort.free()
                    guard c != p, !taken.contains(c), !taken.contains(p) else { continue }
                    taken.formUnion([c, p])
                    ports.append((c, p))
                }
            }
            var temporary: [String] = []
            let members = (0..<n).map { i -> Member in
                let log: String
                if access == .readOnly {
                    log = "/tmp/orbit-etcd-\(getpid())-\(i)-\(UInt64.random(in: 0...UInt64.max)).log"
                    temporary.append(log)
                } else {
                    log = joinPath(directory, i == 0 ? ServerStoreDirectory.log : "server-\(i).log")
                }
                return Member(index: i, name: memberName(i), data: joinPath(directory, dataName(i)), log: log,
                              pidFile: joinPath(directory, i == 0 ? EtcdServer.pidFile : "server-\(i).pid"),
                              clientPort: ports[i].0, peerPort: ports[i].1)
            }
            let cluster = EtcdCluster(directory: directory, members: members, executable: exe, access: access,
                                      token: "orbit-\(UInt64.random(in: 0...UInt64.max))", temporaryLogs: temporary)
            let logStarts = members.map { ManagedServer.fileSize($0.log) }
            do {
                for m in members { try cluster.spawn(m.index, new: !existing) }
                try cluster.awaitHealthy(members.map(\.index))
            } catch {
                cluster.stop()
                let portTaken = members.contains { m in
                    ServerLog.tail(m.log, lines: 40, from: logStarts[m.index]).contains(where: ManagedServer.saysPortTaken)
                }
                if !existing, portTaken, attempt < 3 {
                    for m in members { try? fs.removeTree(m.data) }  // this attempt's fresh members: ours
                    continue
                }
                throw error
            }
            if access == .readWrite, !existing {
                try fs.writeFileAtomically(portsPath, Array(ports.map { "\($0.0) \($0.1)\n" }.joined().utf8))
            }
            return cluster
        }
    }

    var initialCluster: String {
        members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
    }

    /// Starts member `i`'s process (not waiting for it).
    private func spawn(_ i: Int, new: Bool) throws {
        let m = members[i]
        let client = "http://127.0.0.1:\(m.clientPort)", peer = "http://127.0.0.1:\(m.peerPort)"
        let args = ["--name", m.name, "--data-dir", m.data,
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", initialCluster, "--initial-cluster-state", new ? "new" : "existing",
                    "--initial-cluster-token", token] + EtcdServer.fixedFlags
        let process = try ServerProcess(ServerProcess.Spec(name: "etcd \(m.name)", executable: executable, arguments: args,
                                                           workingDirectory: directory, logFile: m.log, stopSignal: SIGTERM))
        servers.withLock { $0[i] = ManagedServer(name: "etcd member \(m.name) (\(directory))", port: m.clientPort, logFile: m.log, process: process) }
        if access == .readWrite {
            try POSIXFileSystem().writeFileAtomically(m.pidFile, Array("\(process.pid)\n".utf8))
        }
    }

    /// Waits until every member of `indices` answers `/health` true (at most 60 s); throws naming
    /// the member and its log when one exits or does not answer.
    func awaitHealthy(_ indices: [Int], timeoutNanos: UInt64 = 60_000_000_000) throws {
        let deadline = MonotonicClock.nanoseconds() &+ timeoutNanos
        var pending = Set(indices)
        while !pending.isEmpty {
            for i in pending.sorted() {
                let m = members[i]
                guard let s = server(i) else { continue }
                if let status = s.process.exitStatus {
                    throw OrbitError(.engine, "etcd member \(m.name) exited while starting (\(describeWaitStatus(status)))", at: m.log,
                                     hint: ServerLog.tailHint(m.log))
                }
                if EtcdServer.healthy(m.clientPort) { pending.remove(i) }
            }
            if pending.isEmpty { return }
            if MonotonicClock.nanoseconds() >= deadline {
                let m = members[pending.sorted()[0]]
                throw OrbitError(.engine, "etcd member \(m.name) did not answer /health on 127.0.0.1:\(m.clientPort) within \(timeoutNanos / 1_000_000_000) s",
                                 at: m.log, hint: ServerLog.tailHint(m.log))
            }
            usleep(20_000)
        }
    }

    func server(_ i: Int) -> ManagedServer? { servers.withLock { $0[i] } }

    func isRunning(_ i: Int) -> Bool { server(i)?.process.isRunning ?? false }

    /// The client endpoints of the members that run now, in member order.
    var liveEndpoints: [(host: String, port: Int)] {
        members.filter { isRunning($0.index) }.map { ("127.0.0.1", $0.clientPort) }
    }

    /// SIGKILLs member `i`'s process (`ServerProcess.crash`). False when it was not running.
    @discardableResult
    func crash(_ i: Int) throws -> Bool { try server(i)?.process.crash() ?? false }

    /// Restarts a killed member on its data directory and waits until every member is healthy.
    func restart(_ i: Int) throws {
        if let s = server(i) {
            guard !s.process.isRunning else { return }
            s.process.stop()  // joins its keeper
        }
        try spawn(i, new: false)
        try awaitHealthy(members.map(\.index))
    }

    /// Stops every member (SIGTERM, then SIGKILL after the grace) and removes temporary logs.
    func stop() {
        let all = servers.withLock { $0 }
        for s in all.reversed() { if let s { try? s.stop() } }
        for l in temporaryLogs { unlink(l) }
    }
}

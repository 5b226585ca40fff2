public import OrbitCore
import ServerSupport

/// The crash lab's view of a managed etcd cluster (`node-kill`): members and their raft roles
/// (Maintenance.Status asked of each member: `leader` against the member's own id), a member
/// killed and restarted. etcd elects a new leader by itself, so failing over is nothing to do.
extension EtcdEngine: ClusterBackedEngine {
    public static var clusterHint: String { "\(EtcdDescriptor.name).members=3" }
    /// The leader in odd cycles, a follower in even ones.
    public static var nodeKillRoles: [String] { ["leader", "follower"] }

    public func clusterNodes() throws -> [ClusterNode] {
        guard let cluster else {
            let pid = session.server?.process.pid ?? 0
            return [ClusterNode(index: 0, name: "\(EtcdDescriptor.name) member \(EtcdServer.memberName)", role: "leader", pid: pid)]
        }
        return try cluster.members.map { m in
            let pid = cluster.server(m.index)?.process.pid ?? 0
            let name = "\(EtcdDescriptor.name) member \(m.name)"
            guard cluster.isRunning(m.index) else { return ClusterNode(index: m.index, name: name, role: "down", pid: pid) }
            let c = try EtcdConnection(host: "127.0.0.1", port: m.clientPort, credentials: nil, countNetBytes: false,
                                       what: "127.0.0.1:\(m.clientPort)")
            defer { c.disconnect() }
            let status: Etcdserverpb_StatusResponse = try c.message("Status", Etcdserverpb_Maintenance.Method.Status.descriptor,
                                                                    Etcdserverpb_StatusRequest())
            let role = status.leader == 0 ? "candidate" : (status.leader == status.header.memberID ? "leader" : "follower")
            return ClusterNode(index: m.index, name: name, role: role, pid: pid)
        }
    }

    public func killNode(_ index: Int) throws {
        guard let cluster, cluster.members.indices.contains(index) else {
            throw OrbitError(.unsupported, "the \(EtcdDescriptor.name) engine has no cluster member \(index)", hint: "set \(Self.clusterHint)")
        }
        _ = try cluster.crash(index)
    }

    /// Nothing: the remaining members elect a leader among themselves.
    public func failOver(afterKilling index: Int) throws {}

    public func restartNode(_ index: Int) throws {
        guard let cluster else { return }
        try cluster.restart(index)
    }

    public func reconnectCallingThread() { session.connections.dropCurrent() }

    /// A cluster's crash is every member's (the server-kill sweep's whole-server crash).
    public func killServer() throws -> Bool {
        guard let cluster else { return try session.server?.process.crash() ?? false }
        var any = false
        for m in cluster.members { if try cluster.crash(m.index) { any = true } }
        return any
    }
}

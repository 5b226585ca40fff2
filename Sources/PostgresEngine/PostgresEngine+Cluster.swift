public import OrbitCore
import ServerSupport

/// The crash lab's view of a managed primary and standby (`node-kill`; `PostgresCluster`): roles
/// from `pg_is_in_recovery()`, the primary killed in odd cycles and the standby in even ones; a
/// failover promotes the standby (or, when the standby died, stops the primary waiting for it).
extension PostgresEngine: ClusterBackedEngine {
    public static var clusterHint: String { "\(PostgresDescriptor.name).standby=sync" }
    public static var nodeKillRoles: [String] { ["primary", "standby"] }

    public func clusterNodes() throws -> [ClusterNode] {
        guard let cluster else {
            return [ClusterNode(index: 0, name: "\(PostgresDescriptor.name) server", role: "primary", pid: session.server?.process.pid ?? 0)]
        }
        return try cluster.nodes.map { n in
            ClusterNode(index: n.index, name: n.what, role: try cluster.role(n.index), pid: cluster.server(n.index)?.process.pid ?? 0)
        }
    }

    public func killNode(_ index: Int) throws {
        guard let cluster, cluster.nodes.indices.contains(index) else {
            throw OrbitError(.unsupported, "the \(PostgresDescriptor.name) engine has no cluster node \(index)", hint: "set \(Self.clusterHint)")
        }
        try cluster.crash(index)
    }

    public func failOver(afterKilling index: Int) throws { try cluster?.failOver(afterKilling: index) }

    public func restartNode(_ index: Int) throws { try cluster?.restart(index) }

    public func reconnectCallingThread() { session.connections.dropCurrent() }

    /// A cluster's crash is both nodes' (the server-kill sweep's whole-server crash).
    public func killServer() throws -> Bool {
        guard let cluster else { return try session.server?.process.crash() ?? false }
        var any = false
        for n in cluster.nodes { if try cluster.crash(n.index) { any = true } }
        return any
    }
}

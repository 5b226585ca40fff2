/// One node of a replicated server cluster, as the cluster reports it now.
public struct ClusterNode: Sendable, Hashable, CustomStringConvertible {
    /// The node's index in the cluster (stable over kills and restarts).
    public var index: Int
    /// "etcd member 1", "postgres standby".
    public var name: String
    /// What the node does now: `leader` / `follower` (a consensus cluster), `primary` / `standby`
    /// (primary-standby replication), `down` (killed, not restarted yet).
    public var role: String
    public var pid: Int32

    public init(index: Int, name: String, role: String, pid: Int32) {
        self.index = index
        self.name = name
        self.role = role
        self.pid = pid
    }

    public var description: String { "\(name) (\(role), pid \(pid))" }
}

/// A server-backed engine whose managed server is a replicated cluster (several processes on
/// loopback), so the crash lab's `node-kill` can kill one node while clients write, without naming
/// the engine: list the nodes with their roles, kill one (SIGKILL of its process tree), fail over
/// (whatever the cluster needs the harness to do: promote a standby, point the clients at it), and
/// restart the killed node and wait until it has rejoined. A cluster of one node (the default
/// configuration) reports one node; the sweep refuses it with `clusterHint`.
public protocol ClusterBackedEngine: ServerBackedEngine {
    /// The setting that makes this engine a cluster ("etcd.members=3"), for the refusal's hint.
    static var clusterHint: String { get }
    /// The roles `node-kill` kills, in turn over its cycles (["leader", "follower"]; ["primary"]).
    static var nodeKillRoles: [String] { get }
    /// Every node with its current role (asks the servers; a killed node is `down`).
    func clusterNodes() throws -> [ClusterNode]
    /// SIGKILLs node `index` (its whole process tree) and waits until it is gone. Client
    /// connections to it fail from here on.
    func killNode(_ index: Int) throws
    /// After a kill: what the harness must do for the cluster to serve writes again (a consensus
    /// cluster elects a leader by itself: nothing; primary-standby: promote the standby and point
    /// new client connections at it). Returns once that is done (not when clients have reconnected).
    func failOver(afterKilling index: Int) throws
    /// Restarts the killed node on its data (rebuilt from the current primary where it must be) and
    /// returns once it has rejoined the cluster (replicating again, every node healthy).
    func restartNode(_ index: Int) throws
    /// Drops the calling thread's connection (after a failed call), so its next call connects
    /// again to a node that serves.
    func reconnectCallingThread()
}

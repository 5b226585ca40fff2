public import OrbitCore
import ServerSupport

/// The crash lab's view of a managed SeaweedFS cluster (`node-kill`): the nodes it kills are the
/// volume servers (where the objects' bytes live; replication `001` keeps each on two of them). Role
/// `volume`: running and listed by the master; `joining`: running, not listed (yet); `down`: killed.
/// SeaweedFS fails over by itself: the master drops a volume server as soon as its heartbeat stream
/// breaks and assigns new writes to volumes whose replicas are all up; writes that were on their way
/// to the killed one fail (or are retried, `s3.max_retries`) until then, and are measured as such.
/// A restarted volume server runs on its own directory and ports, and has rejoined once the master
/// lists it again with every volume it had (`SeaweedCluster.restartVolume`).
extension S3Engine: ClusterBackedEngine {
    public static var clusterHint: String { "\(S3Descriptor.name).volume_servers=3 (a managed SeaweedFS cluster, with \(S3Descriptor.name).replication=001)" }
    public static var nodeKillRoles: [String] { ["volume"] }

    public func clusterNodes() throws -> [ClusterNode] {
        guard let cluster else { return [] }  // an external endpoint: nothing the harness may kill
        return cluster.volumes.enumerated().map { i, v in
            let role = !v.process.isRunning ? "down" : (cluster.listedVolumes(port: v.port) != nil ? "volume" : "joining")
            return ClusterNode(index: i, name: "\(S3Descriptor.name) volume server \(i + 1)", role: role, pid: v.process.pid)
        }
    }

    public func killNode(_ index: Int) throws {
        guard let cluster, cluster.volumes.indices.contains(index) else {
            throw OrbitError(.unsupported, "the \(S3Descriptor.name) engine has no managed volume server \(index + 1)", hint: "set \(Self.clusterHint)")
        }
        try cluster.crashVolume(index)
    }

    /// Nothing: the master notices by itself (the volume server's heartbeat stream ends with it).
    public func failOver(afterKilling index: Int) throws {}

    public func restartNode(_ index: Int) throws { try cluster?.restartVolume(index) }

    public func reconnectCallingThread() { session.connections.dropCurrent() }
}

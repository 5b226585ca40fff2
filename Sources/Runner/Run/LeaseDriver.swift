import Leases
import OrbitCore
import Workloads

/// Lease operations over a LeaseDirectory on the engine (lease workloads only): the seeds' actor-lease
/// domain. Record r is the actor "a<r>" of addressable type "ActorType<r mod types>", held by node
/// "node-<fnv(r) mod nodes>". Type and node names are built once; the actor key is a small string
/// (13 bytes, stored inline: no heap allocation).
struct LeaseDriver<E: StorageEngine>: Sendable {
    let directory: LeaseDirectory<E>
    let workload: Workload
    let types: [String]
    let nodes: [NodeId]
    let clock = SystemWallClock()

    init(engine: E, workload: Workload) {
        directory = LeaseDirectory(engine: engine, clock: SystemWallClock())
        self.workload = workload
        types = (0..<workload.leaseActorTypes).map { "ActorType\($0)" }
        nodes = (0..<workload.leaseNodes).map { NodeId("node-\($0)") }
    }

    @inline(__always)
    func reference(_ record: UInt64) -> AddressableReference {
        AddressableReference(addressableType: types[Int(record % UInt64(types.count))], key: "a\(record)")
    }

    @inline(__always)
    func node(_ record: UInt64) -> NodeId { nodes[Int(fnv1a64(record) % UInt64(nodes.count))] }

    func store(record: UInt64, thread: Int) throws {
        try directory.store(AddressableLease(reference: reference(record), nodeId: node(record),
                                             grantedAt: clock.nowMillis(), duration: Int64(workload.leaseDurationMillis)))
    }

    /// Returns whether the lease (or list) was found.
    func execute(_ op: Op, thread: Int) throws -> Bool {
        switch op.type {
        case .leaseStore:
            try store(record: op.record, thread: thread)
            return true
        case .leaseRenew:
            return try directory.renew(reference(op.record), duration: Int64(workload.leaseDurationMillis)) != nil
        case .leaseGet:
            return try directory.get(reference(op.record)) != nil
        case .leaseRemove:
            return try directory.remove(reference(op.record))
        case .leaseListNode:
            return try !directory.listLeases(node: nodes[op.count]).isEmpty
        case .leaseRangeQuery:
            let r = workload.scanLength
            let limit = r.lowerBound + Int(op.salt % UInt64(r.count))
            return try !directory.leases(ofType: types[op.count], limit: limit).isEmpty
        case .leaseCleanup:
            return try directory.cleanupExpired() > 0
        default:
            throw OrbitError(.unsupported, "operation \(op.type) is not a lease operation")
        }
    }
}

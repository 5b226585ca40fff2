/// The kinds of operation the metering layer times. Names are the seeds' `OperationType`, spelled
/// as they appear in CSV files (`operation` column) and histogram file names.
public enum OperationType: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case insert
    case update
    case get
    case delete
    case rangeQuery
    case readModifyWrite
    case batch
    case snapshot
    case recovery
    /// Inserts of the load phase (timed, reported apart from the run phase).
    case load
    case leaseStore
    case leaseRenew
    case leaseGet
    case leaseRemove
    case leaseListNode
    case leaseRangeQuery
    case leaseCleanup

    public var name: String {
        switch self {
        case .insert: "insert"
        case .update: "update"
        case .get: "get"
        case .delete: "delete"
        case .rangeQuery: "range_query"
        case .readModifyWrite: "read_modify_write"
        case .batch: "batch"
        case .snapshot: "snapshot"
        case .recovery: "recovery"
        case .load: "load"
        case .leaseStore: "lease_store"
        case .leaseRenew: "lease_renew"
        case .leaseGet: "lease_get"
        case .leaseRemove: "lease_remove"
        case .leaseListNode: "lease_list_node"
        case .leaseRangeQuery: "lease_range_query"
        case .leaseCleanup: "lease_cleanup"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let op = OperationType.allCases.first(where: { $0.name == name }) else { return nil }
        self = op
    }

    /// Whether the operation changes the store (for MB/s and write accounting).
    public var isWrite: Bool {
        switch self {
        case .insert, .update, .delete, .readModifyWrite, .batch, .load, .leaseStore, .leaseRenew, .leaseRemove, .leaseCleanup: true
        default: false
        }
    }
}

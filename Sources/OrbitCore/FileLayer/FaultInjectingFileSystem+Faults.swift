// Injected I/O errors: rules that make matching calls fail with an errno (ENOSPC, EIO, ...), in the
// same shape as `POSIXFileSystem`'s errors, so engines cannot tell them from real ones.

/// The calls a fault can be injected into.
public enum FileOperation: String, Sendable, Hashable, CaseIterable {
    case read, write, append, truncate, fsync, fdatasync, syncDirectory, open, rename, remove
    case createDirectory, removeDirectory, list

    /// Both file syncs.
    public static let fileSyncs: Set<FileOperation> = [.fsync, .fdatasync]
    /// Every call that writes file contents.
    public static let writes: Set<FileOperation> = [.write, .append, .truncate]
}

/// A rule: calls of `operations` on paths ending with `pathSuffix` fail with `errno`, after
/// `after` matching calls have passed, `count` times (nil: every later matching call, "sticky").
public struct Fault: Sendable, Hashable, CustomStringConvertible {
    public var errno: Errno
    public var operations: Set<FileOperation>
    /// nil matches every path; ".log", "MANIFEST-000003", "/CURRENT" match by suffix. A rename
    /// matches on its source or its destination.
    public var pathSuffix: String?
    public var after: Int
    public var count: Int?

    public init(_ errno: Errno, on operations: Set<FileOperation>, pathSuffix: String? = nil, after: Int = 0, count: Int? = 1) {
        self.errno = errno
        self.operations = operations
        self.pathSuffix = pathSuffix
        self.after = after
        self.count = count
    }

    public init(_ errno: Errno, on operation: FileOperation, pathSuffix: String? = nil, after: Int = 0, count: Int? = 1) {
        self.init(errno, on: [operation], pathSuffix: pathSuffix, after: after, count: count)
    }

    public var description: String {
        let ops = operations.map(\.rawValue).sorted().joined(separator: "|")
        return "\(errno.name)@\(ops)" + (pathSuffix.map { " *\($0)" } ?? "") + " after \(after)"
            + (count.map { " x\($0)" } ?? " sticky")
    }
}

/// One injected failure that happened: "ENOSPC@append#37 /db/000005.log" (the 37th matching call).
public struct FiredFault: Sendable, Hashable, CustomStringConvertible {
    public var errno: Errno
    public var operation: FileOperation
    /// The rule's matching-call number that failed (1-based).
    public var call: Int
    public var path: String

    public var description: String { "\(errno.name)@\(operation.rawValue)#\(call) \(path)" }
}

struct RuleState: Sendable {
    var fault: Fault
    var matched = 0
    var fired = 0
}

extension FaultInjectingFileSystem {
    /// Adds a fault rule; rules are tried in the order they were added, the first that fires wins.
    public func inject(_ fault: Fault) {
        state.withLock { $0.rules.append(RuleState(fault: fault)) }
    }

    /// Removes every fault rule (the faults already fired stay in `firedFaults`, and what they did
    /// to the files stays done).
    public func clearFaults() { state.withLock { $0.rules = [] } }

    /// The calls made so far, per operation (to aim a fault at the N-th call of a kind).
    public var callCounts: [FileOperation: Int] { state.withLock { $0.calls } }

    /// Every injected failure so far, in order.
    public var firedFaults: [FiredFault] { state.withLock { $0.fired } }

    /// What a failed fsync/fdatasync leaves on the disk (default `.dropAll`; see `SyncFailureModel`).
    public func setSyncFailureModel(_ model: SyncFailureModel) { state.withLock { $0.syncFailureModel = model } }

    /// Whether a failed write or append leaves a random prefix of its bytes written (true, the
    /// default: what a pwrite loop failing part way can leave) or nothing.
    public func setPartialWrites(_ on: Bool) { state.withLock { $0.partialWrite = on } }
}

extension State {
    mutating func matchFault(_ operation: FileOperation, path: String, otherPath: String?) -> Errno? {
        for i in rules.indices {
            let f = rules[i].fault
            guard f.operations.contains(operation) else { continue }
            if let suffix = f.pathSuffix, !path.hasSuffix(suffix), !(otherPath?.hasSuffix(suffix) ?? false) { continue }
            rules[i].matched += 1
            guard rules[i].matched > f.after, f.count.map({ rules[i].fired < $0 }) ?? true else { continue }
            rules[i].fired += 1
            fired.append(FiredFault(errno: f.errno, operation: operation, call: rules[i].matched, path: path))
            return f.errno
        }
        return nil
    }
}

/// What a failed fsync/fdatasync did with the changes it covered. Linux marks the pages whose
/// writeback failed clean (their bytes stay in the cache, and reads see them) and reports the error
/// once; a later sync succeeds without writing them.
public enum SyncFailureModel: Sendable, Hashable {
    /// Every change since the file's last sync is dropped (no page of it was written).
    case dropAll
    /// Each page of that many bytes the changes dirtied was written or dropped independently (seeded
    /// by the file system's seed); a dropped page that a later change dirties again is written whole
    /// by the next successful sync, its dropped bytes included (as the kernel writes pages).
    case pages(Int)
    /// Every page of that many bytes the changes dirtied was dropped; one dirtied again is written
    /// whole by the next successful sync. (Unlike `.dropAll`, a later write into a dropped page
    /// brings the page's dropped bytes back, as a real page cache does.)
    case allPages(Int)

    var pageSize: Int? {
        switch self {
        case .dropAll: nil
        case .pages(let n), .allPages(let n): n
        }
    }
}

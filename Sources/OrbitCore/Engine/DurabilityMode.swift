/// When a write is acknowledged relative to it reaching stable storage. Every workload and every
/// table row names one.
public enum DurabilityMode: Sendable, Hashable, CustomStringConvertible {
    /// Writes reach the OS before acknowledgement: survive a process kill, not a power loss.
    case none
    /// fdatasync (or fsync) before each write is acknowledged.
    case everyWrite
    /// Concurrent writers share one sync; each is acknowledged after the sync that covers it.
    case group
    /// A background sync every `milliseconds`: a bounded loss window on power loss.
    case periodic(milliseconds: Int)

    public static let defaultPeriodMillis = 100
    public static let allowedSpellings = "none, every-write, group, periodic, periodic:<ms> (1...60000)"

    public var description: String {
        switch self {
        case .none: "none"
        case .everyWrite: "every-write"
        case .group: "group"
        case .periodic(let ms): ms == Self.defaultPeriodMillis ? "periodic" : "periodic:\(ms)"
        }
    }

    /// Parses `none`, `every-write`, `group`, `periodic`, `periodic:250` (also `periodic(250ms)`).
    public init?(parsing text: String) {
        let t = text.lowercased()
        switch t {
        case "none": self = .none
        case "every-write", "every_write", "everywrite", "sync": self = .everyWrite
        case "group": self = .group
        case "periodic": self = .periodic(milliseconds: Self.defaultPeriodMillis)
        default:
            var rest: Substring
            if t.hasPrefix("periodic:") { rest = t.dropFirst("periodic:".count) }
            else if t.hasPrefix("periodic("), t.hasSuffix(")") {
                rest = t.dropFirst("periodic(".count).dropLast()
                if rest.hasSuffix("ms") { rest = rest.dropLast(2) }
            } else { return nil }
            guard let ms = Int(rest), (1...60_000).contains(ms) else { return nil }
            self = .periodic(milliseconds: ms)
        }
    }

    /// Whether an acknowledged write has been synced to stable storage.
    public var syncsBeforeAck: Bool {
        switch self {
        case .everyWrite, .group: true
        case .none, .periodic: false
        }
    }
}

/// What an engine promises to keep after a crash, for one durability mode. CrashLab verifies it;
/// reports print it beside the figures.
public struct DurabilityPromise: Sendable, Hashable, CustomStringConvertible {
    public enum Survives: String, Sendable {
        /// Nothing survives (in-memory engine).
        case nothing
        /// Acknowledged writes survive a process kill (they reached the OS), not a power loss.
        case processCrash = "process-crash"
        /// Acknowledged writes survive a power loss.
        case powerLoss = "power-loss"
        /// Writes older than the period survive a power loss; newer ones survive a process kill.
        case powerLossBoundedWindow = "power-loss-bounded-window"
    }
    public var survives: Survives
    public var note: String

    public init(_ survives: Survives, _ note: String) {
        self.survives = survives
        self.note = note
    }

    public var description: String { "\(survives.rawValue): \(note)" }
}

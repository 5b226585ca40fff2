/// How an engine opens a store (docs: README "Your stores are safe").
public enum StoreAccess: Sendable, Equatable {
    /// May create a store in a missing or empty directory, and may write.
    case readWrite
    /// Opens an existing store of this engine and changes no byte on disk: no file is created,
    /// written, renamed, truncated or removed (a lock file's holder note aside). Recovery (WAL replay)
    /// happens in memory. Every write call throws `OrbitError.Code.readOnly`.
    case readOnly
}

/// What an engine finds in a directory, from its own on-disk markers only, before it opens or
/// creates anything there.
public enum StoreRecognition: Sendable, Equatable {
    /// The directory is missing, or empty: a command that writes may create a store in it.
    case empty
    /// A store of this engine; `markers` names the files (and magics) that say so.
    case ours(markers: [String])
    /// Not a store of this engine: `found` names what is there (a few file names, sorted).
    case notOurs(found: [String])
}

/// The largest key and value an engine stores, so a workload that exceeds them is refused before
/// any store is opened or deleted.
public struct EngineLimits: Sendable, Equatable {
    public var maxKeySize: Int
    public var maxValueSize: Int

    public init(maxKeySize: Int, maxValueSize: Int) {
        self.maxKeySize = maxKeySize
        self.maxValueSize = maxValueSize
    }

    public static let unlimited = EngineLimits(maxKeySize: Int.max, maxValueSize: Int.max)
}

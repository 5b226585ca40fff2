#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An exclusive lock on a store, held from `FileSystem.lock(_:)` until `release()` or until the
/// token is freed (a store's LOCK file: two processes, or two opens in one process, must not open
/// the same store).
///
/// Thread-safe; releasing twice is harmless.
public final class FileLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let releaser: Mutex<(@Sendable () -> Void)?>

    public init(path: String, release: @escaping @Sendable () -> Void) {
        self.path = path
        releaser = Mutex(release)
    }

    /// Gives the lock up.
    public func release() {
        let body = releaser.withLock { r -> (@Sendable () -> Void)? in
            defer { r = nil }
            return r
        }
        body?()
    }

    deinit { release() }

    /// The error for a lock another holder has: names the path and, when known, the holder.
    public static func heldError(_ path: String, holder: String?) -> OrbitError {
        OrbitError(.io, "the store is in use: its lock file is held" + (holder.map { " by \($0)" } ?? " by another open"),
                   at: path, hint: "close the other open of this store (or stop that process) first; one process, one open at a time",
                   underlying: "EWOULDBLOCK")
    }
}

/// The default `FileSystem.lock(_:)`: a process-wide table of held paths (for file systems that
/// are not the real one, e.g. in-memory or fault-injecting ones). It excludes opens in this
/// process only; `POSIXFileSystem` uses flock(2), which also excludes other processes.
enum ProcessLockTable {
    static let held = Mutex<Set<String>>([])

    static func acquire(_ path: String) throws -> FileLock {
        let ok = held.withLock { $0.insert(path).inserted }
        guard ok else { throw FileLock.heldError(path, holder: "another open in this process") }
        return FileLock(path: path) { _ = held.withLock { $0.remove(path) } }
    }
}

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
    private let releaser: Lock<(@Sendable () -> Void)?>

    public init(path: String, release: @escaping @Sendable () -> Void) {
        self.path = path
        releaser = Lock(release)
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
                   cause: .library("EWOULDBLOCK"))
    }
}

/// Who holds which lock paths, for the in-process lock tables: -1 an exclusive holder, n > 0 that
/// many shared holders.
public final class LockCounts: Sendable {
    public init() {}
    let held = Lock<[String: Int]>([:])

    public func acquire(_ path: String, key: String, shared: Bool, holder: String) throws -> FileLock {
        let ok = held.withLock { h -> Bool in
            let n = h[key] ?? 0
            if shared { guard n >= 0 else { return false }; h[key] = n + 1 } else { guard n == 0 else { return false }; h[key] = -1 }
            return true
        }
        guard ok else { throw FileLock.heldError(path, holder: holder) }
        return FileLock(path: path) { [self] in
            held.withLock { h in
                let n = h[key] ?? 0
                if n > 1 { h[key] = n - 1 } else { h[key] = nil }
            }
        }
    }
}

/// The default `FileSystem.lock(_:)` and `lockShared(_:)`: a process-wide table of held paths (for
/// file systems that are not the real one). It excludes opens in this process only;
/// `POSIXFileSystem` uses flock(2), which also excludes other processes.
enum ProcessLockTable {
    static let table = LockCounts()

    static func acquire(_ path: String, shared: Bool = false) throws -> FileLock {
        try table.acquire(path, key: path, shared: shared, holder: "another open in this process")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A C `errno` value, named the way the C headers name it.
///
/// The file layer turns every failed system call into an `OrbitError(.io, ...)` whose cause is the
/// errno (`OrbitError.Cause.errno`): shown with the C name first ("ENOSPC: No space left on
/// device"), so a person can search for it, and tested as a value (`OrbitError.errno`, `hasErrno`).
/// A fault-injecting file system builds its simulated failures with the same `orbitError(_:at:)`,
/// so they cannot be told apart from real ones.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(errno) }

    /// The C name ("ENOENT"), or "errno N" for values this table does not know.
    public var name: String {
        for (value, name) in Self.names where value == rawValue { return name }
        return "errno \(rawValue)"
    }

    /// `strerror` text. glibc's `strerror` returns static strings for known values (MT-safe since 2.32).
    public var message: String { String(cString: strerror(rawValue)) }

    /// "ENOSPC: No space left on device".
    public var description: String { "\(name): \(message)" }

    /// The error the file layer throws: `what` failed at `location`, caused by this errno.
    /// - Parameters:
    ///   - what: the operation, as "open failed", "fsync failed".
    ///   - location: the path, or "path @ offset N" for positioned I/O.
    public func orbitError(_ what: String, at location: String) -> OrbitError {
        OrbitError(.io, what, at: location, hint: hint, cause: .errno(self))
    }

    /// What to do, for the errors a user can act on.
    var hint: String? {
        switch rawValue {
        case ENOSPC: "free space on the data directory's file system"
        case EDQUOT: "raise the disk quota or free space"
        case EMFILE: "raise the open-file limit (ulimit -n)"
        case ENFILE: "the system's open-file table is full"
        case EROFS: "the file system is mounted read-only"
        case EACCES, EPERM: "check the permissions of the data directory"
        default: nil
        }
    }

    // The values common to file I/O. Order matters only where two names share a value
    // (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP on Linux): the first one listed wins.
    static let names: [(Int32, String)] = [
        (EPERM, "EPERM"), (ENOENT, "ENOENT"), (EINTR, "EINTR"), (EIO, "EIO"), (ENXIO, "ENXIO"),
        (EBADF, "EBADF"), (EAGAIN, "EAGAIN"), (ENOMEM, "ENOMEM"), (EACCES, "EACCES"), (EFAULT, "EFAULT"),
        (EBUSY, "EBUSY"), (EEXIST, "EEXIST"), (EXDEV, "EXDEV"), (ENODEV, "ENODEV"), (ENOTDIR, "ENOTDIR"),
        (EISDIR, "EISDIR"), (EINVAL, "EINVAL"), (ENFILE, "ENFILE"), (EMFILE, "EMFILE"), (ETXTBSY, "ETXTBSY"),
        (EFBIG, "EFBIG"), (ENOSPC, "ENOSPC"), (ESPIPE, "ESPIPE"), (EROFS, "EROFS"), (EMLINK, "EMLINK"),
        (EPIPE, "EPIPE"), (EDEADLK, "EDEADLK"), (ENAMETOOLONG, "ENAMETOOLONG"), (ENOLCK, "ENOLCK"),
        (ENOSYS, "ENOSYS"), (ENOTEMPTY, "ENOTEMPTY"), (ELOOP, "ELOOP"), (EOVERFLOW, "EOVERFLOW"),
        (ENOTSUP, "ENOTSUP"), (EOPNOTSUPP, "EOPNOTSUPP"), (ETIMEDOUT, "ETIMEDOUT"), (ESTALE, "ESTALE"),
        (EDQUOT, "EDQUOT"),
    ]

    // The values a fault injector and callers name most often.
    public static let noSuchFile = Errno(ENOENT)
    public static let fileExists = Errno(EEXIST)
    public static let noSpace = Errno(ENOSPC)
    public static let ioError = Errno(EIO)
    public static let permissionDenied = Errno(EACCES)
    public static let readOnlyFileSystem = Errno(EROFS)
    public static let badFileDescriptor = Errno(EBADF)
    public static let invalidArgument = Errno(EINVAL)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let directoryNotEmpty = Errno(ENOTEMPTY)
    public static let tooManyOpenFiles = Errno(EMFILE)
    public static let interrupted = Errno(EINTR)
}

extension OrbitError {
    /// The C errno name ("ENOSPC") when a failed system call caused this error, else nil.
    public var errnoName: String? { errno?.name }

    /// Whether a failed system call with errno `e` caused this error.
    public func hasErrno(_ e: Errno) -> Bool { errno == e }
}

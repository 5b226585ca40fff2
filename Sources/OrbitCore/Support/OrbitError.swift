/// The one error type of orbit-bench: what failed, where, and what to do about it.
///
/// Modelled on swift-nio's `FileSystemError`: a code for programs, a message for people,
/// the location (a file:line:column, a flag, an environment variable, a file and offset),
/// a hint, and the underlying cause when there is one.
public struct OrbitError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// A command-line argument or API argument is wrong.
        case invalidArgument = "invalid-argument"
        /// A configuration knob (JSON file, environment, flag, workload) is unknown or out of range.
        case invalidConfig = "invalid-config"
        /// A workload file is malformed.
        case invalidWorkload = "invalid-workload"
        /// The operating system refused an I/O call.
        case io
        /// Stored bytes failed a checksum or a structural check.
        case corruption
        /// A named thing (snapshot, store) does not exist.
        case notFound = "not-found"
        /// The engine does not support this operation or option.
        case unsupported
        /// An engine library reported an error.
        case engine
        /// The engine was used after close().
        case closed
        /// A write was asked of a store opened read-only (`StoreAccess.readOnly`).
        case readOnly = "read-only"
    }

    public var code: Code
    public var message: String
    /// Where: "workloads/x.yaml:3:5", "--set foo", "ORBIT_DATA_DIR", "/data/000012.log @ 4096".
    public var location: String?
    /// What to do or what is allowed.
    public var hint: String?
    /// What caused the error underneath, when something did: a typed value, so a program tests
    /// it (`errno`, `hasErrno(_:)`) without reading text.
    public enum Cause: Sendable, Equatable, CustomStringConvertible {
        /// A failed system call's errno (the file layer, and the fault injector that simulates it).
        /// Shown as "ENOSPC: No space left on device".
        case errno(Errno)
        /// What a library, a child process or the runtime said, shown as given. Never parsed.
        case library(String)

        public var description: String {
            switch self {
            case .errno(let e): e.description
            case .library(let text): text
            }
        }
    }

    /// The underlying cause, if any. Rewrapping an error keeps it (`cause: e.cause`).
    public var cause: Cause?

    public init(_ code: Code, _ message: String, at location: String? = nil, hint: String? = nil, cause: Cause? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
        self.cause = cause
    }

    /// The cause as `description` shows it (for people; programs read `cause`).
    public var underlying: String? { cause?.description }

    /// The errno of a failed system call underneath, else nil (a library's message is never parsed for one).
    public var errno: Errno? {
        if case .errno(let e) = cause { return e }
        return nil
    }

    public var description: String {
        var s = ""
        if let location { s += "\(location): " }
        s += message
        if let underlying { s += " (\(underlying))" }
        if let hint { s += "; \(hint)" }
        return s
    }

    /// Exit status for the CLI: 2 for bad input (nothing was run or written), 1 otherwise.
    public var exitStatus: Int32 {
        switch code {
        case .invalidArgument, .invalidConfig, .invalidWorkload: return 2
        default: return 1
        }
    }
}

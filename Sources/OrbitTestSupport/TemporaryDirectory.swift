#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// A fresh, uniquely named directory under `/tmp` (or `$TMPDIR`), removed with everything in it
/// by `remove()` or, failing that, when the object is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    private var removed = false

    /// Creates `<tmp>/<prefix>-XXXXXX` with mkdtemp(3).
    public init(prefix: String = "orbit-test") throws {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            let err = errno
            throw OrbitError(.io, "cannot create a temporary directory", at: "\(base)/\(prefix)-XXXXXX",
                             cause: .library("mkdtemp: errno \(err)"))
        }
        path = String(cString: made)
    }

    deinit { remove() }

    /// `path` + "/" + `name`.
    public func appending(_ name: String) -> String { path + "/" + name }

    /// Removes the directory tree (idempotent; errors are ignored: it is a test's scratch space).
    public func remove() {
        guard !removed else { return }
        removed = true
        try? POSIXFileSystem().removeTree(path)
    }
}

/// Runs `body` with a temporary directory that is removed afterwards, whatever happens.
public func withTemporaryDirectory<R>(prefix: String = "orbit-test", _ body: (String) throws -> R) throws -> R {
    let dir = try TemporaryDirectory(prefix: prefix)
    defer { dir.remove() }
    return try body(dir.path)
}

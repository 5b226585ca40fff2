#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRocksDB
import OrbitCore
import Synchronization

// MARK: - Errors

/// Turns a RocksDB `errptr` result into an `OrbitError` (and frees the C string).
/// RocksDB's Status text starts with its code: "IO error: ...", "Corruption: ...".
func takeRocksError(_ err: UnsafeMutablePointer<CChar>, _ what: String, at path: String) -> OrbitError {
    let text = String(cString: err)
    rocksdb_free(err)
    let code: OrbitError.Code
    if text.hasPrefix("IO error") { code = .io }
    else if text.hasPrefix("Corruption") { code = .corruption }
    else if text.hasPrefix("Not implemented") { code = .unsupported }
    else { code = .engine }
    return OrbitError(code, "rocksdb \(what) failed", at: path, cause: .library(text))
}

/// Calls `body` with an `errptr` and throws if RocksDB set it.
@inline(__always)
func checked<R>(_ what: @autoclosure () -> String, at path: String,
                _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) throws -> R {
    var err: UnsafeMutablePointer<CChar>? = nil
    let r = body(&err)
    if let err { throw takeRocksError(err, what(), at: path) }
    return r
}

func errnoError(_ what: String, _ path: String, _ e: Int32 = errno) -> OrbitError {
    OrbitError(.io, what, at: path, cause: .library(String(cString: strerror(e))))
}

// MARK: - Open/close gate

/// Lets any number of operations run at once and lets close/restore wait for them to drain.
///
/// The state word holds the count of operations in flight (low bits), a writer bit (close or restore
/// is waiting or running) and a closed bit. An operation is one atomic increment and one decrement
/// (no lock, no syscall); it backs off only while a writer holds the gate: it then waits (restore) or
/// throws `.closed` (close). Writers are serialized by a mutex, wait for in-flight operations with
/// short sleeps (close and restore are rare, slow operations anyway).
final class Gate: Sendable {
    private let state = Atomic<Int>(0)
    private let writers = Lock<Void>(())
    private static let writerBit = 1 << 62
    private static let closedBit = 1 << 61
    private static let countMask = (1 << 61) - 1
    private let path: String

    init(path: String) { self.path = path }

    /// Enters as an operation; throws `.closed` once the engine is closed.
    @inline(__always)
    func enter() throws {
        let s = state.wrappingAdd(1, ordering: .acquiring).newValue
        if _slowPath(s & (Self.writerBit | Self.closedBit) != 0) { try enterSlow() }
    }

    @inline(__always)
    func leave() { state.wrappingSubtract(1, ordering: .releasing) }

    @inline(never)
    private func enterSlow() throws {
        while true {
            let s = state.wrappingSubtract(1, ordering: .releasing).newValue
            if s & Self.closedBit != 0 {
                throw OrbitError(.closed, "rocksdb engine is closed", at: path)
            }
            usleep(200)
            let t = state.wrappingAdd(1, ordering: .acquiring).newValue
            if t & (Self.writerBit | Self.closedBit) == 0 { return }
        }
    }

    var isClosed: Bool { state.load(ordering: .acquiring) & Self.closedBit != 0 }

    /// Marks the gate closed (only while no operation can be in flight: a failed init).
    func markClosed() { state.bitwiseOr(Self.closedBit, ordering: .releasing) }

    /// Runs `body` with no operation in flight and none admitted. `body` returns whether the engine
    /// is still open afterwards (false: it stays closed and later operations throw `.closed`).
    /// Throws `.closed` if the engine was already closed.
    func exclusive<R>(_ body: () throws -> (result: R, open: Bool)) throws -> R {
        try writers.withLock { _ in
            if state.load(ordering: .acquiring) & Self.closedBit != 0 {
                throw OrbitError(.closed, "rocksdb engine is closed", at: path)
            }
            state.bitwiseOr(Self.writerBit, ordering: .sequentiallyConsistent)
            while state.load(ordering: .acquiring) & Self.countMask != 0 { usleep(100) }
            var stillOpen = false
            defer {
                if stillOpen {
                    state.bitwiseAnd(~Self.writerBit, ordering: .releasing)
                } else {
                    state.bitwiseOr(Self.closedBit, ordering: .releasing)
                    state.bitwiseAnd(~Self.writerBit, ordering: .releasing)
                }
            }
            let r = try body()
            stillOpen = r.open
            return r.result
        }
    }
}

// MARK: - Files

/// The file layer's real file system, for what this wrapper does beside RocksDB (its lock, checkpoint
/// staging, restore journal, version probe); RocksDB does its own I/O. Counts its bytes like every
/// `POSIXFileSystem`.
let disk = POSIXFileSystem()

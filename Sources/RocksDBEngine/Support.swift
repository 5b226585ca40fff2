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


// MARK: - File helpers (no Foundation)

enum FS {
    struct Entry { var name: String; var isDirectory: Bool }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func fileSize(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_size)
    }

    /// Entries of `path` except "." and "..", sorted by name.
    static func list(_ path: String) throws -> [Entry] {
        guard let dir = opendir(path) else { throw errnoError("cannot list directory", path) }
        defer { closedir(dir) }
        var out: [Entry] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            var isDir = ent.pointee.d_type == UInt8(DT_DIR)
            if ent.pointee.d_type == UInt8(DT_UNKNOWN) { isDir = isDirectory(path + "/" + name) }
            out.append(Entry(name: name, isDirectory: isDir))
        }
        return out.sorted { $0.name < $1.name }
    }

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw errnoError("cannot create directory", path) }
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if !isDirectory(prefix) { try makeDirectory(prefix) }
        }
    }

    /// Removes a file or a directory tree; an absent path is not an error.
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw errnoError("cannot stat", path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for e in try list(path) { try removeTree(path + "/" + e.name) }
            if rmdir(path) != 0 && errno != ENOENT { throw errnoError("cannot remove directory", path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw errnoError("cannot remove file", path)
        }
    }

    static func fsync(path: String, directory: Bool) throws {
        let fd = open(path, directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY)
        guard fd >= 0 else { throw errnoError("cannot open for fsync", path) }
        defer { close(fd) }
        if Glibc.fsync(fd) != 0 { throw errnoError("fsync failed", path) }
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw errnoError("cannot rename to \(to)", from) }
    }

    static func link(_ from: String, _ to: String) throws {
        if Glibc.link(from, to) != 0 { throw errnoError("cannot hard-link to \(to)", from) }
    }

    /// Copies a regular file and fsyncs the copy.
    static func copyFile(_ from: String, _ to: String) throws {
        let src = open(from, O_RDONLY)
        guard src >= 0 else { throw errnoError("cannot open", from) }
        defer { close(src) }
        let dst = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard dst >= 0 else { throw errnoError("cannot create", to) }
        defer { close(dst) }
        let bufSize = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: bufSize, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = read(src, buf, bufSize)
            if n < 0 { if errno == EINTR { continue }; throw errnoError("read failed", from) }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = write(dst, buf + off, n - off)
                if w < 0 { if errno == EINTR { continue }; throw errnoError("write failed", to) }
                off += w
            }
        }
        if Glibc.fsync(dst) != 0 { throw errnoError("fsync failed", to) }
    }

    static func readFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Writes `bytes` to `path` atomically and durably: temp file, fsync, rename, directory fsync.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], directory: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw errnoError("cannot create", tmp) }
        var ok = bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let w = write(fd, raw.baseAddress! + off, raw.count - off)
                if w < 0 { if errno == EINTR { continue }; return false }
                off += w
            }
            return true
        }
        ok = ok && Glibc.fsync(fd) == 0
        close(fd)
        guard ok else { throw errnoError("cannot write", tmp) }
        try rename(tmp, path)
        try fsync(path: directory, directory: true)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The real file system: POSIX calls (see Syscalls.swift), with EINTR retried, short reads and
/// writes completed, and failures turned into `OrbitError(.io, ...)` naming the path and errno.
///
/// Counts every byte it moves three ways: for this instance (`ioStatistics()`, e.g. an engine's
/// write amplification), for the process (`POSIXFileSystem.processStatistics`), and for the
/// calling thread (`ThreadIO`, which the metering layer reads around each operation).
///
/// Thread-safe: it holds no state but its counters. Its durability contract is `FileSystem`'s.
public final class POSIXFileSystem: FileSystem {
    public typealias File = POSIXFile

    let counters = FileIOCounters()

    public init() {}

    /// Every byte and call of every `POSIXFileSystem` in the process so far.
    public static var processStatistics: FileIOStatistics { FileIOCounters.process.snapshot() }

    public func ioStatistics() -> FileIOStatistics { counters.snapshot() }

    public func open(_ path: String, _ mode: OpenMode) throws -> POSIXFile {
        let flags: Int32 = switch mode {
        case .read: O_RDONLY
        case .readWrite: O_RDWR
        case .create: O_RDWR | O_CREAT
        case .createNew: O_RDWR | O_CREAT | O_EXCL
        case .truncate: O_RDWR | O_CREAT | O_TRUNC
        }
        let fd: Int32
        do { fd = try system_open(path, flags) } catch { throw error.orbitError("open (\(mode)) failed", at: path) }
        let st: (size: Int64, isDirectory: Bool)
        do { st = try system_fstat(fd) } catch {
            try? system_close(fd)
            throw error.orbitError("fstat failed", at: path)
        }
        // open(2) opens a directory read-only without complaint; a file handle on one is a bug.
        if st.isDirectory {
            try? system_close(fd)
            throw Errno.isDirectory.orbitError("open (\(mode)) failed", at: path)
        }
        return POSIXFile(fd: fd, path: path, size: st.size, counters: counters)
    }

    /// flock(2) on `path` (created if missing), so other processes and other opens in this one
    /// (flock locks belong to the open file description) are refused. The holder writes
    /// "pid N" into the file, which the refusal quotes. The lock dies with the process.
    public func lock(_ path: String) throws -> FileLock {
        let fd: Int32
        do { fd = try system_open(path, O_RDWR | O_CREAT) } catch { throw error.orbitError("open (lock) failed", at: path) }
        do {
            try Self.flockRetryingOwnSpawns(fd, system_flock_exclusive)
        } catch {
            defer { try? system_close(fd) }
            if error.rawValue == EWOULDBLOCK {
                var buf = [UInt8](repeating: 0, count: 64)
                let n = buf.withUnsafeMutableBytes { (try? system_pread(fd, $0, 0)) ?? 0 }
                let text = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init)
                throw FileLock.heldError(path, holder: text.flatMap { $0.isEmpty ? nil : "process \($0)" })
            }
            throw error.orbitError("flock failed", at: path)
        }
        let note = Array("pid \(getpid())\n".utf8)
        _ = try? system_ftruncate(fd, 0)
        _ = note.withUnsafeBytes { try? system_pwrite(fd, $0, 0) }
        return FileLock(path: path) { try? system_close(fd) }
    }

    /// A child this process is spawning (a server, pg_config through popen) holds a copy of every
    /// descriptor, CLOEXEC ones too, between its fork and its exec: a lock this process has just
    /// released can look held for that moment (longer on a loaded machine). So a refusal whose
    /// holder note names this process is retried, for up to two seconds.
    static func flockRetryingOwnSpawns(_ fd: Int32, _ flock: (Int32) throws(Errno) -> Void) throws(Errno) {
        var attempt = 0
        while true {
            do {
                try flock(fd)
                return
            } catch where error.rawValue == EWOULDBLOCK && attempt < 200 && lockNote(fd) == "pid \(getpid())" {
                attempt += 1
                usleep(10_000)
            }
        }
    }

    /// flock(2) LOCK_EX on `path` (created if missing, never written): for a lock file whose bytes
    /// belong to a library (RocksDB's LOCK, LMDB's lock.mdb), which orbit-bench locks as well so a
    /// second open is refused before the library touches the store. flock and the libraries' fcntl
    /// locks do not interact on Linux. The refusal cannot name the holder (no note is written).
    public func lockWithoutNote(_ path: String) throws -> FileLock {
        let fd: Int32
        do { fd = try system_open(path, O_RDWR | O_CREAT) } catch { throw error.orbitError("open (lock) failed", at: path) }
        // As in lock(_:): a child being spawned holds a copy of the descriptor until its exec, so a
        // lock this process has just released can look held for that moment. With no holder note to
        // tell, every refusal is retried for half a second.
        var attempt = 0
        while true {
            do { try system_flock_exclusive(fd); break } catch where error.rawValue == EWOULDBLOCK && attempt < 50 {
                attempt += 1
                usleep(10_000)
            } catch {
                try? system_close(fd)
                if error.rawValue == EWOULDBLOCK { throw FileLock.heldError(path, holder: "another orbit-bench open") }
                throw error.orbitError("flock failed", at: path)
            }
        }
        return FileLock(path: path) { try? system_close(fd) }
    }

    /// flock(2) LOCK_SH on the existing `path`, opened read-only: nothing is created or written, so
    /// it works in a directory the user cannot write. Refused while a writer holds the lock.
    public func lockShared(_ path: String) throws -> FileLock {
        let fd: Int32
        do { fd = try system_open(path, O_RDONLY) } catch { throw error.orbitError("open (shared lock) failed", at: path) }
        do { try Self.flockRetryingOwnSpawns(fd, system_flock_shared) } catch {
            defer { try? system_close(fd) }
            if error.rawValue == EWOULDBLOCK {
                throw FileLock.heldError(path, holder: Self.lockNote(fd).flatMap { $0.isEmpty ? nil : "process \($0)" })
            }
            throw error.orbitError("flock (shared) failed", at: path)
        }
        return FileLock(path: path) { try? system_close(fd) }
    }

    /// The first line of a lock file: "pid N" of its last holder.
    private static func lockNote(_ fd: Int32) -> String? {
        var buf = [UInt8](repeating: 0, count: 64)
        let n = buf.withUnsafeMutableBytes { (try? system_pread(fd, $0, 0)) ?? 0 }
        return String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    public func rename(_ source: String, to destination: String) throws {
        do { try system_rename(source, destination) } catch {
            throw error.orbitError("rename failed", at: "\(source) -> \(destination)")
        }
    }

    public func remove(_ path: String) throws {
        do { try system_unlink(path) } catch { throw error.orbitError("remove failed", at: path) }
    }

    public func removeDirectory(_ path: String) throws {
        do { try system_rmdir(path) } catch { throw error.orbitError("remove directory failed", at: path) }
    }

    public func list(directory path: String) throws -> [String] {
        do {
            return try system_listDirectory(path).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } catch { throw error.orbitError("list directory failed", at: path) }
    }

    public func createDirectory(_ path: String, intermediates: Bool) throws {
        guard intermediates else {
            do { try system_mkdir(path) } catch { throw error.orbitError("create directory failed", at: path) }
            return
        }
        // mkdir -p: create each missing component in turn; racing creators are fine (EEXIST).
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            do { try system_mkdir(prefix) } catch where error == .fileExists {
                let isDirectory: Bool
                do { isDirectory = try system_stat(prefix).isDirectory } catch {
                    throw error.orbitError("create directory failed", at: prefix)
                }
                if !isDirectory { throw Errno.notDirectory.orbitError("create directory failed", at: prefix) }
            } catch {
                throw error.orbitError("create directory failed", at: prefix)
            }
            prefix += "/"
        }
    }

    public func syncDirectory(_ path: String) throws {
        let fd: Int32
        do { fd = try system_open(path, O_RDONLY | O_DIRECTORY) } catch {
            throw error.orbitError("open directory for fsync failed", at: path)
        }
        defer { try? system_close(fd) }
        do { try system_fsync(fd) } catch { throw error.orbitError("directory fsync failed", at: path) }
        counters.countDirectorySync()
        FileIOCounters.process.countDirectorySync()
    }

    public func exists(_ path: String) throws -> Bool {
        do {
            _ = try system_stat(path)
            return true
        } catch where error == .noSuchFile || error == .notDirectory {
            return false
        } catch {
            throw error.orbitError("stat failed", at: path)
        }
    }

    public func fileSize(_ path: String) throws -> Int64 {
        do { return try system_stat(path).size } catch { throw error.orbitError("stat failed", at: path) }
    }

    // MARK: Beyond the FileSystem protocol: for the library wrappers (RocksDB's checkpoints) and
    // the harness's own directories, never for an engine's protocol (the fault injector has no such calls).

    /// Whether `path` is a directory (a symbolic link to one counts); false when nothing is there.
    public func isDirectory(_ path: String) -> Bool {
        (try? system_stat(path).isDirectory) ?? false
    }

    /// link(2): `destination` becomes a second name of the file `source` (same file system only).
    public func hardLink(_ source: String, to destination: String) throws {
        do { try system_link(source, destination) } catch {
            throw error.orbitError("hard link failed", at: "\(source) -> \(destination)")
        }
    }

    /// `rm -r path`, never following a symbolic link: a link inside the tree (to a file or to a
    /// directory) is unlinked itself and nothing it points to is touched; so is `path` when it is a
    /// link. Nothing at `path` is not an error. The one tree removal of the project: callers vet
    /// `path` first (StoreGuard's `--fresh`, the crash lab's own experiment directories, tests).
    public func removeTree(_ path: String) throws {
        let isDirectory: Bool?
        do { isDirectory = try system_lstatIsDirectory(path) } catch { throw error.orbitError("lstat failed", at: path) }
        switch isDirectory {
        case nil:
            return
        case true?:
            for name in try list(directory: path) { try removeTree(joinPath(path, name)) }
            do { try system_rmdir(path) } catch where error == .noSuchFile {} catch {
                throw error.orbitError("remove directory failed", at: path)
            }
        case false?:
            do { try system_unlink(path) } catch where error == .noSuchFile {} catch {
                throw error.orbitError("remove failed", at: path)
            }
        }
    }
}

/// An open file of `POSIXFileSystem`: a file descriptor, the path it was opened with, and the end
/// offset appends go to.
///
/// Closed on `close()`, or on deinit if the owner forgot (without a sync, like `close`).
public final class POSIXFile: FileHandleProtocol {
    public let path: String
    let fd: Int32
    private let counters: FileIOCounters
    /// Where the next append goes: the size at open, moved by writes, appends and truncates made
    /// through this handle. Appends reserve their range with one atomic add, so concurrent appends
    /// never overlap.
    private let end: Atomic<Int64>
    private let closed = Atomic<Bool>(false)

    init(fd: Int32, path: String, size: Int64, counters: FileIOCounters) {
        self.fd = fd
        self.path = path
        self.end = Atomic(size)
        self.counters = counters
    }

    deinit {
        if !closed.load(ordering: .relaxed) { try? system_close(fd) }
    }

    @inline(__always)
    private func checkOpen(_ what: String) throws {
        if closed.load(ordering: .relaxed) {
            throw OrbitError(.closed, "\(what) on a closed file", at: path)
        }
    }

    private func at(_ offset: Int64) -> String { "\(path) @ offset \(offset)" }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try checkOpen("pread")
        precondition(offset >= 0, "negative file offset")
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try system_pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), offset + Int64(done))
            } catch { throw error.orbitError("pread failed", at: at(offset + Int64(done))) }
            counters.countRead(n)
            FileIOCounters.process.countRead(n)
            ThreadIO.addRead(n)
            if n == 0 { break }  // end of file
            done += n
        }
        return done
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try checkOpen("pwrite")
        precondition(offset >= 0, "negative file offset")
        try writeAll(bytes, at: offset)
        // Keep appends after anything written past the current end (an empty write extends nothing).
        guard !bytes.isEmpty else { return }
        let newEnd = offset + Int64(bytes.count)
        raiseFileEnd(end, to: newEnd)
    }

    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
        try checkOpen("append")
        let offset = end.wrappingAdd(Int64(bytes.count), ordering: .relaxed).oldValue
        try writeAll(bytes, at: offset)
        return offset
    }

    /// The one place this handle writes: pwrite until every byte is written.
    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n: Int
            do {
                n = try system_pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset + Int64(done))
            } catch { throw error.orbitError("pwrite failed", at: at(offset + Int64(done))) }
            // pwrite returns 0 only for a 0-byte request; anything else would loop forever.
            if n == 0 { throw Errno.ioError.orbitError("pwrite made no progress", at: at(offset + Int64(done))) }
            counters.countWrite(n)
            FileIOCounters.process.countWrite(n)
            ThreadIO.addWritten(n)
            done += n
        }
    }

    public func fsync() throws {
        try checkOpen("fsync")
        do { try system_fsync(fd) } catch { throw error.orbitError("fsync failed", at: path) }
        counters.countFileSync()
        FileIOCounters.process.countFileSync()
    }

    public func fdatasync() throws {
        try checkOpen("fdatasync")
        do { try system_fdatasync(fd) } catch { throw error.orbitError("fdatasync failed", at: path) }
        counters.countFileSync()
        FileIOCounters.process.countFileSync()
    }

    public func truncate(to size: Int64) throws {
        try checkOpen("truncate")
        do { try system_ftruncate(fd, size) } catch { throw error.orbitError("truncate to \(size) failed", at: path) }
        end.store(size, ordering: .relaxed)
    }

    public func size() throws -> Int64 {
        try checkOpen("fstat")
        do { return try system_fstat(fd).size } catch { throw error.orbitError("fstat failed", at: path) }
    }

    public func close() throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        do { try system_close(fd) } catch { throw error.orbitError("close failed", at: path) }
    }
}

/// The file system the hand-written engines (LSM-tree, copy-on-write B+tree) do all their file I/O
/// through, and the seam where CrashLab's fault-injecting implementation simulates power loss.
///
/// Engines are generic over it (`final class LSMTree<FS: FileSystem>`), so calls on `FS` and on its
/// `FS.File` are specialized, not existential; `POSIXFileSystem` is the real one.
///
/// ## The durability contract
///
/// Every implementation keeps POSIX's rules on a journaling file system (ext4 `data=ordered`, XFS),
/// and the fault-injecting one enforces exactly these, so code correct against it is correct on disk:
///
/// - **File contents.** A write is visible to every reader of the file as soon as it returns, and
///   survives a process crash, but survives a power loss only after a later `fsync()` or
///   `fdatasync()` of that file has returned. Unsynced writes may be lost whole, lost in part, or
///   torn (some sectors old, some new) — in any combination, in any order.
/// - **Directory entries.** Creating a file (`open` with a creating mode), `rename`, `remove`,
///   `createDirectory` and `removeDirectory` change a directory. The change is visible at once
///   but survives a power loss only after `syncDirectory` of the directory that holds the entry
///   (both directories for a rename across directories) has returned. Syncing a file does not make
///   its name durable; syncing its directory does not make its contents durable.
/// - **Size.** `truncate` and writes past the end change the size; the new size is durable after a
///   sync of the file (fdatasync includes the size).
/// - **Atomicity.** `rename` is atomic: every observer, and the disk after a crash, sees either the
///   old target or the new one, never neither and never a mix. No write of more than one byte is
///   atomic across a crash, whatever its size or alignment: formats detect torn records with
///   checksums (see docs/formats/README.md).
/// - **Failed syncs.** After `fsync`/`fdatasync`/`syncDirectory` throws, the state of the unsynced
///   data is unknown, and a retry that succeeds does not make it durable (Linux may have dropped
///   the dirty pages: PostgreSQL's "fsyncgate"). Treat the file as lost: stop, or rewrite it.
///
/// The metadata pattern that follows from these rules is `writeFileAtomically`: write a temporary
/// file, sync it, rename it over the target, sync the directory.
///
/// ## What an implementation must route through one place
///
/// A fault injector sees every mutation because there are only these: `File.write(_:at:)`,
/// `File.append(_:)` and `File.truncate(to:)` change contents; `File.fsync()`/`fdatasync()` make
/// them durable; `open` (creating), `rename`, `remove`, `createDirectory` and `removeDirectory`
/// change directory entries; `syncDirectory` makes those durable; `crashPoint` marks the moments
/// between. Conveniences are extensions built on these, never requirements, so they cannot bypass
/// an implementation.
///
/// ## Errors
///
/// Failures throw `OrbitError` with code `.io`, a message saying what failed ("pwrite failed"),
/// the location ("/data/000012.log @ offset 4096") and the errno as its cause
/// (`OrbitError.Cause.errno`, shown "ENOSPC: No space left on device"); test it with
/// `OrbitError.errno` / `hasErrno(_:)`.
/// Using a closed handle throws code `.closed`.
///
/// Paths are plain strings passed to the OS as they are (relative to the working directory when not
/// absolute). Memory-mapped I/O is deliberately not offered: it would bypass the fault injector.
public protocol FileSystem: Sendable {
    associatedtype File: FileHandleProtocol

    /// Opens (and, by `mode`, creates or truncates) a regular file.
    ///
    /// Creating adds a directory entry: durable only after `syncDirectory` of the parent.
    func open(_ path: String, _ mode: OpenMode) throws -> File

    /// Atomically renames `source` to `destination`, replacing `destination` if it exists.
    ///
    /// Both paths must be on one file system. Durable after `syncDirectory` of the directory (or
    /// directories) holding them; until then a crash leaves the old name, the old target or both.
    func rename(_ source: String, to destination: String) throws

    /// Removes a file (not a directory). Durable after `syncDirectory` of its parent.
    /// Open handles to it stay usable until closed.
    func remove(_ path: String) throws

    /// Removes an empty directory. Durable after `syncDirectory` of its parent.
    func removeDirectory(_ path: String) throws

    /// The names (not paths) in a directory, without "." and "..", sorted by their UTF-8 bytes so
    /// every implementation lists in the same order.
    func list(directory path: String) throws -> [String]

    /// Creates a directory. With `intermediates`, also creates missing parents and succeeds when
    /// the directory already exists (mkdir -p); without, an existing path is EEXIST.
    /// Each new directory is an entry in its parent: durable after `syncDirectory` of the parent.
    func createDirectory(_ path: String, intermediates: Bool) throws

    /// fsync of a directory: makes the entries created, renamed and removed in it durable.
    func syncDirectory(_ path: String) throws

    /// Whether something (file or directory) exists at `path`. Throws for failures other than
    /// "no such entry" (ENOENT, ENOTDIR), e.g. EACCES.
    func exists(_ path: String) throws -> Bool

    /// The size in bytes of the file at `path`.
    func fileSize(_ path: String) throws -> Int64

    /// Marks a named moment in an engine's protocol ("lsm.flush.after-table-sync"), where a
    /// fault-injecting file system may simulate a crash (by throwing, or by stopping the process).
    ///
    /// Names are static so CrashLab can list them; the real file system does nothing here, and a
    /// specialized call compiles to nothing.
    func crashPoint(_ name: StaticString) throws

    /// The bytes and calls this file system has moved since it was created.
    func ioStatistics() -> FileIOStatistics

    /// Takes an exclusive lock on `path` (a store's LOCK file, created if missing) until the token
    /// is released or freed; throws (naming the path and, if known, the holder) when another
    /// holder has it. Not a durability operation: the lock is never synced and dies with the
    /// process. The default implementation excludes other locks in this process only;
    /// `POSIXFileSystem` uses flock(2), which also excludes other processes.
    func lock(_ path: String) throws -> FileLock

    /// Takes a shared lock on the existing lock file `path` (never created or written: for
    /// read-only opens, which may run beside each other but not beside a writer). Throws, naming
    /// the path and the holder, while an exclusive holder has it; throws ENOENT when the file is
    /// missing.
    func lockShared(_ path: String) throws -> FileLock
}

extension FileSystem {
    /// In-process exclusion only (see `ProcessLockTable`); the file is not created.
    public func lock(_ path: String) throws -> FileLock { try ProcessLockTable.acquire(path) }

    /// In-process exclusion only (see `ProcessLockTable`); the file must exist.
    public func lockShared(_ path: String) throws -> FileLock {
        guard try exists(path) else { throw Errno.noSuchFile.orbitError("open (shared lock) failed", at: path) }
        return try ProcessLockTable.acquire(path, shared: true)
    }

    /// Does nothing: only fault-injecting file systems act on crash points.
    @inline(__always)
    public func crashPoint(_ name: StaticString) throws {}
}

/// An open file of a `FileSystem`.
///
/// All calls may be made from several threads at once (positioned I/O has no shared cursor), except
/// `close`, which must not race with any other call on the handle. Offsets and sizes are bytes.
///
/// The handle keeps the path it was opened with, for error messages and for a fault injector to
/// find the file; after a rename it is the old path.
public protocol FileHandleProtocol: AnyObject, Sendable {
    /// The path the file was opened with.
    var path: String { get }

    /// Reads up to `buffer.count` bytes at `offset`. Returns the count read, which is less than
    /// `buffer.count` only when the file ends first (0 at or past the end).
    ///
    /// Short reads from the OS before the end of file are retried internally.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int

    /// Writes all of `bytes` at `offset`, extending the file if needed (a gap reads as zeros).
    ///
    /// Short writes are retried internally; if a call fails part way, a prefix of `bytes` may have
    /// been written (and is not durable). Not atomic: see the contract on `FileSystem`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws

    /// Writes all of `bytes` at the end of the file; returns the offset they were written at.
    ///
    /// Concurrent appends get disjoint ranges, in some order. The end is the file's size when it was
    /// opened, advanced by every `write`/`append` through this handle and set by `truncate`; writes
    /// to the same file through another handle are not seen. After a failed append, the bytes from
    /// the returned range onward are undefined.
    @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64

    /// fsync: file data and metadata reach stable storage before it returns (not its directory entry).
    func fsync() throws

    /// fdatasync: file data and the metadata needed to read it back (the size) reach stable storage;
    /// cheaper than `fsync` because timestamps are not written.
    func fdatasync() throws

    /// Sets the size: cuts off the bytes past `size`, or extends with zeros. Durable after a sync.
    func truncate(to size: Int64) throws

    /// The current size in bytes.
    func size() throws -> Int64

    /// Releases the handle. Does not sync. Calls after `close` throw `OrbitError.Code.closed`;
    /// closing twice is not an error.
    func close() throws
}

/// How `FileSystem.open` treats the path. Every mode but `read` opens for reading and writing.
public enum OpenMode: Sendable, Hashable, CustomStringConvertible {
    /// Read only; the file must exist.
    case read
    /// Read and write; the file must exist.
    case readWrite
    /// Read and write; created empty if missing (a directory-entry change).
    case create
    /// Read and write; created empty, failing with EEXIST if it exists (O_EXCL).
    case createNew
    /// Read and write; created if missing, cut to empty if it exists.
    case truncate

    public var description: String {
        switch self {
        case .read: "read"
        case .readWrite: "read-write"
        case .create: "create"
        case .createNew: "create-new"
        case .truncate: "truncate"
        }
    }

    /// Whether opening in this mode may add a directory entry.
    public var mayCreate: Bool {
        switch self {
        case .read, .readWrite: false
        case .create, .createNew, .truncate: true
        }
    }
}

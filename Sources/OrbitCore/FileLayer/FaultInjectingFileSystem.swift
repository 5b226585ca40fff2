import Synchronization

/// An in-memory `FileSystem` that enforces `FileSystem`'s durability contract exactly and can break
/// it the ways real hardware does: simulated power loss (`powerLoss(_:rng:)`, in
/// FaultInjectingFileSystem+PowerLoss.swift), named crash points and crash-after-N-calls
/// (+CrashPoints.swift), and injected ENOSPC/EIO errors (+Faults.swift).
///
/// ## Model
///
/// A tree of nodes (inode-like): directories map names to nodes, files hold bytes. A name is an
/// entry pointing at a node; `rename` moves the entry; a handle stays usable after its file is
/// removed or renamed.
/// - Each file keeps its `current` bytes (what reads see) and its `durable` bytes (what the disk
///   holds as of its last successful sync), plus the changes made since then, in order. A successful
///   `fsync`/`fdatasync` applies those changes to `durable`. A failed one drops them from the
///   durable history (Linux marks the pages clean after a writeback error: "fsyncgate"), so they
///   are lost at a power loss even if a later sync succeeds; reads still see them. With
///   `setSyncFailureModel(.pages(n))` the failure is per page instead: each dirty page was written
///   or dropped, and a dropped page dirtied again is written whole by the next good sync.
/// - Each directory keeps its `current` entries and its `durable` entries (as of its last
///   `syncDirectory`), plus the entry changes since then, each tagged with the operation that made
///   it (a rename's two halves share one tag, so a power loss keeps both or neither).
///
/// Every call runs under one lock: calls are atomic with respect to each other, and the model is
/// exact rather than fast (a few million small calls per second; stores of a few hundred MiB at most).
///
/// Paths: "/" separated; relative paths are taken from the root ("a/b" is "/a/b"); "." and ".."
/// are resolved textually. The root always exists and is always durable. A directory an engine
/// creates (even with `intermediates`) is an entry in its parent, durable only after the parent is
/// synced, as on disk: tests create and sync the parent of a store first (or call
/// `makeEverythingDurable()` after setting up).
///
/// Thread-safe. Locks taken with `lock(_:)` belong to this instance: a power-loss copy has none.
public final class FaultInjectingFileSystem: FileSystem {
    public typealias File = FaultInjectingFile

    let state: Lock<State>
    let counters = FileIOCounters()
    let locks = LockTable()

    /// For a file system made by `powerLoss(_:rng:)`: what the power loss did ("torn-4096: ...").
    public let powerLossDescription: String?

    /// A new, empty file system (only the root directory exists).
    /// - Parameters:
    ///   - seed: drives the random choices the file system makes itself (the prefix a failed write
    ///     leaves); every run with one seed and one call sequence behaves the same.
    ///   - diskBudget: the disk's size in bytes: a write or truncate that would make the files
    ///     (those with a name or an open handle) larger fails with ENOSPC after writing what fits.
    public init(seed: UInt64 = 0, diskBudget: Int64? = nil) {
        var s = State(seed: seed)
        s.diskBudget = diskBudget
        state = Lock(s)
        powerLossDescription = nil
    }

    init(state: State, description: String) {
        self.state = Lock(state)
        powerLossDescription = description
    }

    public func ioStatistics() -> FileIOStatistics { counters.snapshot() }

    /// Marks every file's contents and every directory's entries durable, as if everything had been
    /// synced (set-up for tests: "the parent directory existed before the experiment").
    public func makeEverythingDurable() {
        state.withLock { s in
            for id in Array(s.nodes.keys) {
                s.nodes[id]!.durable = s.nodes[id]!.current
                s.nodes[id]!.pending = []
                s.nodes[id]!.droppedPages = []
                s.nodes[id]!.durableEntries = s.nodes[id]!.entries
                s.nodes[id]!.pendingOps = []
            }
        }
    }

    /// Sets or clears the disk size (see `init`).
    public func setDiskBudget(_ bytes: Int64?) { state.withLock { $0.diskBudget = bytes } }

    /// Bytes held by files that have a name or an open handle (what counts against the budget).
    public var usedBytes: Int64 { state.withLock { $0.usedBytes() } }

    // MARK: Directory operations

    public func open(_ path: String, _ mode: OpenMode) throws -> FaultInjectingFile {
        let what = "open (\(mode)) failed"
        let (node, end, handle) = try state.withLock { s -> (Int, Int64, Int) in
            if let e = try s.enter(.open, path: path, location: path, mutating: mode.mayCreate) { throw e.orbitError(what, at: path) }
            let r: Resolved
            do { r = try s.resolve(path) } catch let e as Errno { throw e.orbitError(what, at: path) }
            var id: Int
            if let existing = r.node {
                if s.nodes[existing]!.isDirectory { throw Errno.isDirectory.orbitError(what, at: path) }
                if mode == .createNew { throw Errno.fileExists.orbitError(what, at: path) }
                id = existing
                if mode == .truncate, !s.nodes[id]!.current.isEmpty { s.changeFile(id, .truncate(0)) }
            } else {
                guard mode.mayCreate, let parent = r.parent else { throw Errno.noSuchFile.orbitError(what, at: path) }
                id = s.newNode(directory: false)
                s.setEntry(parent, r.name, id, op: s.newOp())
            }
            s.nodes[id]!.handles += 1
            let h = s.nextHandle
            s.nextHandle += 1
            return (id, Int64(s.nodes[id]!.current.count), h)
        }
        return FaultInjectingFile(fs: self, node: node, handle: handle, path: path, writable: mode != .read, end: end)
    }

    public func rename(_ source: String, to destination: String) throws {
        let location = "\(source) -> \(destination)"
        let what = "rename failed"
        try state.withLock { s in
            if let e = try s.enter(.rename, path: source, otherPath: destination, location: location, mutating: true) {
                throw e.orbitError(what, at: location)
            }
            do {
                let src = try s.resolve(source), dst = try s.resolve(destination)
                guard let node = src.node, let srcParent = src.parent else { throw Errno.noSuchFile }
                guard let dstParent = dst.parent else { throw Errno.busy }
                if dst.node == node { return }
                let isDir = s.nodes[node]!.isDirectory
                if let target = dst.node {
                    let targetIsDir = s.nodes[target]!.isDirectory
                    if !isDir && targetIsDir { throw Errno.isDirectory }
                    if isDir && !targetIsDir { throw Errno.notDirectory }
                    if targetIsDir && !s.nodes[target]!.entries.isEmpty { throw Errno.directoryNotEmpty }
                }
                if isDir && s.isAncestor(node, of: dstParent) { throw Errno.invalidArgument }
                let op = s.newOp()
                s.setEntry(srcParent, src.name, nil, op: op)
                s.setEntry(dstParent, dst.name, node, op: op)
            } catch let e as Errno { throw e.orbitError(what, at: location) }
        }
    }

    public func remove(_ path: String) throws {
        let what = "remove failed"
        try state.withLock { s in
            if let e = try s.enter(.remove, path: path, location: path, mutating: true) { throw e.orbitError(what, at: path) }
            do {
                let r = try s.resolve(path)
                guard let node = r.node else { throw Errno.noSuchFile }
                guard let parent = r.parent, !s.nodes[node]!.isDirectory else { throw Errno.isDirectory }
                s.setEntry(parent, r.name, nil, op: s.newOp())
            } catch let e as Errno { throw e.orbitError(what, at: path) }
        }
    }

    public func removeDirectory(_ path: String) throws {
        let what = "remove directory failed"
        try state.withLock { s in
            if let e = try s.enter(.removeDirectory, path: path, location: path, mutating: true) { throw e.orbitError(what, at: path) }
            do {
                let r = try s.resolve(path)
                guard let node = r.node else { throw Errno.noSuchFile }
                guard let parent = r.parent else { throw Errno.busy }
                guard s.nodes[node]!.isDirectory else { throw Errno.notDirectory }
                guard s.nodes[node]!.entries.isEmpty else { throw Errno.directoryNotEmpty }
                s.setEntry(parent, r.name, nil, op: s.newOp())
            } catch let e as Errno { throw e.orbitError(what, at: path) }
        }
    }

    public func list(directory path: String) throws -> [String] {
        let what = "list directory failed"
        return try state.withLock { s in
            if let e = try s.enter(.list, path: path, location: path, mutating: false) { throw e.orbitError(what, at: path) }
            do {
                let id = try s.directory(path)
                return s.nodes[id]!.entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            } catch let e as Errno { throw e.orbitError(what, at: path) }
        }
    }

    public func createDirectory(_ path: String, intermediates: Bool) throws {
        let what = "create directory failed"
        try state.withLock { s in
            if let e = try s.enter(.createDirectory, path: path, location: path, mutating: true) { throw e.orbitError(what, at: path) }
            guard intermediates else {
                do {
                    let r = try s.resolve(path)
                    guard r.node == nil, let parent = r.parent else { throw Errno.fileExists }
                    s.setEntry(parent, r.name, s.newNode(directory: true), op: s.newOp())
                } catch let e as Errno { throw e.orbitError(what, at: path) }
                return
            }
            // mkdir -p: each missing component in turn; an existing file on the way is ENOTDIR.
            var current = 0
            var prefix = path.hasPrefix("/") ? "/" : ""
            for component in State.components(path) {
                prefix += component
                if let next = s.nodes[current]!.entries[component] {
                    guard s.nodes[next]!.isDirectory else { throw Errno.notDirectory.orbitError(what, at: prefix) }
                    current = next
                } else {
                    let id = s.newNode(directory: true)
                    s.setEntry(current, component, id, op: s.newOp())
                    current = id
                }
                prefix += "/"
            }
        }
    }

    public func syncDirectory(_ path: String) throws {
        try state.withLock { s in
            let fault = try s.enter(.syncDirectory, path: path, location: path, mutating: true)
            let id: Int
            do { id = try s.directory(path) } catch let e as Errno {
                throw e.orbitError("open directory for fsync failed", at: path)
            }
            // A failed directory sync leaves its changes in an unknown state: they stay unsynced.
            if let fault { throw fault.orbitError("directory fsync failed", at: path) }
            s.nodes[id]!.durableEntries = s.nodes[id]!.entries
            s.nodes[id]!.pendingOps = []
            s.collectGarbageIfNeeded()
        }
        counters.countDirectorySync()
    }

    public func exists(_ path: String) throws -> Bool {
        try state.withLock { s in
            _ = try s.enter(nil, path: path, location: path, mutating: false)
            do { return try s.resolve(path).node != nil } catch { return false }  // ENOENT, ENOTDIR: absent
        }
    }

    public func fileSize(_ path: String) throws -> Int64 {
        try state.withLock { s in
            _ = try s.enter(nil, path: path, location: path, mutating: false)
            do {
                guard let id = try s.resolve(path).node else { throw Errno.noSuchFile }
                return s.nodes[id]!.isDirectory ? 4096 : Int64(s.nodes[id]!.current.count)
            } catch let e as Errno { throw e.orbitError("stat failed", at: path) }
        }
    }

    /// Exclusive per instance: two engines on this instance exclude each other, but a power-loss
    /// copy (a new instance) starts with no locks, as a rebooted machine does. No file is created.
    public func lock(_ path: String) throws -> FileLock {
        try state.withLock { s in _ = try s.enter(nil, path: path, location: path, mutating: false) }
        let key = "/" + State.components(path).joined(separator: "/")
        return try locks.acquire(path, key: key, shared: false, holder: "another open on this fault-injecting file system")
    }

    /// Shared per instance (see `lock(_:)`); the file must exist.
    public func lockShared(_ path: String) throws -> FileLock {
        try state.withLock { s in _ = try s.enter(nil, path: path, location: path, mutating: false) }
        guard try exists(path) else { throw Errno.noSuchFile.orbitError("open (shared lock) failed", at: path) }
        let key = "/" + State.components(path).joined(separator: "/")
        return try locks.acquire(path, key: key, shared: true, holder: "another open on this fault-injecting file system")
    }
}

/// The locks one `FaultInjectingFileSystem` holds.
typealias LockTable = LockCounts

extension Errno {
    static let busy = Errno(16)  // EBUSY (the root cannot be removed or renamed)
}

/// An open file of a `FaultInjectingFileSystem`: a node, the path it was opened with, and the end
/// appends go to (the size at open, moved by this handle's writes, appends and truncates).
public final class FaultInjectingFile: FileHandleProtocol {
    public let path: String
    let fs: FaultInjectingFileSystem
    let node: Int
    let handle: Int
    let writable: Bool
    let end: Atomic<Int64>
    private let closed = Atomic<Bool>(false)

    init(fs: FaultInjectingFileSystem, node: Int, handle: Int, path: String, writable: Bool, end: Int64) {
        self.fs = fs
        self.node = node
        self.handle = handle
        self.path = path
        self.writable = writable
        self.end = Atomic(end)
    }

    deinit { try? close() }

    @inline(__always)
    private func checkOpen(_ what: String) throws {
        if closed.load(ordering: .relaxed) { throw OrbitError(.closed, "\(what) on a closed file", at: path) }
    }

    private func at(_ offset: Int64) -> String { "\(path) @ offset \(offset)" }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try checkOpen("pread")
        precondition(offset >= 0, "negative file offset")
        let n = try fs.state.withLock { s -> Int in
            if let e = try s.enter(.read, path: path, location: at(offset), mutating: false) {
                throw e.orbitError("pread failed", at: at(offset))
            }
            return s.nodes[node]!.current.withUnsafeBytes { bytes in
                guard offset < bytes.count else { return 0 }
                let n = min(buffer.count, bytes.count - Int(offset))
                buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + Int(offset), byteCount: n)
                return n
            }
        }
        fs.counters.countRead(n)
        ThreadIO.addRead(n)
        return n
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try checkOpen("pwrite")
        precondition(offset >= 0, "negative file offset")
        guard writable else { throw Errno.badFileDescriptor.orbitError("pwrite failed", at: at(offset)) }
        try writeAll(bytes, at: offset, operation: .write)
        guard !bytes.isEmpty else { return }
        let newEnd = offset + Int64(bytes.count)
        raiseFileEnd(end, to: newEnd)
    }

    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
        try checkOpen("append")
        guard writable else { throw Errno.badFileDescriptor.orbitError("pwrite failed", at: at(end.load(ordering: .relaxed))) }
        let offset = end.wrappingAdd(Int64(bytes.count), ordering: .relaxed).oldValue
        try writeAll(bytes, at: offset, operation: .append)
        return offset
    }

    /// The one place this handle writes. On an injected fault or a full disk, a prefix of `bytes` (to a sector boundary)
    /// may be written (as a failing pwrite loop can leave), then the call throws.
    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64, operation: FileOperation) throws {
        let written = try fs.state.withLock { s -> Int in
            let fault = try s.enter(operation, path: path, location: at(offset), mutating: true)
            var count = bytes.count
            var failure: Errno? = nil
            if let fault {
                failure = fault
                count = s.partialWrite ? Int(s.rng.below(UInt64(bytes.count) + 1)) : 0
            }
            if let budget = s.diskBudget {
                let size = Int64(s.nodes[node]!.current.count)
                let growth = max(0, offset + Int64(count) - size)
                let free = max(0, budget - s.usedBytes())
                if growth > free {
                    count = Int(max(0, size + free - offset))
                    if failure == nil { failure = .noSpace }
                }
            }
            // A failing write stops at a sector boundary of the file: the kernel copies into the page
            // cache and allocates blocks in whole sectors at least, so a 512-byte aligned write (a
            // meta page) is all or nothing, as the engines' formats assume.
            if count < bytes.count {
                count = max(0, Int((offset + Int64(count)) / 512 * 512 - offset))
            }
            if count > 0 { s.changeFile(node, .write(offset, Array(UnsafeRawBufferPointer(rebasing: bytes[0..<count])))) }
            if let failure {
                if count > 0 { fs.counters.countWrite(count); ThreadIO.addWritten(count) }
                throw failure.orbitError("pwrite failed", at: at(offset + Int64(count)))
            }
            return count
        }
        if written > 0 {
            fs.counters.countWrite(written)
            ThreadIO.addWritten(written)
        }
    }

    public func fsync() throws { try sync(.fsync) }

    public func fdatasync() throws { try sync(.fdatasync) }

    private func sync(_ operation: FileOperation) throws {
        try checkOpen(operation.rawValue)
        try fs.state.withLock { s in
            if let fault = try s.enter(operation, path: path, location: path, mutating: true) {
                // fsyncgate: the kernel dropped the dirty pages; the disk keeps the old bytes, and no
                // later sync writes these changes. Reads still see them.
                s.failSync(node)
                throw fault.orbitError("\(operation.rawValue) failed", at: path)
            }
            s.syncFile(node)
        }
        fs.counters.countFileSync()
    }

    public func truncate(to size: Int64) throws {
        try checkOpen("truncate")
        guard writable else { throw Errno.invalidArgument.orbitError("truncate to \(size) failed", at: path) }
        try fs.state.withLock { s in
            if let fault = try s.enter(.truncate, path: path, location: path, mutating: true) {
                throw fault.orbitError("truncate to \(size) failed", at: path)
            }
            if let budget = s.diskBudget, size - Int64(s.nodes[node]!.current.count) > max(0, budget - s.usedBytes()) {
                throw Errno.noSpace.orbitError("truncate to \(size) failed", at: path)
            }
            s.changeFile(node, .truncate(size))
        }
        end.store(size, ordering: .relaxed)
    }

    public func size() throws -> Int64 {
        try checkOpen("fstat")
        return try fs.state.withLock { s in
            _ = try s.enter(nil, path: path, location: path, mutating: false)
            return Int64(s.nodes[node]!.current.count)
        }
    }

    /// Never throws for a dead (crashed) file system: closing writes nothing.
    public func close() throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        fs.state.withLock { s in s.nodes[node]?.handles -= 1 }
    }
}

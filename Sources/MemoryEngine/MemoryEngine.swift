import OrbitCore
import Synchronization

/// The in-memory reference engine: a hash index for point lookups beside a copy-on-write B+tree
/// (`ByteTree`) for ordered scans and snapshots, no I/O.
///
/// It is the floor of every comparison: what the harness itself costs when the engine costs
/// almost nothing. Nothing survives the process, whatever the durability mode (see
/// `durabilityPromise(for:)`); `sync()` has nothing to do.
///
/// Concurrency (docs/architecture.md, "The memory engine"): readers never take a lock and never
/// wait for a writer. The state readers see is published through atomic pointers: the current tree
/// version (immutable: a write builds a new one by copying the nodes on the paths it changes) and
/// the hash table, whose slots point to immutable records. Writers take one mutex, one at a time;
/// what a write unlinks (old tree versions, old records, a smaller table) is freed by epoch-based
/// reclamation (`EpochReclaimer`) once no reader can still hold it.
///
/// - `get` looks the key up in the hash table. A write changes the index inside a window marked by
///   an odd `sequence`; a get that began in such a window, or saw `sequence` change while it probed,
///   reads the published tree version instead (one atomic load: all of a write or none of it). So a
///   batch is atomic to every reader and a get never sees a key the scans do not.
/// - `scan` reads the published tree version.
/// - The closures given to `get` and `scan` run while the reader is registered: they may call the
///   engine again (even write: writers never wait for readers), but should be short, since nothing
///   retired while they run can be freed.
///
/// Snapshots are O(1): a snapshot keeps a tree version. Restoring one rebuilds the hash index from
/// it (O(n)). They live in memory and vanish with the engine.
///
/// Limits: a key or value is at most `UInt32.max` bytes (as in `WriteBatch`).
public final class MemoryEngine: StorageEngine, @unchecked Sendable {
    /// No settings of its own yet.
    public static let knobs: [Knob] = []

    public let backendName = MemoryDescriptor.name
    /// The mode it was opened with. It changes nothing: there is no storage to sync to.
    public let durability: DurabilityMode
    public var dataDirectory: String? { nil }

    /// An immutable tree, as readers see it.
    final class TreeVersion {
        let tree: ByteTree
        init(_ tree: ByteTree) { self.tree = tree }
    }

    // Read by readers without a lock.
    private let reclaimer = EpochReclaimer()
    /// Unmanaged<TreeVersion>, retained by the publication.
    private let publishedTree: Atomic<UInt>
    /// Unmanaged<HashTable>, retained by the publication.
    private let publishedTable: Atomic<UInt>
    /// Odd while a write changes the hash table.
    private let sequence = Atomic<UInt>(0)
    private let closed = Atomic<Bool>(false)

    // Guarded by `writer`.
    private let writer = Mutex<Void>(())
    @exclusivity(unchecked) private var snapshots: [String: ByteTree] = [:]
    /// Bytes of the live records (the hash index's share of the memory).
    @exclusivity(unchecked) private var recordBytes = 0

    public init(durability: DurabilityMode = .none) {
        self.durability = durability
        publishedTree = Atomic(UInt(bitPattern: Unmanaged.passRetained(TreeVersion(ByteTree())).toOpaque()))
        publishedTable = Atomic(UInt(bitPattern: Unmanaged.passRetained(HashTable(capacity: 16)).toOpaque()))
    }

    deinit {
        let table = currentTable
        table.forEachRecord { $0.deallocate() }
        Unmanaged<HashTable>.passUnretained(table).release()
        Unmanaged<TreeVersion>.passUnretained(currentVersion).release()
    }

    /// Opens with the effective configuration; there are no `memory.*` knobs yet, so only the
    /// durability mode (recorded, not acted on) matters.
    public convenience init(settings: Settings, durability: DurabilityMode = .none) {
        self.init(durability: durability)
    }

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        DurabilityPromise(.nothing, "in-memory engine: every write is lost when the process ends (mode \(mode) has no effect)")
    }

    // MARK: Reads

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try checkOpen()
        let slot = reclaimer.enter()
        defer { reclaimer.exit(slot) }
        let hash = indexHash(key)
        let before = sequence.load(ordering: .sequentiallyConsistent)
        if before & 1 == 0 {
            let record = Unmanaged<HashTable>.fromOpaque(UnsafeRawPointer(bitPattern: publishedTable.load(ordering: .acquiring))!)
                ._withUnsafeGuaranteedRef { $0.find(key, hash) }
            if sequence.load(ordering: .acquiring) == before {
                return try body(record.map(IndexRecord.value))
            }
        }
        return try treeVersion { try $0.tree.withValue(key, body) }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try checkOpen()
        return try reclaimer.read {
            try treeVersion { try $0.tree.scan(from: start, to: end, limit: limit, visit) }
        }
    }

    /// The published tree version, without retaining it: valid while the caller is registered with
    /// the reclaimer (or holds the writer mutex).
    @inline(__always)
    private func treeVersion<R>(_ body: (TreeVersion) throws -> R) rethrows -> R {
        try Unmanaged<TreeVersion>.fromOpaque(UnsafeRawPointer(bitPattern: publishedTree.load(ordering: .sequentiallyConsistent))!)
            ._withUnsafeGuaranteedRef(body)
    }

    // Writer only.
    private var currentVersion: TreeVersion {
        Unmanaged<TreeVersion>.fromOpaque(UnsafeRawPointer(bitPattern: publishedTree.load(ordering: .relaxed))!).takeUnretainedValue()
    }

    private var currentTable: HashTable {
        Unmanaged<HashTable>.fromOpaque(UnsafeRawPointer(bitPattern: publishedTable.load(ordering: .relaxed))!).takeUnretainedValue()
    }

    // MARK: Writes

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        guard key.count <= Int(UInt32.max), value.count <= Int(UInt32.max) else {
            throw OrbitError(.invalidArgument, "memory: key (\(key.count) bytes) or value (\(value.count) bytes) over 4 GiB",
                             hint: "keys and values are at most \(UInt32.max) bytes")
        }
        try writer.withLock { _ in
            try checkOpen()
            var tree = currentVersion.tree
            tree.put(key, value)
            let hash = indexHash(key)
            let record = IndexRecord.make(key, value, hash: hash)
            commit(tree, inserts: 1) { table, retired in
                recordBytes += IndexRecord.bytes(record)
                if let old = table.put(record, key: key, hash: hash) {
                    recordBytes -= IndexRecord.bytes(old)
                    retired.append(.record(old))
                }
            }
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try writer.withLock { _ in
            try checkOpen()
            var tree = currentVersion.tree
            guard tree.remove(key) else { return }
            let hash = indexHash(key)
            commit(tree, inserts: 0) { table, retired in
                if let old = table.remove(key, hash: hash) {
                    recordBytes -= IndexRecord.bytes(old)
                    retired.append(.record(old))
                }
            }
        }
    }

    /// Applies the batch in order: the new tree is built first, then published together with the
    /// index's changes in one odd-`sequence` window. Nothing in it can fail halfway (sizes were
    /// bounded when the batch was built), so it is all or nothing, to readers too.
    public func write(_ batch: WriteBatch) throws {
        try writer.withLock { _ in
            try checkOpen()
            var tree = currentVersion.tree
            var puts = 0
            batch.forEach { op, key, value in
                switch op {
                case .put: tree.put(key, value); puts += 1
                case .delete: tree.remove(key)
                }
            }
            commit(tree, inserts: puts) { table, retired in
                batch.forEach { op, key, value in
                    let hash = indexHash(key)
                    let old: UnsafeMutableRawPointer?
                    switch op {
                    case .put:
                        let record = IndexRecord.make(key, value, hash: hash)
                        recordBytes += IndexRecord.bytes(record)
                        old = table.put(record, key: key, hash: hash)
                    case .delete:
                        old = table.remove(key, hash: hash)
                    }
                    if let old {
                        recordBytes -= IndexRecord.bytes(old)
                        retired.append(.record(old))
                    }
                }
            }
        }
    }

    /// Writer: publishes `tree` as the current version and applies `changeIndex` to the hash table
    /// (grown first if `inserts` more records would fill it past half), both inside one odd-`sequence`
    /// window; then retires what they replaced.
    private func commit(_ tree: ByteTree, inserts: Int, _ changeIndex: (HashTable, inout [EpochReclaimer.Retired]) -> Void) {
        let oldVersion = Unmanaged<TreeVersion>.passUnretained(currentVersion)
        let newVersion = Unmanaged.passRetained(TreeVersion(tree))
        var table = currentTable
        var retired: [EpochReclaimer.Retired] = [.object(unsafeBitCast(oldVersion, to: Unmanaged<AnyObject>.self))]
        if !table.fits(inserts) {
            let grown = table.rehashed(capacity: max(16, (table.live + inserts) * 4))
            retired.append(.object(unsafeBitCast(Unmanaged.passUnretained(table), to: Unmanaged<AnyObject>.self)))
            table = grown
            _ = Unmanaged.passRetained(grown)
        }
        sequence.add(1, ordering: .sequentiallyConsistent)
        publishedTree.store(UInt(bitPattern: newVersion.toOpaque()), ordering: .sequentiallyConsistent)
        publishedTable.store(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()), ordering: .sequentiallyConsistent)
        changeIndex(table, &retired)
        sequence.add(1, ordering: .sequentiallyConsistent)
        reclaimer.retire(retired)
    }

    /// Writer: replaces the whole state with `tree` and an index built from it (restore, close).
    private func replaceAll(with tree: ByteTree) {
        let table = HashTable(capacity: tree.count * 4)
        var bytes = 0
        _ = tree.scan(from: nil, to: nil, limit: 0) { key, value in
            let record = IndexRecord.make(key, value, hash: indexHash(key))
            bytes += IndexRecord.bytes(record)
            table.insertNew(record)
            return true
        }
        let oldTable = currentTable
        let oldVersion = currentVersion
        var retired: [EpochReclaimer.Retired] = [
            .object(unsafeBitCast(Unmanaged.passUnretained(oldVersion), to: Unmanaged<AnyObject>.self)),
            .object(unsafeBitCast(Unmanaged.passUnretained(oldTable), to: Unmanaged<AnyObject>.self)),
        ]
        oldTable.forEachRecord { retired.append(.record($0)) }
        sequence.add(1, ordering: .sequentiallyConsistent)
        publishedTree.store(UInt(bitPattern: Unmanaged.passRetained(TreeVersion(tree)).toOpaque()), ordering: .sequentiallyConsistent)
        publishedTable.store(UInt(bitPattern: Unmanaged.passRetained(table).toOpaque()), ordering: .sequentiallyConsistent)
        sequence.add(1, ordering: .sequentiallyConsistent)
        recordBytes = bytes
        reclaimer.retire(retired)
    }

    /// Nothing to sync; still refuses a closed engine.
    public func sync() throws {
        try checkOpen()
    }

    // MARK: Snapshots

    /// Records the current state under `name`. O(1): the snapshot shares the tree's nodes.
    public func createSnapshot(named name: String) throws {
        try writer.withLock { _ in
            try checkOpen()
            try validateSnapshotName(name)
            guard snapshots[name] == nil else {
                throw OrbitError(.invalidArgument, "memory: snapshot '\(name)' already exists",
                                 hint: "drop it first or choose another name")
            }
            snapshots[name] = currentVersion.tree
        }
    }

    /// Makes the state recorded under `name` current again; the snapshot stays and can be restored
    /// again. O(n): the hash index is rebuilt from the snapshot's tree.
    public func restoreSnapshot(named name: String) throws {
        try writer.withLock { _ in
            try checkOpen()
            guard let snapshot = snapshots[name] else { throw notFound(name) }
            replaceAll(with: snapshot)
        }
    }

    /// Snapshot names, sorted.
    public func listSnapshots() throws -> [String] {
        try writer.withLock { _ in
            try checkOpen()
            return snapshots.keys.sorted()
        }
    }

    public func dropSnapshot(named name: String) throws {
        try writer.withLock { _ in
            try checkOpen()
            guard snapshots.removeValue(forKey: name) != nil else { throw notFound(name) }
        }
    }

    // MARK: Stats and lifecycle

    /// Exact counts and sizes. `memoryUsageBytes` estimates the heap held by the tree and every
    /// snapshot (nodes shared between them counted once: each node with its slots, its arena's
    /// capacity and its child array), plus the hash index (its table and records), without malloc's
    /// per-block overhead. It walks every node: O(nodes), about 1/40 of the keys (a few milliseconds
    /// at a million keys, under the writer mutex: writes wait, reads do not).
    public func stats() throws -> StorageStats {
        try writer.withLock { _ in
            try checkOpen()
            let tree = currentVersion.tree
            var s = StorageStats()
            s.totalKeys = UInt64(tree.count)
            s.totalSizeBytes = UInt64(tree.keyBytes + tree.valueBytes)
            s.averageKeySize = tree.count == 0 ? 0 : UInt64(tree.keyBytes / tree.count)
            s.averageValueSize = tree.count == 0 ? 0 : UInt64(tree.valueBytes / tree.count)
            var seen: Set<ObjectIdentifier>? = snapshots.isEmpty ? nil : []
            var memory = tree.footprintBytes(seen: &seen)
            for snapshot in snapshots.values { memory += snapshot.footprintBytes(seen: &seen) }
            memory += currentTable.footprintBytes + recordBytes
            s.memoryUsageBytes = UInt64(memory)
            s.diskUsageBytes = 0
            s.treeHeight = UInt64(tree.height)
            s.extra = [StorageStats.Extra("snapshots", Double(snapshots.count))]
            return s
        }
    }

    /// Releases the tree, the index and the snapshots (once no reader holds them). Every later call,
    /// `close()` included, throws `.closed`.
    public func close() throws {
        try writer.withLock { _ in
            try checkOpen()
            closed.store(true, ordering: .sequentiallyConsistent)
            replaceAll(with: ByteTree())
            snapshots = [:]
            reclaimer.reclaim()
        }
    }

    // MARK: Helpers

    @inline(__always)
    private func checkOpen() throws {
        if closed.load(ordering: .relaxed) { throw OrbitError(.closed, "memory engine used after close()", hint: "open a new MemoryEngine") }
    }

    private func notFound(_ name: String) -> OrbitError {
        OrbitError(.notFound, "memory: no snapshot named '\(name)'", hint: "listSnapshots() names the existing ones")
    }
}

extension MemoryEngine {
    /// The memory engine stores keys and values of any size the process can hold.
    public static var limits: EngineLimits { .unlimited }
}

import OrbitCore

/// The in-memory reference engine: a sorted map in a copy-on-write B+tree (`ByteTree`), no I/O.
///
/// It is the floor of every comparison: what the harness itself costs when the engine costs
/// almost nothing. Nothing survives the process, whatever the durability mode (see
/// `durabilityPromise(for:)`); `sync()` has nothing to do.
///
/// Thread safety: every method may be called from any thread. Reads (`get`, `scan`, `stats`,
/// `listSnapshots`) hold a shared lock and run concurrently with each other; writes (`put`,
/// `delete`, `write`, snapshot changes, `close`) hold the lock exclusively, one at a time, and wait
/// for running reads. A batch is applied under one exclusive hold, so readers see all of it or none.
/// The closures given to `get` and `scan` run under the shared lock: they must not call back into
/// the engine (a write would deadlock; a nested read may deadlock behind a waiting writer, since the
/// lock prefers writers so that readers cannot starve them).
///
/// Snapshots are O(1): a snapshot keeps the tree's root, and later writes copy only the nodes on
/// the paths they change. They live in memory and vanish with the engine.
///
/// Limits: a key or value is at most `UInt32.max` bytes (as in `WriteBatch`).
public final class MemoryEngine: StorageEngine, @unchecked Sendable {
    /// No settings of its own yet.
    public static let knobs: [Knob] = []

    public let backendName = MemoryDescriptor.name
    /// The mode it was opened with. It changes nothing: there is no storage to sync to.
    public let durability: DurabilityMode
    public var dataDirectory: String? { nil }

    private let lock = EngineRWLock()
    // Guarded by `lock`: read under the shared hold, written under the exclusive one. That is the
    // exclusivity Swift would otherwise check at run time on every access (a few % of a get).
    @exclusivity(unchecked) private var tree = ByteTree()
    @exclusivity(unchecked) private var snapshots: [String: ByteTree] = [:]
    @exclusivity(unchecked) private var isClosed = false

    public init(durability: DurabilityMode = .none) {
        self.durability = durability
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
        try lock.withReadLock {
            try checkOpen()
            return try tree.withValue(key, body)
        }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try lock.withReadLock {
            try checkOpen()
            return try tree.scan(from: start, to: end, limit: limit, visit)
        }
    }

    // MARK: Writes

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        guard key.count <= Int(UInt32.max), value.count <= Int(UInt32.max) else {
            throw OrbitError(.invalidArgument, "memory: key (\(key.count) bytes) or value (\(value.count) bytes) over 4 GiB",
                             hint: "keys and values are at most \(UInt32.max) bytes")
        }
        try lock.withWriteLock {
            try checkOpen()
            tree.put(key, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try lock.withWriteLock {
            try checkOpen()
            tree.remove(key)
        }
    }

    /// Applies the batch in order under one exclusive hold. Nothing in it can fail halfway (sizes
    /// were bounded when the batch was built), so it is all or nothing.
    public func write(_ batch: WriteBatch) throws {
        try lock.withWriteLock {
            try checkOpen()
            batch.forEach { op, key, value in
                switch op {
                case .put: tree.put(key, value)
                case .delete: tree.remove(key)
                }
            }
        }
    }

    /// Nothing to sync; still refuses a closed engine.
    public func sync() throws {
        try lock.withReadLock { try checkOpen() }
    }

    // MARK: Snapshots

    /// Records the current state under `name`. O(1): the snapshot shares the tree's nodes.
    public func createSnapshot(named name: String) throws {
        try lock.withWriteLock {
            try checkOpen()
            try validateSnapshotName(name)
            guard snapshots[name] == nil else {
                throw OrbitError(.invalidArgument, "memory: snapshot '\(name)' already exists",
                                 hint: "drop it first or choose another name")
            }
            snapshots[name] = tree
        }
    }

    /// Makes the state recorded under `name` current again; the snapshot stays and can be restored again.
    public func restoreSnapshot(named name: String) throws {
        try lock.withWriteLock {
            try checkOpen()
            guard let snapshot = snapshots[name] else { throw notFound(name) }
            tree = snapshot
        }
    }

    /// Snapshot names, sorted.
    public func listSnapshots() throws -> [String] {
        try lock.withReadLock {
            try checkOpen()
            return snapshots.keys.sorted()
        }
    }

    public func dropSnapshot(named name: String) throws {
        try lock.withWriteLock {
            try checkOpen()
            guard snapshots.removeValue(forKey: name) != nil else { throw notFound(name) }
        }
    }

    // MARK: Stats and lifecycle

    /// Exact counts and sizes. `memoryUsageBytes` estimates the heap held by the tree and every
    /// snapshot (nodes shared between them counted once): each node with its slots, its arena's
    /// capacity and its child array, without malloc's per-block overhead. It walks every node:
    /// O(nodes), about 1/40 of the keys (a few milliseconds at a million keys, under the shared lock).
    public func stats() throws -> StorageStats {
        try lock.withReadLock {
            try checkOpen()
            var s = StorageStats()
            s.totalKeys = UInt64(tree.count)
            s.totalSizeBytes = UInt64(tree.keyBytes + tree.valueBytes)
            s.averageKeySize = tree.count == 0 ? 0 : UInt64(tree.keyBytes / tree.count)
            s.averageValueSize = tree.count == 0 ? 0 : UInt64(tree.valueBytes / tree.count)
            var seen: Set<ObjectIdentifier>? = snapshots.isEmpty ? nil : []
            var memory = tree.footprintBytes(seen: &seen)
            for snapshot in snapshots.values { memory += snapshot.footprintBytes(seen: &seen) }
            s.memoryUsageBytes = UInt64(memory)
            s.diskUsageBytes = 0
            s.treeHeight = UInt64(tree.height)
            s.extra = [StorageStats.Extra("snapshots", Double(snapshots.count))]
            return s
        }
    }

    /// Releases the tree and the snapshots. Every later call, `close()` included, throws `.closed`.
    public func close() throws {
        try lock.withWriteLock {
            try checkOpen()
            isClosed = true
            tree = ByteTree()
            snapshots = [:]
        }
    }

    // MARK: Helpers

    @inline(__always)
    private func checkOpen() throws {
        if isClosed { throw OrbitError(.closed, "memory engine used after close()", hint: "open a new MemoryEngine") }
    }

    private func notFound(_ name: String) -> OrbitError {
        OrbitError(.notFound, "memory: no snapshot named '\(name)'", hint: "listSnapshots() names the existing ones")
    }
}

extension MemoryEngine {
    /// The memory engine stores keys and values of any size the process can hold.
    public static var limits: EngineLimits { .unlimited }
}

import OrbitCore
import Synchronization

/// A tiny sorted-map engine for the lease tests: one mutex around a sorted array of (key, value).
/// Every call is atomic (a batch applies under one lock hold, a scan sees one state), which is all
/// the directory needs from an engine. Not for benchmarking.
final class SortedArrayEngine: StorageEngine {
    private struct State {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var snapshots: [String: [(key: [UInt8], value: [UInt8])]] = [:]
        var closed = false

        /// First index whose key is >= key.
        func lowerBound(_ key: UnsafeRawBufferPointer) -> Int {
            var lo = 0, hi = entries.count
            while lo < hi {
                let mid = (lo + hi) / 2
                let c = entries[mid].key.withUnsafeBytes { compareBytes($0, key) }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        func find(_ key: UnsafeRawBufferPointer) -> Int? {
            let i = lowerBound(key)
            guard i < entries.count, entries[i].key.withUnsafeBytes({ compareBytes($0, key) }) == 0 else { return nil }
            return i
        }

        mutating func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
            let i = lowerBound(key)
            if i < entries.count, entries[i].key.withUnsafeBytes({ compareBytes($0, key) }) == 0 {
                entries[i].value = [UInt8](value)
            } else {
                entries.insert(([UInt8](key), [UInt8](value)), at: i)
            }
        }

        mutating func delete(_ key: UnsafeRawBufferPointer) {
            if let i = find(key) { entries.remove(at: i) }
        }

        func checkOpen() throws {
            if closed { throw OrbitError(.closed, "engine is closed") }
        }
    }

    private let state = Lock(State())

    init() {}

    var backendName: String { "sorted-array" }
    var durability: DurabilityMode { .none }
    var dataDirectory: String? { nil }
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        DurabilityPromise(.nothing, "in-memory test engine")
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try state.withLock { s in try s.checkOpen(); s.put(key, value) }
    }

    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        // Copy out under the lock, call body outside it.
        let value: [UInt8]? = try state.withLock { s in
            try s.checkOpen()
            return s.find(key).map { s.entries[$0].value }
        }
        guard let value else { return try body(nil) }
        return try value.withUnsafeBytes { try body($0) }
    }

    func delete(_ key: UnsafeRawBufferPointer) throws {
        try state.withLock { s in try s.checkOpen(); s.delete(key) }
    }

    func write(_ batch: WriteBatch) throws {
        try state.withLock { s in
            try s.checkOpen()
            batch.forEach { op, k, v in
                switch op {
                case .put: s.put(k, v)
                case .delete: s.delete(k)
                }
            }
        }
    }

    @discardableResult
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        // One consistent view: copy the range under the lock, visit outside it.
        let slice: [(key: [UInt8], value: [UInt8])] = try state.withLock { s in
            try s.checkOpen()
            var i = start.map { s.lowerBound($0) } ?? 0
            var out: [(key: [UInt8], value: [UInt8])] = []
            while i < s.entries.count {
                if let end, s.entries[i].key.withUnsafeBytes({ compareBytes($0, end) }) >= 0 { break }
                if limit > 0 && out.count >= limit { break }
                out.append(s.entries[i])
                i += 1
            }
            return out
        }
        var visited = 0
        for (k, v) in slice {
            visited += 1
            let more = try k.withUnsafeBytes { kp in try v.withUnsafeBytes { vp in try visit(kp, vp) } }
            if !more { break }
        }
        return visited
    }

    func sync() throws { try state.withLock { try $0.checkOpen() } }

    func createSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try state.withLock { s in
            try s.checkOpen()
            guard s.snapshots[name] == nil else { throw OrbitError(.invalidArgument, "snapshot '\(name)' exists") }
            s.snapshots[name] = s.entries
        }
    }

    func restoreSnapshot(named name: String) throws {
        try state.withLock { s in
            try s.checkOpen()
            guard let snap = s.snapshots[name] else { throw OrbitError(.notFound, "no snapshot '\(name)'") }
            s.entries = snap
        }
    }

    func listSnapshots() throws -> [String] {
        try state.withLock { s in try s.checkOpen(); return s.snapshots.keys.sorted() }
    }

    func dropSnapshot(named name: String) throws {
        try state.withLock { s in
            try s.checkOpen()
            guard s.snapshots.removeValue(forKey: name) != nil else { throw OrbitError(.notFound, "no snapshot '\(name)'") }
        }
    }

    func stats() throws -> StorageStats {
        try state.withLock { s in
            try s.checkOpen()
            var st = StorageStats()
            st.totalKeys = UInt64(s.entries.count)
            let kb = s.entries.reduce(0) { $0 + $1.key.count }, vb = s.entries.reduce(0) { $0 + $1.value.count }
            st.totalSizeBytes = UInt64(kb + vb)
            st.memoryUsageBytes = st.totalSizeBytes
            if !s.entries.isEmpty {
                st.averageKeySize = UInt64(kb / s.entries.count)
                st.averageValueSize = UInt64(vb / s.entries.count)
            }
            return st
        }
    }

    func close() throws { state.withLock { $0.closed = true } }
}

/// Wraps an engine and counts what the directory asks of it: entries visited by scans, batch writes,
/// single puts, deletes and gets. Can be told to fail the next batch write (to prove bulk atomicity).
final class CountingEngine<Base: StorageEngine>: StorageEngine {
    let base: Base
    let scannedEntries = Atomic<Int>(0)
    let scans = Atomic<Int>(0)
    let batchWrites = Atomic<Int>(0)
    let puts = Atomic<Int>(0)
    let deletes = Atomic<Int>(0)
    let gets = Atomic<Int>(0)
    let failNextWrite = Atomic<Bool>(false)

    init(_ base: Base) { self.base = base }

    func resetCounters() {
        scannedEntries.store(0, ordering: .relaxed)
        scans.store(0, ordering: .relaxed)
        batchWrites.store(0, ordering: .relaxed)
        puts.store(0, ordering: .relaxed)
        deletes.store(0, ordering: .relaxed)
        gets.store(0, ordering: .relaxed)
    }

    var backendName: String { base.backendName }
    var durability: DurabilityMode { base.durability }
    var dataDirectory: String? { base.dataDirectory }
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise { Base.durabilityPromise(for: mode) }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        puts.add(1, ordering: .relaxed)
        try base.put(key, value)
    }
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        gets.add(1, ordering: .relaxed)
        return try base.get(key, body)
    }
    func delete(_ key: UnsafeRawBufferPointer) throws {
        deletes.add(1, ordering: .relaxed)
        try base.delete(key)
    }
    func write(_ batch: WriteBatch) throws {
        if failNextWrite.exchange(false, ordering: .relaxed) {
            throw OrbitError(.io, "injected write failure")
        }
        batchWrites.add(1, ordering: .relaxed)
        try base.write(batch)
    }
    @discardableResult
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        scans.add(1, ordering: .relaxed)
        let n = try base.scan(from: start, to: end, limit: limit, visit)
        scannedEntries.add(n, ordering: .relaxed)
        return n
    }
    func sync() throws { try base.sync() }
    func createSnapshot(named name: String) throws { try base.createSnapshot(named: name) }
    func restoreSnapshot(named name: String) throws { try base.restoreSnapshot(named: name) }
    func listSnapshots() throws -> [String] { try base.listSnapshots() }
    func dropSnapshot(named name: String) throws { try base.dropSnapshot(named: name) }
    func stats() throws -> StorageStats { try base.stats() }
    func close() throws { try base.close() }
}

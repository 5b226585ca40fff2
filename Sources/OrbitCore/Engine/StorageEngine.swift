/// The byte-level ordered key-value store every engine implements, and the only way the harness
/// touches an engine.
///
/// Keys and values are bytes, ordered by `compareBytes` (memcmp, then length). The empty key is a
/// valid key. Pointers passed in are valid only for the call; pointers passed to a closure are valid
/// only inside that closure, and the closure must not call back into the engine (it may run under
/// the engine's lock).
///
/// Engines are `final class`es that do their own locking; each documents its thread-safety contract.
/// Engines never time themselves: the metering layer (Runner) does. Engines count the disk bytes an
/// operation moves through `ThreadIO`.
///
/// The runner is generic over the concrete engine type, so calls are specialized, not existential.
public protocol StorageEngine: AnyObject, Sendable {
    /// Backend name as it appears in results ("memory", "rocksdb").
    var backendName: String { get }
    /// The durability mode this instance was opened with.
    var durability: DurabilityMode { get }
    /// Where the store lives on disk (nil for in-memory engines).
    var dataDirectory: String? { get }

    /// What this engine promises to keep after a crash under `mode`.
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise

    /// Inserts or overwrites. Returns once acknowledged under `durability`.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws
    /// Calls `body` with the value (nil when the key is absent) and returns its result.
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R
    /// Removes the key; removing an absent key is not an error.
    func delete(_ key: UnsafeRawBufferPointer) throws
    /// Applies every entry of the batch or none of them, in order.
    func write(_ batch: WriteBatch) throws
    /// Visits keys in [start, end) in ascending order, at most `limit` of them (`limit` <= 0: no limit),
    /// until `visit` returns false. `nil` bounds are open. Returns how many entries were visited.
    @discardableResult
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int
    /// Makes every acknowledged write durable, whatever the durability mode.
    func sync() throws
    /// Durably records the current state under `name` (an existing name is an error).
    func createSnapshot(named name: String) throws
    /// Rolls the store back to the state recorded under `name`.
    func restoreSnapshot(named name: String) throws
    func listSnapshots() throws -> [String]
    func dropSnapshot(named name: String) throws
    /// The engine's own account of itself.
    func stats() throws -> StorageStats
    /// Syncs and releases everything. Further calls throw `OrbitError.Code.closed`.
    func close() throws
}

// MARK: - Conveniences for [UInt8] callers (tests, tools, library users)

extension StorageEngine {
    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try put(k, v) } }
    }

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k in try get(k) { $0.map { [UInt8]($0) } } }
    }

    /// Copies the value into `buffer` (reusing its capacity). Returns false when the key is absent.
    public func get(_ key: UnsafeRawBufferPointer, into buffer: inout [UInt8]) throws -> Bool {
        try get(key) { value in
            buffer.removeAll(keepingCapacity: true)
            guard let value else { return false }
            buffer.append(contentsOf: value)
            return true
        }
    }

    public func delete(_ key: [UInt8]) throws {
        try key.withUnsafeBytes { try delete($0) }
    }

    /// Collects up to `limit` entries of [start, end) (for tests and tools, not hot paths).
    public func scan(from start: [UInt8]?, to end: [UInt8]?, limit: Int = 0) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        func run(_ s: UnsafeRawBufferPointer?, _ e: UnsafeRawBufferPointer?) throws {
            try scan(from: s, to: e, limit: limit) { k, v in
                out.append(([UInt8](k), [UInt8](v)))
                return true
            }
        }
        switch (start, end) {
        case let (s?, e?): try s.withUnsafeBytes { sp in try e.withUnsafeBytes { ep in try run(sp, ep) } }
        case let (s?, nil): try s.withUnsafeBytes { try run($0, nil) }
        case let (nil, e?): try e.withUnsafeBytes { try run(nil, $0) }
        case (nil, nil): try run(nil, nil)
        }
        return out
    }
}

/// Snapshot names become directory or file names: keep them to a safe alphabet.
public func validateSnapshotName(_ name: String) throws {
    let ok = !name.isEmpty && name.count <= 128 && name.utf8.allSatisfy {
        ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
    } && name != "." && name != ".."
    guard ok else {
        throw OrbitError(.invalidArgument, "bad snapshot name '\(name)'",
                         hint: "use 1-128 characters from A-Z a-z 0-9 . _ -")
    }
}

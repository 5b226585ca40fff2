import OrbitCore

/// A toy engine for the registry's acceptance test (issue 15): a sorted array of entries in memory,
/// written whole to `toy.db` on every sync and close (and on every write under a syncing durability
/// mode); a snapshot is a copy, kept as `toy.db.snap-<name>`. Small on purpose: it shows that one descriptor and one `EngineRegistry.register` call put
/// an engine into `run`, `kv`, `crash`, `inspect`, `list` and the conformance suite.
final class ToyEngine: StorageEngine, Sendable {
    private struct State {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var snapshots: [String: [(key: [UInt8], value: [UInt8])]] = [:]
        var closed = false
    }

    static let fileName = "toy.db"
    static let magic: [UInt8] = Array("TOY1".utf8)
    static let snapshotPrefix = fileName + ".snap-"

    let backendName = ToyDescriptor.name
    let durability: DurabilityMode
    let dataDirectory: String?
    private let access: StoreAccess
    private let state = Lock(State())  // OrbitCore's lock: ThreadSanitizer sees it (Synchronization.Mutex it does not)

    init(directory: String, durability: DurabilityMode, access: StoreAccess) throws {
        self.durability = durability
        self.access = access
        dataDirectory = directory
        let fs = POSIXFileSystem()
        let path = joinPath(directory, Self.fileName)
        if try fs.exists(path) {
            let entries = try Self.decode(fs.readFile(path), at: path)
            var snapshots: [String: [(key: [UInt8], value: [UInt8])]] = [:]
            for name in try fs.list(directory: directory) where name.hasPrefix(Self.snapshotPrefix) {
                let file = joinPath(directory, name)
                snapshots[String(name.dropFirst(Self.snapshotPrefix.count))] = try Self.decode(fs.readFile(file), at: file)
            }
            state.withLock {
                $0.entries = entries
                $0.snapshots = snapshots
            }
        } else if access == .readWrite {
            try fs.createDirectory(directory, intermediates: true)
        }
    }

    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        DurabilityPromise(mode == .none ? .processCrash : .powerLoss, "toy engine: the whole store is rewritten on sync and close")
    }

    // MARK: The file: magic, count, then (key length, key, value length, value), lengths as UInt32 LE.

    static func encode(_ entries: [(key: [UInt8], value: [UInt8])]) -> [UInt8] {
        var out = magic
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out.append(contentsOf: $0) } }
        u32(entries.count)
        for e in entries {
            u32(e.key.count); out += e.key
            u32(e.value.count); out += e.value
        }
        return out
    }

    static func decode(_ bytes: [UInt8], at path: String) throws -> [(key: [UInt8], value: [UInt8])] {
        var at = 0
        func bad() -> OrbitError { OrbitError(.corruption, "not a toy store file (byte \(at))", at: path) }
        func u32() throws -> Int {
            guard at + 4 <= bytes.count else { throw bad() }
            defer { at += 4 }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        func take(_ n: Int) throws -> [UInt8] {
            guard at + n <= bytes.count else { throw bad() }
            defer { at += n }
            return Array(bytes[at..<at + n])
        }
        guard try take(4) == magic else { throw bad() }
        var entries: [(key: [UInt8], value: [UInt8])] = []
        for _ in 0..<(try u32()) { entries.append((try take(u32()), try take(u32()))) }
        guard at == bytes.count else { throw bad() }
        return entries
    }

    // MARK: StorageEngine

    private func read<R>(_ body: (State) throws -> R) throws -> R {
        try state.withLock { s in
            guard !s.closed else { throw OrbitError(.closed, "the toy engine is closed") }
            return try body(s)
        }
    }

    private func write<R>(_ body: (inout State) throws -> R) throws -> R {
        try state.withLock { s in
            guard !s.closed else { throw OrbitError(.closed, "the toy engine is closed") }
            guard access == .readWrite else { throw OrbitError(.readOnly, "the toy store is open read-only") }
            let r = try body(&s)
            if durability != .none { try persist(s) }
            return r
        }
    }

    private func persist(_ s: State) throws {
        guard access == .readWrite, let dataDirectory else { return }
        try POSIXFileSystem().writeFileAtomically(joinPath(dataDirectory, Self.fileName), Self.encode(s.entries))
    }

    /// The index of `key`, or where it would go.
    private static func find(_ entries: [(key: [UInt8], value: [UInt8])], _ key: UnsafeRawBufferPointer) -> (Int, found: Bool) {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let c = entries[mid].key.withUnsafeBytes { compareBytes($0, key) }
            if c == 0 { return (mid, true) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (lo, false)
    }

    private static func put(_ s: inout State, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        let (i, found) = find(s.entries, key)
        if found { s.entries[i].value = [UInt8](value) } else { s.entries.insert(([UInt8](key), [UInt8](value)), at: i) }
    }

    private static func delete(_ s: inout State, _ key: UnsafeRawBufferPointer) {
        let (i, found) = find(s.entries, key)
        if found { s.entries.remove(at: i) }
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws { try write { Self.put(&$0, key, value) } }

    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try read { s in
            let (i, found) = Self.find(s.entries, key)
            return found ? try s.entries[i].value.withUnsafeBytes { try body($0) } : try body(nil)
        }
    }

    func delete(_ key: UnsafeRawBufferPointer) throws { try write { Self.delete(&$0, key) } }

    func write(_ batch: WriteBatch) throws {
        try write { s in
            batch.forEach { op, k, v in
                if op == .put { Self.put(&s, k, v) } else { Self.delete(&s, k) }
            }
        }
    }

    @discardableResult
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try read { s in
            var i = start.map { Self.find(s.entries, $0).0 } ?? 0
            var n = 0
            while i < s.entries.count, limit <= 0 || n < limit {
                let e = s.entries[i]
                if let end, e.key.withUnsafeBytes({ compareBytes($0, end) }) >= 0 { break }
                n += 1
                guard try e.key.withUnsafeBytes({ k in try e.value.withUnsafeBytes { v in try visit(k, v) } }) else { break }
                i += 1
            }
            return n
        }
    }

    func sync() throws { try read { try persist($0) } }

    func createSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try write { s in
            guard s.snapshots[name] == nil else { throw OrbitError(.invalidArgument, "snapshot '\(name)' exists") }
            s.snapshots[name] = s.entries
            try POSIXFileSystem().writeFileAtomically(snapshotPath(name), Self.encode(s.entries))
        }
    }

    func restoreSnapshot(named name: String) throws {
        try write { s in
            guard let snap = s.snapshots[name] else { throw OrbitError(.notFound, "no snapshot '\(name)'") }
            s.entries = snap
        }
    }

    private func snapshotPath(_ name: String) -> String { joinPath(dataDirectory ?? "", Self.snapshotPrefix + name) }

    func listSnapshots() throws -> [String] { try read { $0.snapshots.keys.sorted() } }

    func dropSnapshot(named name: String) throws {
        try write { s in
            guard s.snapshots.removeValue(forKey: name) != nil else { throw OrbitError(.notFound, "no snapshot '\(name)'") }
            try POSIXFileSystem().remove(snapshotPath(name))
        }
    }

    func stats() throws -> StorageStats {
        try read { s in
            var st = StorageStats()
            st.totalKeys = UInt64(s.entries.count)
            let keyBytes = s.entries.reduce(0) { $0 + $1.key.count }, valueBytes = s.entries.reduce(0) { $0 + $1.value.count }
            st.totalSizeBytes = UInt64(keyBytes + valueBytes)
            st.memoryUsageBytes = st.totalSizeBytes
            if !s.entries.isEmpty {
                st.averageKeySize = UInt64(keyBytes / s.entries.count)
                st.averageValueSize = UInt64(valueBytes / s.entries.count)
            }
            return st
        }
    }

    func close() throws {
        try state.withLock { s in
            guard !s.closed else { throw OrbitError(.closed, "the toy engine is closed") }
            try persist(s)
            s.closed = true
        }
    }
}

/// The toy's options: one knob, so `list` and `--set` show that the registry carries an engine's knobs.
struct ToyOptions: EngineOptions {
    var greeting = "hello"
    init() {}
    static var knobs: [Knob] {
        [Knob("toy.greeting", section: "toy_config", key: "greeting", env: "ORBIT_TOY_GREETING", kind: .string, default: .string("hello"), help: "a toy knob (the toy engine ignores it)")]
    }
    init(settings: Settings) throws { greeting = settings.string("toy.greeting") }
    func validate(durability: DurabilityMode) throws {}
}

/// The toy engine, as the registry knows it: everything the harness needs, in one type.
enum ToyDescriptor: EngineDescriptor {
    typealias Engine = ToyEngine
    typealias Options = ToyOptions

    static let name = "toy"
    static let aliases = ["toyengine"]
    static let summary = "a sorted array written whole to one file (the registry's acceptance test)"
    static let capabilities: EngineCapabilities = [.snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen, .inspect]

    static func open(directory: String, options: ToyOptions, durability: DurabilityMode, access: StoreAccess) throws -> ToyEngine {
        try ToyEngine(directory: directory, durability: durability, access: access)
    }

    static func limits(_ options: ToyOptions) -> EngineLimits { EngineLimits(maxKeySize: 1 << 20, maxValueSize: 1 << 24) }

    static func recognizeStore(at directory: String) -> StoreRecognition {
        guard case .entries(let names) = StoreDirectoryListing.list(directory), !names.isEmpty else { return .empty }
        let path = joinPath(directory, ToyEngine.fileName)
        if names.contains(ToyEngine.fileName), let bytes = try? POSIXFileSystem().readFile(path),
           Array(bytes.prefix(4)) == ToyEngine.magic {
            return .ours(markers: ["\(ToyEngine.fileName) (TOY1)"])
        }
        return .notOurs(found: StoreDirectoryListing.few(names.sorted()))
    }

    static func isStoreEntry(_ name: String) -> Bool { name == ToyEngine.fileName || name.hasPrefix(ToyEngine.fileName + ".") }

    static func inspect(directory: String) throws -> EngineInspection {
        let path = joinPath(directory, ToyEngine.fileName)
        do {
            let entries = try ToyEngine.decode(POSIXFileSystem().readFile(path), at: path)
            return EngineInspection(lines: ["toy store \(directory): \(entries.count) key(s)", "ok: every entry read"], ok: true)
        } catch let e as OrbitError {
            return EngineInspection(lines: ["CORRUPTION: \(e)"], ok: false)
        }
    }
}

import CowBTree
import LMDBEngine
import LSMTree
import MemoryEngine
import OrbitCore
import RocksDBEngine

/// The engines the conformance suite runs, by backend name.
public enum EngineKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case memory
    case rocksdb
    case lmdb
    /// The cow engine in its default WAL mode.
    case cow
    /// The cow engine in pure copy-on-write mode (cow.wal=false).
    case cowNoWAL = "cow-nowal"
    case lsm

    public var description: String { rawValue }

    /// Whether a store that is closed and opened again in the same directory keeps its data.
    /// The memory engine keeps nothing; tests of "reopen keeps data" skip it.
    public var isPersistent: Bool {
        switch self {
        case .memory: false
        case .rocksdb, .lmdb, .cow, .cowNoWAL, .lsm: true
        }
    }
}

/// How to open one kind of engine, with its concrete type: a test written against
/// `EngineHarness<Engine>` is specialized per engine, as the runner is.
public struct EngineHarness<Engine: StorageEngine>: Sendable {
    public let kind: EngineKind
    /// The store's directory (unused by the memory engine).
    public let directory: String
    public let durability: DurabilityMode
    private let opener: @Sendable (String, DurabilityMode) throws -> Engine

    public init(kind: EngineKind, directory: String, durability: DurabilityMode,
                opener: @escaping @Sendable (String, DurabilityMode) throws -> Engine) {
        self.kind = kind
        self.directory = directory
        self.durability = durability
        self.opener = opener
    }

    public var isPersistent: Bool { kind.isPersistent }

    /// Opens the store in `directory` (created on first use) with the harness's durability mode.
    public func open() throws -> Engine { try opener(directory, durability) }

    /// Opens the store in `directory` with another durability mode.
    public func open(durability: DurabilityMode) throws -> Engine { try opener(directory, durability) }

    /// Closes `engine` and opens the same store again. For an engine that is not persistent the
    /// result is a new, empty engine: check `isPersistent` before expecting data to survive.
    public func reopen(_ engine: Engine) throws -> Engine {
        try engine.close()
        return try open()
    }
}

/// A test body written once for every engine: `visit` is generic over the engine type, so each
/// engine gets its own specialization and every call is direct.
///
///     struct CountKeys: EngineVisitor {
///         func visit<E: StorageEngine>(_ harness: EngineHarness<E>) throws -> UInt64 {
///             let engine = try harness.open()
///             defer { try? engine.close() }
///             return try engine.stats().totalKeys
///         }
///     }
///     let n = try EngineKind.memory.accept(CountKeys())
public protocol EngineVisitor {
    associatedtype Result
    func visit<Engine: StorageEngine>(_ harness: EngineHarness<Engine>) throws -> Result
}

extension EngineKind {
    /// Calls `visitor` with this kind's harness, its store in `directory/<backend>`.
    public func accept<V: EngineVisitor>(_ visitor: V, directory: String,
                                         durability: DurabilityMode = .none) throws -> V.Result {
        let dir = directory + "/" + rawValue
        switch self {
        case .memory:
            return try visitor.visit(EngineHarness<MemoryEngine>(kind: self, directory: dir, durability: durability) { _, mode in
                MemoryEngine(durability: mode)
            })
        case .rocksdb:
            return try visitor.visit(EngineHarness<RocksDBEngine>(kind: self, directory: dir, durability: durability) { path, mode in
                try RocksDBEngine(path: path, options: RocksDBOptions(settings: Settings(knobs: RocksDBOptions.knobs)),
                                  durability: mode)
            })
        case .lsm:
            return try visitor.visit(EngineHarness<LSMTree<POSIXFileSystem>>(kind: self, directory: dir, durability: durability) { path, mode in
                // Small memtables so the suite exercises flushes, levels and compaction.
                var o = LSMOptions()
                o.memtableSizeBytesOverride = 64 << 10
                o.blockCacheMB = 8
                return try LSMTree(fs: POSIXFileSystem(), directory: path, options: o, durability: mode)
            })
        case .lmdb:
            return try visitor.visit(EngineHarness<LMDBEngine>(kind: self, directory: dir, durability: durability) { path, mode in
                try LMDBEngine(path: path, options: LMDBOptions(settings: Settings(knobs: LMDBOptions.knobs)), durability: mode)
            })
        case .cow, .cowNoWAL:
            var options = CowOptions()
            options.wal = self == .cow
            // Small checkpoint thresholds so the suite exercises checkpoints, not just the WAL.
            options.snapshotInterval = 64
            let o = options
            return try visitor.visit(EngineHarness<CowEngine>(kind: self, directory: dir, durability: durability) { path, mode in
                try CowEngine(path: path, options: o, durability: mode)
            })
        }
    }

    /// Calls `visitor` with this kind's harness in a fresh temporary directory, removed afterwards.
    public func accept<V: EngineVisitor>(_ visitor: V, durability: DurabilityMode = .none) throws -> V.Result {
        try withTemporaryDirectory(prefix: "orbit-\(rawValue)") { try accept(visitor, directory: $0, durability: durability) }
    }

    /// Opens an engine of this kind with its store in `directory/<backend>`, behind the existential
    /// (for tests where dynamic dispatch does not matter).
    public func open(in directory: String, durability: DurabilityMode = .none) throws -> any StorageEngine {
        try accept(OpenVisitor(), directory: directory, durability: durability)
    }

    /// Runs `body` with a fresh engine of this kind in a temporary directory; closes the engine
    /// (unless `body` did) and removes the directory afterwards.
    public func withEngine<R>(durability: DurabilityMode = .none, _ body: (any StorageEngine) throws -> R) throws -> R {
        try withTemporaryDirectory(prefix: "orbit-\(rawValue)") { dir in
            let engine = try open(in: dir, durability: durability)
            defer { try? engine.close() }
            return try body(engine)
        }
    }
}

private struct OpenVisitor: EngineVisitor {
    func visit<Engine: StorageEngine>(_ harness: EngineHarness<Engine>) throws -> any StorageEngine {
        try harness.open()
    }
}

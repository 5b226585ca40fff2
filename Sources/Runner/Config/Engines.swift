public import OrbitCore
import CowBTree
import LMDBEngine
import LSMTree
import MemoryEngine
import RocksDBEngine

/// A piece of work to do on an engine, generic over the engine's concrete type: the runner picks the
/// type once, by a switch on the backend name, and everything inside is specialized.
public protocol EngineBody {
    associatedtype Result
    func run<E: StorageEngine>(_ engine: E) throws -> Result
}

/// The engines of this build, and how to open one from settings.
public enum Engines {
    public static var allKnobs: [Knob] { MemoryEngine.knobs + RocksDBOptions.knobs + LMDBOptions.knobs + CowOptions.knobs + LSMOptions.knobs }

    /// One line per backend for `orbit-bench list`.
    public static let descriptions: [(name: String, summary: String)] = [
        ("memory", "in-memory sorted map (B+tree): the floor that shows the harness's own overhead; nothing survives a crash"),
        ("rocksdb", "RocksDB \(RocksDBEngine.libraryVersion()) through its C API (librocksdb-dev); WAL, checkpoints as snapshots"),
        ("lsm", "hand-written LSM-tree: WAL, skiplist memtable, leveled SSTables with Bloom filters, block cache"),
        ("lmdb", "LMDB \(LMDBEngine.libraryVersion()) through its C API (liblmdb-dev): the reference copy-on-write B+tree"),
        ("cow", "hand-written copy-on-write B+tree paged through the file layer; WAL + checkpoints (cow.wal=false: pure copy-on-write commits)"),
    ]

    /// Opens `backend` with its store in `directory` and runs `body` on it. The engine is closed
    /// afterwards (also when `body` throws).
    public static func withEngine<B: EngineBody>(_ backend: String, directory: String, settings: Settings,
                                                 access: StoreAccess = .readWrite, _ body: B) throws -> B.Result {
        let durability = settings.durability()
        switch backend {
        case "memory":
            let engine = MemoryEngine(durability: durability)
            return try run(engine, body)
        case "rocksdb":
            let engine = try RocksDBEngine(path: directory, options: RocksDBOptions(settings: settings), durability: durability, access: access)
            return try run(engine, body)
        case "lsm":
            let engine = try LSMTree(fs: POSIXFileSystem(), directory: directory, options: LSMOptions(settings: settings), durability: durability, access: access)
            return try run(engine, body)
        case "lmdb":
            let engine = try LMDBEngine(path: directory, options: LMDBOptions(settings: settings), durability: durability, access: access)
            return try run(engine, body)
        case "cow":
            let engine = try CowEngine(path: directory, options: CowOptions(settings: settings), durability: durability, access: access)
            return try run(engine, body)
        default:
            throw OrbitError(.invalidConfig, "unknown backend '\(backend)'",
                             hint: "allowed: " + CoreKnobs.backendNames.joined(separator: ", "))
        }
    }

    private static func run<E: StorageEngine, B: EngineBody>(_ engine: E, _ body: B) throws -> B.Result {
        do {
            let r = try body.run(engine)
            try engine.close()
            return r
        } catch {
            try? engine.close()
            throw error
        }
    }

    /// Checks the backend's options against the settings before anything is opened or written, so a
    /// bad combination is refused up front (exit status 2), naming where each setting came from.
    public static func validate(_ backend: String, settings: Settings) throws {
        switch backend {
        case "rocksdb": _ = try RocksDBOptions.validated(from: settings)
        case "cow": _ = try CowOptions.validated(from: settings)
        case "lsm": _ = try LSMOptions.validated(from: settings)
        case "lmdb": _ = try LMDBOptions.validated(from: settings)
        default: break
        }
    }

    /// Whether the backend keeps its store on disk.
    public static func isDurable(_ backend: String) -> Bool { backend != "memory" }

    public static func durabilityPromise(_ backend: String, _ mode: DurabilityMode) -> DurabilityPromise {
        switch backend {
        case "memory": MemoryEngine.durabilityPromise(for: mode)
        case "lmdb": LMDBEngine.durabilityPromise(for: mode)
        case "cow": CowEngine.durabilityPromise(for: mode)
        case "lsm": LSMTree<POSIXFileSystem>.durabilityPromise(for: mode)
        default: RocksDBEngine.durabilityPromise(for: mode)
        }
    }
}

import OrbitCore

/// The `rocksdb` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A reference: its crash results are reported for the record, and it does its own I/O (no file layer).
public enum RocksDBDescriptor: EngineDescriptor {
    public typealias Engine = RocksDBEngine
    public typealias Options = RocksDBOptions

    public static let name = "rocksdb"
    public static var summary: String {
        "RocksDB \(RocksDBEngine.libraryVersion()) through its C API (librocksdb-dev); WAL, checkpoints as snapshots"
    }
    public static let plotColour: String? = "#d62728"
    public static let capabilities: EngineCapabilities = [.snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen]

    public static func open(directory: String, options: RocksDBOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try RocksDBEngine(path: directory, options: options, durability: durability, access: access)
    }

    public static func validate(settings: Settings) throws {
        do {
            try RocksDBOptions(settings: settings).validate(durability: settings.durability())
        } catch var e as OrbitError {
            let names = e.message.contains("max_open_files") ? ["rocksdb.max_open_files"] : ["rocksdb.wal", "durability"]
            e.location = names.map { "\($0) from \(settings.source($0))" }.joined(separator: ", ")
            throw e
        }
    }

    public static func limits(_ options: RocksDBOptions) -> EngineLimits { RocksDBEngine.limits }

    public static func recognizeStore(at directory: String) -> StoreRecognition { RocksDBEngine.recognizeStore(at: directory) }
    public static func isStoreEntry(_ name: String) -> Bool { RocksDBEngine.isStoreEntry(name) }

    public static func externalInspectHint(directory: String) -> String? { "RocksDB's own tool reads it: ldb --db=\(directory) scan" }
}

/// The registry's view of the options (the `options` branch states the options themselves once).
extension RocksDBOptions: EngineOptions {}

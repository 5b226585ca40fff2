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

    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        RocksDBStoreLayout.fileLayout(relativePath: relativePath, bytes: bytes)
    }
    public static func fileKind(relativePath: String) -> String { RocksDBStoreLayout.fileKind(relativePath: relativePath) }

    /// Ranges are checked as each knob is read; combinations by the options type, naming its knobs.
    public static func validate(settings: Settings) throws { _ = try RocksDBOptions.validated(from: settings) }

    public static func limits(_ options: RocksDBOptions) -> EngineLimits { RocksDBEngine.limits }

    public static func recognizeStore(at directory: String) -> StoreRecognition { RocksDBEngine.recognizeStore(at: directory) }
    public static func isStoreEntry(_ name: String) -> Bool { RocksDBEngine.isStoreEntry(name) }

    public static func externalInspectHint(directory: String) -> String? { "RocksDB's own tool reads it: ldb --db=\(directory) scan" }
}


import OrbitCore

/// The `rocksdb` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A reference: its crash results are reported for the record, and it does its own I/O (no file layer).
public enum RocksDBDescriptor: EngineDescriptor {
    public typealias Engine = RocksDBEngine
    public typealias Options = RocksDBOptions
    public typealias Layouts = RocksDBStoreLayout

    public static let name = "rocksdb"
    public static var summary: String {
        "RocksDB \(RocksDBEngine.libraryVersion()) through its C API (librocksdb-dev); WAL, checkpoints as snapshots"
    }
    public static let plotColour: String? = "#d62728"
    public static let displayName = "RocksDB"
    public static var libraryVersion: String? { RocksDBEngine.libraryVersion() }
    public static let capabilities: EngineCapabilities = [.snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen]

    public static func open(directory: String, options: RocksDBOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try RocksDBEngine(path: directory, options: options, durability: durability, access: access)
    }

    public static func limits(_ options: RocksDBOptions) -> EngineLimits { RocksDBEngine.limits }

    /// 1 MiB write buffers: many tables from a small store.
    public static func damageStoreOptions(settings: Settings, variant: String) -> RocksDBOptions {
        var o = RocksDBOptions(settings: settings)
        o.writeBufferMB = 1
        return o
    }

    /// 1 MiB write buffers, unless the settings chose a size.
    public static func growthOptions(settings: Settings) -> RocksDBOptions {
        var o = RocksDBOptions(settings: settings)
        let knob = RocksDBOptions.optionTable.name(\.writeBufferMB)
        if settings.knob(named: knob) != nil, settings.source(knob) == .builtinDefault { o.writeBufferMB = 1 }
        return o
    }

    /// Tables, but RocksDB merges them as it goes: its bytes are capped at 32 KiB per table asked for
    /// (at least 8 MiB), and the record says how many it reached.
    public static func growth(_ options: RocksDBOptions) -> StoreGrowth {
        StoreGrowth(bytesPerTable: 32 << 10, minimumByteCap: 8 << 20, shortfallReason: "RocksDB compacts as it goes")
    }

    public static func externalInspectHint(directory: String) -> String? { "RocksDB's own tool reads it: ldb --db=\(directory) scan" }
}


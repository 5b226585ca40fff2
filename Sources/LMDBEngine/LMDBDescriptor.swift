import OrbitCore

/// The `lmdb` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A reference: its crash results are reported for the record, and it does its own I/O (mmap).
public enum LMDBDescriptor: EngineDescriptor {
    public typealias Engine = LMDBEngine
    public typealias Options = LMDBOptions
    public typealias Layouts = LMDBStoreLayout

    public static let name = "lmdb"
    public static var summary: String {
        "LMDB \(LMDBEngine.libraryVersion()) through its C API (liblmdb-dev): the reference copy-on-write B+tree"
    }
    public static let article = "an"  // el-em-dee-bee
    public static let plotColour: String? = "#9467bd"
    public static let displayName = "LMDB"
    public static var libraryVersion: String? { LMDBEngine.libraryVersion() }
    public static let memoryAccountNote: String? = "its pages live in the OS page cache via mmap, not counted"
    public static let capabilities: EngineCapabilities = [.snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen]

    public static func open(directory: String, options: LMDBOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try LMDBEngine(path: directory, options: options, durability: durability, access: access)
    }

    public static func limits(_ options: LMDBOptions) -> EngineLimits { LMDBEngine.limits(options: options) }

    /// Closed stores only (docs/corruption-sweep.md).
    public static let damageStoreVariants = ["closed"]

    /// A 64 MiB map.
    public static func damageStoreOptions(settings: Settings, variant: String) -> LMDBOptions {
        var o = LMDBOptions(settings: settings)
        o.mapSizeMB = 64
        return o
    }

    /// No tables: data.mdb's 4 KiB pages, 4 per table asked for.
    public static func growth(_ options: LMDBOptions) -> StoreGrowth {
        StoreGrowth(pageFile: "data.mdb", pageSize: 4096, unitsPerTable: 4)
    }

    public static func externalInspectHint(directory: String) -> String? { "LMDB's own tool reads it: mdb_stat \(directory)" }
}


import OrbitCore

/// The `lsm` engine, as the registry knows it (docs/architecture.md, "The engine registry").
public enum LSMDescriptor: FileLayerEngineDescriptor {
    public typealias Engine = LSMTree<POSIXFileSystem>
    public typealias Options = LSMOptions
    public typealias Layouts = LSMStoreLayout

    public static let name = "lsm"
    public static let aliases = ["lsmtree"]
    public static let summary = "hand-written LSM-tree: WAL, skiplist memtable, leveled SSTables with Bloom filters, block cache"
    public static let article = "an"  // el-es-em
    public static let plotColour: String? = "#2ca02c"
    public static let displayName = "LSM-tree"
    public static let capabilities: EngineCapabilities = [
        .snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen, .inspect, .usesFileLayer, .gatesCrashVerdicts,
    ]

    public static func open(directory: String, options: LSMOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try LSMTree(fs: POSIXFileSystem(), directory: directory, options: options, durability: durability, access: access)
    }

    public static func open<FS: FileSystem, B: EngineBody>(fs: FS, directory: String, options: LSMOptions,
                                                           durability: DurabilityMode, access: StoreAccess,
                                                           _ body: B) throws -> B.Result {
        try body.run(LSMTree(fs: fs, directory: directory, options: options, durability: durability, access: access))
    }

    public static func withEngineType<FS: FileSystem, V: EngineTypeVisitor>(on _: FS.Type, _ visitor: V) throws -> V.Result {
        try visitor.visit(LSMTree<FS>.self)
    }

    public static func limits(_ options: LSMOptions) -> EngineLimits { options.limits }

    /// 4 KiB memtables, a 1 MiB block cache, 1 KiB blocks, two tables per level trigger a compaction,
    /// four levels growing by 2x: flushes and compactions within a few hundred writes.
    public static var stressOptions: LSMOptions {
        var o = stressed(LSMOptions())
        o.compactionThreshold = 2
        o.maxLevels = 4
        o.levelSizeMultiplier = 2
        o.sstableBlockSizeKB = 1
        return o
    }

    /// 16 KiB memtables, two tables per level trigger a compaction, levels growing by 2x, 1 KiB
    /// blocks, a 1 MiB cache: many tables in several levels from a small store.
    public static func damageStoreOptions(settings: Settings, variant: String) -> LSMOptions {
        var o = LSMOptions(settings: settings)
        o.memtableSizeBytesOverride = 16 << 10
        o.compactionThreshold = 2
        o.levelSizeMultiplier = 2
        o.sstableBlockSizeKB = 1
        o.blockCacheMB = 1
        return o
    }

    /// 4 KiB memtables and compaction held off: every flush a level-0 table, so the table count is
    /// the flush count.
    public static func growthOptions(settings: Settings) -> LSMOptions {
        var o = LSMOptions(settings: settings)
        o.memtableSizeBytesOverride = 4 << 10
        o.compactionThreshold = 100_000
        o.l0SlowdownWritesTrigger = 100_000
        o.l0StopWritesTrigger = 100_001
        return o
    }

    /// `options` with the crash lab's tiny memtable and cache.
    public static func stressed(_ options: LSMOptions) -> LSMOptions {
        var o = options
        o.memtableSizeBytesOverride = 4096
        o.blockCacheMB = 1
        return o
    }

    public static func inspect(directory: String) throws -> EngineInspection {
        try inspect(fs: POSIXFileSystem(), directory: directory)
    }

    public static func inspect<FS: FileSystem>(fs: FS, directory: String) throws -> EngineInspection {
        let report = LSMInspector.inspect(fs: fs, directory: directory)
        let lines = report.lines + report.problems.map { "CORRUPTION: \($0)" }
            + [report.ok ? "ok: every checksum verified" : "FAILED: \(report.problems.count) problem(s)"]
        return EngineInspection(lines: lines, ok: report.ok)
    }
}

// MARK: - The crash lab's hooks (power loss, I/O errors, fsync failures)

extension LSMDescriptor {
    public static func powerLossOptions(rng: inout SeededRNG, store: Int, durability: DurabilityMode) -> LSMOptions {
        var o = LSMOptions()
        o.memtableSizeBytesOverride = [4 << 10, 8 << 10, 16 << 10][Int(rng.below(3))]
        o.compactionThreshold = 2
        o.maxLevels = 4
        o.levelSizeMultiplier = 2
        o.sstableBlockSizeKB = 1
        o.blockCacheMB = Int(rng.below(2))
        return o
    }

    public static func crashLabel(_ o: LSMOptions) -> String {
        "memtable=\(o.memtableSizeBytesOverride >> 10)KiB cache=\(o.blockCacheMB)MiB"
    }

    static let perOperationCrashPoints = ["lsm.wal.after-append", "lsm.wal.after-sync"]
    static let backgroundCrashPoints = [
        "lsm.flush.after-table-sync", "lsm.flush.after-directory-sync", "lsm.flush.after-manifest-sync",
        "lsm.flush.after-log-remove", "lsm.compaction.after-tables-sync", "lsm.compaction.after-directory-sync",
        "lsm.compaction.after-manifest-sync", "lsm.compaction.after-input-remove", "lsm.memtable.after-switch",
    ]

    public static func crashPoints(_ o: LSMOptions, durability: DurabilityMode) -> [(name: String, probability: Double)] {
        perOperationCrashPoints.map { ($0, 0.003) } + backgroundCrashPoints.map { ($0, 0.04) }
    }

    public static func fsyncFailureConfigurations(_ stressed: LSMOptions) -> [(label: String, options: LSMOptions)] {
        [("memtable=\(stressed.memtableSizeBytesOverride >> 10)KiB", stressed)]
    }

    /// The WAL: a failed sync of a log leaves the tree read-only (its tables and manifest fail the
    /// background work instead, which refuses writes once they need it).
    public static func acknowledgementsDependOn(fileNamed name: String) -> Bool { name.hasSuffix(".log") }
    public static let writeRefusalAfterFailedSync = "read-only until reopened"

    /// Seals the memtable and waits for every immutable one to reach a synced table and a synced
    /// manifest edit.
    public static func persist<E: StorageEngine>(_ engine: E, _ o: LSMOptions, durability: DurabilityMode) throws -> Bool {
        guard let tree = engine as? any Flushing else { preconditionFailure("\(E.self) is not an lsm engine") }
        try tree.flush()
        return true
    }
}

/// `LSMTree` over any file system, as `persist` sees it.
private protocol Flushing { func flush() throws }
extension LSMTree: Flushing {}


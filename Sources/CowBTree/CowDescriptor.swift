import OrbitCore

/// The `cow` engine, as the registry knows it (docs/architecture.md, "The engine registry").
public enum CowDescriptor: FileLayerEngineDescriptor {
    public typealias Engine = CowEngine
    public typealias Options = CowOptions
    public typealias Layouts = CowStoreLayout

    public static let name = "cow"
    public static let aliases = ["cowbtree", "btree"]
    public static let summary = "hand-written copy-on-write B+tree paged through the file layer; WAL + checkpoints (cow.wal=false: pure copy-on-write commits)"
    public static let plotColour: String? = "#1f77b4"
    public static let displayName = "COW B+ tree"
    public static let capabilities: EngineCapabilities = [
        .snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen, .inspect, .usesFileLayer, .gatesCrashVerdicts,
    ]

    public static func open(directory: String, options: CowOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try CowEngine(path: directory, options: options, durability: durability, access: access)
    }

    public static func open<FS: FileSystem, B: EngineBody>(fs: FS, directory: String, options: CowOptions,
                                                           durability: DurabilityMode, access: StoreAccess,
                                                           _ body: B) throws -> B.Result {
        try body.run(CowBTree(path: directory, options: options, durability: durability, fileSystem: fs, access: access))
    }

    public static func withEngineType<FS: FileSystem, V: EngineTypeVisitor>(on _: FS.Type, _ visitor: V) throws -> V.Result {
        try visitor.visit(CowBTree<FS>.self)
    }

    public static func limits(_ options: CowOptions) -> EngineLimits { options.limits }

    /// 512-byte pages, 64 KiB WAL segments, a checkpoint every 8 commits or 8 KiB of WAL, a page
    /// cache of 64 pages (every test that stresses cow evicts and reuses pages).
    public static var stressOptions: CowOptions { stressed(CowOptions(), checkpointBytes: 8192, snapshotInterval: 8) }

    /// `options` with the crash lab's small pages and segments, a checkpoint every 16 commits or 8 KiB.
    public static func stressed(_ options: CowOptions) -> CowOptions {
        stressed(options, checkpointBytes: 8192, snapshotInterval: 16)
    }

    /// The page cache of stressed stores, in pages: a tiny one, so eviction, reads on demand and
    /// page reuse under readers are exercised by every test and sweep that stresses cow.
    public static let stressCachePages = 64

    /// `options` with the crash lab's small pages, segments, a tiny page cache (unless
    /// `cow.cache_pages` is set) and these checkpoint intervals.
    public static func stressed(_ options: CowOptions, checkpointBytes: Int, snapshotInterval: Int) -> CowOptions {
        var o = options
        if o.cachePages == 0 { o.cachePages = stressCachePages }
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.checkpointBytes = checkpointBytes
        o.snapshotInterval = snapshotInterval
        return o
    }

    /// Besides closed and open, a closed store of pure copy-on-write commits.
    public static let damageStoreVariants = ["closed", "open", "closed,wal=false"]

    /// 64 KiB WAL segments and a checkpoint every 96 KiB of WAL; "wal=false" in `variant`: cow.wal=false.
    public static func damageStoreOptions(settings: Settings, variant: String) -> CowOptions {
        var o = CowOptions(settings: settings)
        o.wal = !variant.contains("wal=false")
        o.walSegmentSize = 64 << 10
        o.checkpointBytes = 96 << 10
        return o
    }

    /// 64 KiB WAL segments and checkpoints: the store grows through many of each.
    public static func growthOptions(settings: Settings) -> CowOptions {
        var o = CowOptions(settings: settings)
        o.walSegmentSize = 64 << 10
        o.checkpointBytes = 64 << 10
        return o
    }

    /// No tables: the page file, 4 pages per table asked for.
    public static func growth(_ options: CowOptions) -> StoreGrowth {
        StoreGrowth(pageFile: CowEngine.pageFileName, pageSize: options.pageSize, unitsPerTable: 4)
    }

    /// Pure copy-on-write commits (cow.wal=false); and the stress options with the default page
    /// cache (256 MiB: every page stays cached), beside the tiny one of `stressOptions`.
    public static var variants: [(suffix: String, options: CowOptions)] {
        var o = stressOptions
        o.wal = false
        var cached = stressOptions
        cached.cachePages = 0
        return [("nowal", o), ("cached", cached)]
    }

    public static func inspect(directory: String) throws -> EngineInspection {
        try inspect(fs: POSIXFileSystem(), directory: directory)
    }

    public static func inspect<FS: FileSystem>(fs: FS, directory: String) throws -> EngineInspection {
        let report = try CowInspector.inspect(fs: fs, directory: directory)
        return EngineInspection(lines: report.lines, ok: report.ok)
    }
}

// MARK: - The crash lab's hooks (power loss, I/O errors, fsync failures)

extension CowDescriptor {
    /// Pure copy-on-write under `none` writes pages and meta page with no sync between them: like
    /// LMDB's MDB_NOSYNC, a power loss may leave a meta page ahead of its pages, and the engine
    /// promises a process crash only (the kill sweep checks that). Such stores run in WAL mode;
    /// otherwise stores alternate `wal=true` and `false`.
    public static func powerLossOptions(rng: inout SeededRNG, store: Int, durability: DurabilityMode) -> CowOptions {
        var o = CowOptions()
        o.wal = durability == .none || store % 2 == 0
        o.pageSize = rng.below(2) == 0 ? 512 : 1024
        o.cachePages = rng.below(2) == 0 ? stressCachePages : 0
        o.maxKeysPerNode = rng.below(2) == 0 ? 0 : 6
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.snapshotInterval = 8 + Int(rng.below(32))
        o.checkpointBytes = 16_384 << Int(rng.below(3))
        return o
    }

    public static func crashLabel(_ o: CowOptions) -> String {
        "wal=\(o.wal) page=\(o.pageSize) max_keys=\(o.maxKeysPerNode) interval=\(o.snapshotInterval) cache_pages=\(o.cachePages)"
    }

    public static func durabilityQualifier(_ o: CowOptions) -> String? { o.wal ? nil : "wal=false" }

    /// Without a WAL every commit is a checkpoint, synced in every mode but `none`.
    public static func syncsOnAck(_ o: CowOptions, durability: DurabilityMode) -> Bool {
        o.wal ? durability.syncsBeforeAck : durability != .none
    }

    public static func crashPoints(_ o: CowOptions, durability: DurabilityMode) -> [(name: String, probability: Double)] {
        let commit = ["cow.commit.before-wal-append", "cow.commit.after-wal-append", "cow.commit.after-wal-sync"]
        let checkpoint = ["cow.checkpoint.after-page-writes", "cow.checkpoint.after-page-sync", "cow.checkpoint.after-meta-write",
                          "cow.checkpoint.after-meta-sync", "cow.checkpoint.before-wal-recycle"]
        // Without a WAL every commit runs the checkpoint protocol: its points are per operation.
        let checkpointP = o.wal ? 0.05 : 0.004
        return commit.map { ($0, 0.003) } + checkpoint.map { ($0, checkpointP) } + [("cow.wal.after-segment-header", 0.05)]
    }

    /// WAL on and off, checkpoints every 24 commits or 16 KiB.
    public static func fsyncFailureConfigurations(_ stressed: CowOptions) -> [(label: String, options: CowOptions)] {
        var o = Self.stressed(stressed, checkpointBytes: 16_384, snapshotInterval: 24)
        return [true, false].map { wal in
            o.wal = wal
            return ("wal=\(wal)", o)
        }
    }

    /// Every file of its own (WAL segments, page file): a failed sync poisons the tree.
    public static func acknowledgementsDependOn(fileNamed name: String) -> Bool { name.hasPrefix("cow.") }
    public static let writeRefusalAfterFailedSync = "poisoned (every later write fails)"
    /// Large enough that a probe crosses a 64 KiB WAL segment (the switch syncs the old one).
    public static let fsyncFailureValueSizes = 200..<2_600

    /// A checkpoint: durable in every mode but `none`.
    public static func persist<E: StorageEngine>(_ engine: E, _ o: CowOptions, durability: DurabilityMode) throws -> Bool {
        guard let tree = engine as? any Checkpointing else { preconditionFailure("\(E.self) is not a cow engine") }
        try tree.checkpoint()
        return durability != .none
    }
}

/// `CowBTree` over any file system, as `persist` sees it.
private protocol Checkpointing { func checkpoint() throws }
extension CowBTree: Checkpointing {}

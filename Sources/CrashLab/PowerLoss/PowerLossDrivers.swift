import CowBTree
import LSMTree
import OrbitCore

/// What the power-loss sweep needs to know about one engine: how to open it on the fault injector
/// with small knobs (so flushes, compactions, checkpoints, segment recycling and meta flips happen
/// within a few hundred operations), what makes everything durable besides `sync()`, and its crash
/// points with how often each is reached.
protocol PowerLossDriver {
    associatedtype Engine: StorageEngine
    var engineName: String { get }
    /// The knobs this store runs with, for the record's detail ("wal=false page=512 ...").
    var configLabel: String { get }
    func open(_ fs: FaultInjectingFileSystem, _ directory: String, _ durability: DurabilityMode) throws -> Engine
    /// Whether an acknowledged write is durable under `durability` (its ack waited for a sync).
    func syncedOnAck(_ durability: DurabilityMode) -> Bool
    /// The engine's own "make it durable" call besides `sync()` (LSM flush, cow checkpoint); returns
    /// whether it made every acknowledged write durable.
    func persist(_ engine: Engine, _ durability: DurabilityMode) throws -> Bool
    /// Crash points and the probability to arm each with.
    func crashPoints(_ durability: DurabilityMode) -> [(name: String, probability: Double)]
}

struct LSMDriver: PowerLossDriver {
    var options: LSMOptions

    init(rng: inout SeededRNG) {
        var o = LSMOptions()
        o.memtableSizeBytesOverride = [4 << 10, 8 << 10, 16 << 10][Int(rng.below(3))]
        o.compactionThreshold = 2
        o.maxLevels = 4
        o.levelSizeMultiplier = 2
        o.sstableBlockSizeKB = 1
        o.blockCacheMB = Int(rng.below(2))
        options = o
    }

    var engineName: String { "lsm" }
    var configLabel: String { "memtable=\(options.memtableSizeBytesOverride >> 10)KiB cache=\(options.blockCacheMB)MiB" }

    func open(_ fs: FaultInjectingFileSystem, _ directory: String, _ durability: DurabilityMode) throws -> LSMTree<FaultInjectingFileSystem> {
        try LSMTree(fs: fs, directory: directory, options: options, durability: durability)
    }

    func syncedOnAck(_ durability: DurabilityMode) -> Bool { durability.syncsBeforeAck }

    func persist(_ engine: LSMTree<FaultInjectingFileSystem>, _ durability: DurabilityMode) throws -> Bool {
        // Seals the memtable and waits for every immutable one to reach a synced table and a
        // synced manifest edit.
        try engine.flush()
        return true
    }

    static let perOperation = ["lsm.wal.after-append", "lsm.wal.after-sync"]
    static let background = [
        "lsm.flush.after-table-sync", "lsm.flush.after-directory-sync", "lsm.flush.after-manifest-sync",
        "lsm.flush.after-log-remove", "lsm.compaction.after-tables-sync", "lsm.compaction.after-directory-sync",
        "lsm.compaction.after-manifest-sync", "lsm.compaction.after-input-remove", "lsm.memtable.after-switch",
    ]

    func crashPoints(_ durability: DurabilityMode) -> [(name: String, probability: Double)] {
        Self.perOperation.map { ($0, 0.003) } + Self.background.map { ($0, 0.04) }
    }
}

struct CowDriver: PowerLossDriver {
    var options: CowOptions

    init(rng: inout SeededRNG, wal: Bool) {
        var o = CowOptions()
        o.wal = wal
        o.pageSize = rng.below(2) == 0 ? 512 : 1024
        o.maxKeysPerNode = rng.below(2) == 0 ? 0 : 6
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.snapshotInterval = 8 + Int(rng.below(32))
        o.checkpointBytes = 16_384 << Int(rng.below(3))
        options = o
    }

    var engineName: String { "cow" }
    var configLabel: String {
        "wal=\(options.wal) page=\(options.pageSize) max_keys=\(options.maxKeysPerNode) interval=\(options.snapshotInterval)"
    }

    func open(_ fs: FaultInjectingFileSystem, _ directory: String, _ durability: DurabilityMode) throws -> CowBTree<FaultInjectingFileSystem> {
        try CowBTree(path: directory, options: options, durability: durability, fileSystem: fs)
    }

    func syncedOnAck(_ durability: DurabilityMode) -> Bool {
        // Without a WAL every commit is a checkpoint, synced in every mode but `none`.
        options.wal ? durability.syncsBeforeAck : durability != .none
    }

    func persist(_ engine: CowBTree<FaultInjectingFileSystem>, _ durability: DurabilityMode) throws -> Bool {
        try engine.checkpoint()
        return durability != .none
    }

    func crashPoints(_ durability: DurabilityMode) -> [(name: String, probability: Double)] {
        let commit = ["cow.commit.before-wal-append", "cow.commit.after-wal-append", "cow.commit.after-wal-sync"]
        let checkpoint = ["cow.checkpoint.after-page-writes", "cow.checkpoint.after-page-sync", "cow.checkpoint.after-meta-write",
                          "cow.checkpoint.after-meta-sync", "cow.checkpoint.before-wal-recycle"]
        // Without a WAL every commit runs the checkpoint protocol: its points are per operation.
        let checkpointP = options.wal ? 0.05 : 0.004
        return commit.map { ($0, 0.003) } + checkpoint.map { ($0, checkpointP) } + [("cow.wal.after-segment-header", 0.05)]
    }
}

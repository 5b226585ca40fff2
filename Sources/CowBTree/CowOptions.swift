import OrbitCore

/// The `cow.*` knobs, typed (the seeds' COW knobs plus page size, WAL mode and a checkpoint byte
/// threshold), each stated once in `optionTable`; max_keys_per_node keeps the seeds' environment
/// suffix `MAX_KEYS`. No combination of them is refused.
public struct CowOptions: TableDrivenOptions, Hashable {
    /// Page size in bytes (a power of two, 512...65536). Fixed when the store is created.
    public var pageSize: Int = 4096
    /// Entries per node at most; 0 = as many as fit a page.
    public var maxKeysPerNode: Int = 0
    /// true: commits go to a WAL and pages are written at checkpoints ("B+tree + WAL");
    /// false: pure copy-on-write, each commit writes its pages, syncs, writes the meta page, syncs.
    public var wal: Bool = true
    /// Bytes of the reusable buffer WAL records are encoded into before one write(2) per commit.
    public var walBufferSize: Int = 1 << 20
    /// Bytes of each pre-allocated WAL segment file (WAL mode): written (zeros) and synced before use
    /// in the syncing modes, then overwritten in place and recycled.
    public var walSegmentSize: Int = 4 << 20
    /// Checkpoint every this many commits (WAL mode); 0 = only by `checkpointBytes`.
    public var snapshotInterval: Int = 0
    /// Checkpoint when the WAL grows past this many bytes (WAL mode).
    public var checkpointBytes: Int = 64 << 20
    /// Whether snapshot create/restore/list/drop are allowed.
    public var enableSnapshots: Bool = true
    /// MiB of clean pages the page cache holds (pages read on demand, CLOCK eviction).
    public var cacheMB: Int = 256
    /// Pages the page cache holds; 0 = `cacheMB` decides (tests use a few dozen).
    public var cachePages: Int = 0

    public init() {}

    /// The page cache's capacity in pages.
    var cachePageCount: Int { cachePages > 0 ? cachePages : max(8, Int(clamping: (UInt64(cacheMB) << 20) / UInt64(pageSize))) }

    public static let optionTable = OptionTable<CowOptions>(engine: CowDescriptor.name, [
        .int("page_size", \.pageSize, 512...65_536,
             "page size in bytes, a power of two; fixed when the store is created",
             constraint: .integer("a power of two in 512...65536") { $0 & ($0 - 1) == 0 }),
        .int("max_keys_per_node", \.maxKeysPerNode, 0...65_535,
             "cap on entries per B+tree node (0 = as many as fit a page; otherwise at least 4)", env: "max_keys",
             constraint: .integer("0 (as many as fit a page) or an integer in 4...65535") { $0 == 0 || $0 >= 4 }),
        .bool("wal", \.wal,
              "true: commits append to a WAL, pages are written at checkpoints; false: pure copy-on-write commits (pages, sync, meta, sync)"),
        .int("wal_buffer_size", \.walBufferSize, 4096...1_073_741_824,
             "bytes of the reusable buffer a commit's WAL record is encoded into (one write per commit)"),
        .int("wal_segment_size", \.walSegmentSize, 65_536...1_073_741_824,
             "bytes of each pre-allocated, recycled WAL segment file (WAL mode; pre-zeroed and synced before use when commits sync)"),
        .int("snapshot_interval", \.snapshotInterval, 0...100_000_000,
             "checkpoint every N commits in WAL mode (0 = only when the WAL passes cow.checkpoint_bytes)"),
        .int("checkpoint_bytes", \.checkpointBytes, 4096...68_719_476_736,
             "checkpoint when the WAL passes this many bytes (WAL mode)"),
        .bool("enable_snapshots", \.enableSnapshots,
              "allow snapshot create/restore/list/drop (false: they fail with 'unsupported')"),
        .int("cache_mb", \.cacheMB, 1...1_048_576,
             "MiB of the page cache: clean pages read on demand and evicted by CLOCK (pages written since the last checkpoint are held apart until it writes them, and a checkpoint is due when they reach this size)"),
        .int("cache_pages", \.cachePages, 0...1_073_741_824,
             "the page cache's size in pages (0 = cow.cache_mb decides; at least 8)"),
    ])
}

extension CowOptions {
    /// The largest key and value this engine stores with these options (checked before any store
    /// is opened, and by `put` and `write(batch)`): keys must fit a leaf entry of a page; values go
    /// to overflow pages, and a WAL record's payload length (9 bytes of operation header, the key and
    /// the value) is 32 bits: 4 GiB − 64 KiB leaves room for any key a page allows.
    public var limits: EngineLimits {
        let inlineLimit = (pageSize - Layout.headerSize) / 4
        return EngineLimits(maxKeySize: inlineLimit - Layout.leafEntryHeader - 8 - Layout.slotSize,
                            maxValueSize: Self.maxValueSize)
    }

    /// The largest value, whatever the page size (see `limits`).
    static var maxValueSize: Int { (1 << 32) - (1 << 16) }
}

import OrbitCore

/// The `cow.*` knobs, typed (the seeds' COW knobs plus page size, WAL mode and a checkpoint byte
/// threshold). JSON section `cow_config`; environment `ORBIT_COW_<KEY>`, except max_keys_per_node,
/// which keeps the seeds' variable `ORBIT_COW_MAX_KEYS`.
public struct CowOptions: Sendable, Hashable {
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

    public init() {}

    public static let section = "cow_config"

    private static func knob(_ key: String, env: String? = nil, _ kind: Knob.Kind, _ value: KnobValue, _ help: String) -> Knob {
        Knob("cow." + key, section: section, key: key, env: env ?? ("ORBIT_COW_" + key.uppercased()),
             kind: kind, default: value, help: help)
    }

    public static let knobs: [Knob] = [
        knob("page_size", .int(512...65_536), .int(4096),
             "page size in bytes, a power of two; fixed when the store is created"),
        knob("max_keys_per_node", env: "ORBIT_COW_MAX_KEYS", .int(0...65_535), .int(0),
             "cap on entries per B+tree node (0 = as many as fit a page; otherwise at least 4)"),
        knob("wal", .bool, .bool(true),
             "true: commits append to a WAL, pages are written at checkpoints; false: pure copy-on-write commits (pages, sync, meta, sync)"),
        knob("wal_buffer_size", .int(4096...1_073_741_824), .int(1 << 20),
             "bytes of the reusable buffer a commit's WAL record is encoded into (one write per commit)"),
        knob("wal_segment_size", .int(65_536...1_073_741_824), .int(4 << 20),
             "bytes of each pre-allocated, recycled WAL segment file (WAL mode; pre-zeroed and synced before use when commits sync)"),
        knob("snapshot_interval", .int(0...100_000_000), .int(0),
             "checkpoint every N commits in WAL mode (0 = only when the WAL passes cow.checkpoint_bytes)"),
        knob("checkpoint_bytes", .int(4096...68_719_476_736), .int(64 << 20),
             "checkpoint when the WAL passes this many bytes (WAL mode)"),
        knob("enable_snapshots", .bool, .bool(true),
             "allow snapshot create/restore/list/drop (false: they fail with 'unsupported')"),
    ]

    /// Reads every `cow.*` knob. `settings` must have been built with `CowOptions.knobs`.
    public init(settings: Settings) {
        pageSize = settings.int("cow.page_size")
        maxKeysPerNode = settings.int("cow.max_keys_per_node")
        wal = settings.bool("cow.wal")
        walBufferSize = settings.int("cow.wal_buffer_size")
        walSegmentSize = settings.int("cow.wal_segment_size")
        snapshotInterval = settings.int("cow.snapshot_interval")
        checkpointBytes = settings.int("cow.checkpoint_bytes")
        enableSnapshots = settings.bool("cow.enable_snapshots")
    }

    /// Checks values and the combination with a durability mode.
    public func validate(durability: DurabilityMode) throws {
        guard (512...65_536).contains(pageSize), pageSize & (pageSize - 1) == 0 else {
            throw OrbitError(.invalidConfig, "cow.page_size: bad value \(pageSize)",
                             hint: "allowed: a power of two in 512...65536")
        }
        guard maxKeysPerNode == 0 || (4...65_535).contains(maxKeysPerNode) else {
            throw OrbitError(.invalidConfig, "cow.max_keys_per_node: bad value \(maxKeysPerNode)",
                             hint: "allowed: 0 (as many as fit a page) or an integer in 4...65535")
        }
        guard (65_536...1_073_741_824).contains(walSegmentSize) else {
            throw OrbitError(.invalidConfig, "cow.wal_segment_size: bad value \(walSegmentSize)",
                             hint: "allowed: an integer in 65536...1073741824 (bytes)")
        }
        guard walBufferSize >= 4096, snapshotInterval >= 0, checkpointBytes >= 4096 else {
            throw OrbitError(.invalidConfig, "cow options out of range: \(self)",
                             hint: Self.knobs.map { "\($0.name): \($0.allowed)" }.joined(separator: "; "))
        }
    }
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

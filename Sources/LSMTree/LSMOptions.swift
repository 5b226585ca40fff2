#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// The `lsm.*` knobs (the seeds' LSM settings), typed. JSON section `lsm_config`, variables
/// `ORBIT_LSM_<KEY>`. Every field is used by the engine.
public struct LSMOptions: Sendable, Hashable {
    public var memtableSizeMB = 64
    /// For tests only: a bug planted back (see `LSMPlantedBug`).
    public var plantedBug: LSMPlantedBug = .none
    public var maxMemtables = 2
    public var maxLevels = 7
    public var levelSizeMultiplier = 10
    public var compactionThreshold = 4
    public var sstableBlockSizeKB = 4
    public var enableBloomFilters = true
    public var bloomFilterBitsPerKey = 10
    public var blockCacheMB = 256
    public var enableCompression = false
    /// Stop on a damaged WAL record before the tail (true) or skip it, logging and counting (false).
    public var paranoid = true
    /// Level-0 tables at which writes are slowed down (0 = 5 × `compactionThreshold`).
    public var l0SlowdownWritesTrigger = 0
    /// Level-0 tables at which writes stop until a compaction finishes (0 = 9 × `compactionThreshold`).
    public var l0StopWritesTrigger = 0
    /// Write rate, MiB/s of user bytes, at the slowdown trigger; it falls linearly to 1/8 of this
    /// as level 0 nears the stop trigger.
    public var delayedWriteRateMB = 64
    /// Threads that compact (at most one compaction per level pair at a time; a level-0 → level-1
    /// compaction is split by key range across them).
    public var compactionThreads = 2
    /// Memtable size in bytes when set below 1 MiB (tests); 0 = use `memtableSizeMB`.
    public var memtableSizeBytesOverride = 0
    /// File descriptors the engine may keep open for tables (as RocksDB's `max_open_files`): the
    /// table cache holds at most `maxOpenFiles - 10` table handles (10 are left for the WALs, the
    /// manifest and tables being written), closing the least recently used — and never more than
    /// half the process's soft RLIMIT_NOFILE (read at open), so a low descriptor limit (256) is
    /// not exhausted by tables while the WAL, manifest and the rest of the process need some.
    public var maxOpenFiles = 1000
    /// Compaction output table size in bytes when > 0 (tests: many tiny tables); 0 = the default.
    public var targetFileBytesOverride = 0
    /// The manifest is rolled (a new one written with the whole state, CURRENT switched, the old
    /// one removed) once it grows past this many bytes. Not a knob; tests set it small.
    public var maxManifestBytes: Int64 = 4 << 20

    public init() {}

    public static let section = "lsm_config"

    private static func knob(_ key: String, _ kind: Knob.Kind, _ value: KnobValue, _ help: String) -> Knob {
        Knob("lsm." + key, section: section, key: key, env: "ORBIT_LSM_" + key.uppercased(), kind: kind, default: value, help: help)
    }

    public static let knobs: [Knob] = [
        knob("memtable_size_mb", .int(1...4096), .int(64), "memtable size, MiB: a full memtable becomes immutable and is flushed to a level-0 table"),
        knob("max_memtables", .int(2...64), .int(2), "memtables in memory, the active one included; writes stall when all are full"),
        knob("max_levels", .int(2...12), .int(7), "levels of tables, level 0 included"),
        knob("level_size_multiplier", .int(2...100), .int(10), "each level >= 2 targets this many times the bytes of the level above"),
        knob("compaction_threshold", .int(1...64), .int(4), "level-0 tables that trigger a compaction into level 1"),
        knob("l0_slowdown_writes_trigger", .int(0...1024), .int(0), "level-0 tables from which writes are delayed gradually (0 = 5x compaction_threshold); >= compaction_threshold"),
        knob("l0_stop_writes_trigger", .int(0...1024), .int(0), "level-0 tables at which writes stop until a compaction ends (0 = 9x compaction_threshold); > the slowdown trigger"),
        knob("delayed_write_rate_mb", .int(1...65536), .int(64), "write rate (MiB/s of keys and values) at the slowdown trigger, falling linearly to 1/8 of it near the stop trigger"),
        knob("compaction_threads", .int(1...16), .int(2), "background compaction threads; a level-0 compaction is split by key range across them"),
        knob("sstable_block_size_kb", .int(1...1024), .int(4), "data block size of a table, KiB"),
        knob("enable_bloom_filters", .bool, .bool(true), "a Bloom filter per table over its keys"),
        knob("bloom_filter_bits_per_key", .int(1...64), .int(10), "Bloom filter bits per key (10: about 1% false positives)"),
        knob("block_cache_mb", .int(0...1_048_576), .int(256), "LRU cache of data blocks, MiB (0 = none)"),
        knob("enable_compression", .bool, .bool(false), "LZ4 compression of table data blocks (liblz4); a block that shrinks by less than 1/8 is stored plain"),
        knob("paranoid", .bool, .bool(true), "a damaged WAL record before the tail stops open (false: skip it, log it, count it in stats)"),
        knob("max_open_files", .int(20...1_000_000), .int(1000), "file descriptors kept open for tables (an LRU table cache of min(max_open_files - 10, soft RLIMIT_NOFILE / 2) handles, the limit read at open; like RocksDB's max_open_files)"),
    ]

    public init(settings: Settings) {
        memtableSizeMB = settings.int("lsm.memtable_size_mb")
        maxMemtables = settings.int("lsm.max_memtables")
        maxLevels = settings.int("lsm.max_levels")
        levelSizeMultiplier = settings.int("lsm.level_size_multiplier")
        compactionThreshold = settings.int("lsm.compaction_threshold")
        sstableBlockSizeKB = settings.int("lsm.sstable_block_size_kb")
        enableBloomFilters = settings.bool("lsm.enable_bloom_filters")
        bloomFilterBitsPerKey = settings.int("lsm.bloom_filter_bits_per_key")
        blockCacheMB = settings.int("lsm.block_cache_mb")
        enableCompression = settings.bool("lsm.enable_compression")
        paranoid = settings.bool("lsm.paranoid")
        l0SlowdownWritesTrigger = settings.int("lsm.l0_slowdown_writes_trigger")
        l0StopWritesTrigger = settings.int("lsm.l0_stop_writes_trigger")
        delayedWriteRateMB = settings.int("lsm.delayed_write_rate_mb")
        compactionThreads = settings.int("lsm.compaction_threads")
        maxOpenFiles = settings.int("lsm.max_open_files")
    }

    public func validate() throws {
        guard (2...12).contains(maxLevels), maxMemtables >= 2, compactionThreshold >= 1, levelSizeMultiplier >= 2,
              sstableBlockSizeKB >= 1, memtableSizeMB >= 1 else {
            throw OrbitError(.invalidConfig, "lsm options out of range",
                             hint: Self.knobs.map { "\($0.name): \($0.allowed)" }.joined(separator: "; "))
        }
        guard delayedWriteRateMB >= 1, (1...16).contains(compactionThreads), l0SlowdownWritesTrigger >= 0, l0StopWritesTrigger >= 0 else {
            throw OrbitError(.invalidConfig, "lsm options out of range: delayed_write_rate_mb \(delayedWriteRateMB), compaction_threads \(compactionThreads)",
                             hint: "delayed_write_rate_mb >= 1; compaction_threads 1...16; the level-0 triggers >= 0")
        }
        guard (20...1_000_000).contains(maxOpenFiles) else {
            throw OrbitError(.invalidConfig, "lsm max_open_files \(maxOpenFiles) is out of range", hint: "lsm.max_open_files: 20...1000000")
        }
        guard l0SlowdownTrigger >= compactionThreshold, l0StopTrigger > l0SlowdownTrigger else {
            throw OrbitError(.invalidConfig,
                             "lsm level-0 triggers out of order: compaction_threshold \(compactionThreshold), l0_slowdown_writes_trigger \(l0SlowdownTrigger) (set \(l0SlowdownWritesTrigger)), l0_stop_writes_trigger \(l0StopTrigger) (set \(l0StopWritesTrigger))",
                             hint: "compaction_threshold <= l0_slowdown_writes_trigger < l0_stop_writes_trigger (0 picks 5x and 9x compaction_threshold)")
        }
    }

    var memtableBytes: Int { memtableSizeBytesOverride > 0 ? memtableSizeBytesOverride : memtableSizeMB << 20 }
    var blockBytes: Int { sstableBlockSizeKB << 10 }
    var bloomBits: Int { enableBloomFilters ? bloomFilterBitsPerKey : 0 }
    /// Target size of one table written by compaction: at most 8 MiB, so a table of level n covers
    /// a narrow key range and a compaction into level n+1 rewrites few tables (with memtable-sized
    /// 64 MiB tables every level-1 table overlapped all of level 2 under random keys).
    var targetFileBytes: UInt64 {
        targetFileBytesOverride > 0 ? UInt64(targetFileBytesOverride) : UInt64(max(64 << 10, min(memtableBytes, 8 << 20)))
    }
    /// Table handles the table cache keeps open: min(max_open_files - 10, soft RLIMIT_NOFILE / 2),
    /// at least 10. The limit is read when called (once per open).
    var tableCacheCapacity: Int { Self.tableCacheCapacity(maxOpenFiles: maxOpenFiles, fileLimit: Self.softFileLimit()) }

    static func tableCacheCapacity(maxOpenFiles: Int, fileLimit: Int?) -> Int {
        var c = maxOpenFiles - 10
        if let fileLimit { c = min(c, fileLimit / 2) }
        return max(10, c)
    }

    /// The process's soft RLIMIT_NOFILE, nil when unlimited or unreadable.
    static func softFileLimit() -> Int? {
        var r = rlimit()
        #if canImport(Glibc)
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return nil }
        #else
        guard getrlimit(RLIMIT_NOFILE, &r) == 0 else { return nil }
        #endif
        if r.rlim_cur == rlim_t.max || r.rlim_cur > rlim_t(Int.max) { return nil }
        return Int(r.rlim_cur)
    }
    /// Byte target of level `l` ≥ 1.
    func levelTarget(_ l: Int) -> UInt64 {
        var t = UInt64(memtableBytes) * UInt64(compactionThreshold)
        if l > 1 { for _ in 2...l { t = t &* UInt64(levelSizeMultiplier) } }
        return t
    }
    /// Level-0 tables from which writes are delayed (`l0_slowdown_writes_trigger`).
    var l0SlowdownTrigger: Int { l0SlowdownWritesTrigger > 0 ? l0SlowdownWritesTrigger : compactionThreshold * 5 }
    /// Level-0 tables at which writes stop (`l0_stop_writes_trigger`).
    var l0StopTrigger: Int { l0StopWritesTrigger > 0 ? l0StopWritesTrigger : compactionThreshold * 9 }
    /// The write rate (bytes/s) when level 0 holds `l0Files` tables, in the slowdown zone: the full
    /// `delayed_write_rate_mb` at the slowdown trigger, falling linearly to 1/8 of it one table
    /// below the stop trigger.
    func delayedWriteRate(l0Files: Int) -> Double {
        let full = Double(delayedWriteRateMB) * 1_048_576
        let span = Double(max(1, l0StopTrigger - 1 - l0SlowdownTrigger))
        let over = Double(min(max(0, l0Files - l0SlowdownTrigger), l0StopTrigger - 1 - l0SlowdownTrigger))
        return full * (1 - 0.875 * over / span)
    }
}

/// Bugs that tests plant back into the engine to show that the crash lab catches them (never set
/// outside tests; not a knob).
public enum LSMPlantedBug: Sendable, Hashable {
    case none
    /// Issue 14 bug 5: a reader takes its sequence number before its read view (and the window
    /// between the two is widened), so a flush in between hides the value it should see.
    case readRace
}

extension LSMOptions {
    /// The largest key and value this engine stores (checked before any store is opened).
    public var limits: EngineLimits { EngineLimits(maxKeySize: (1 << 30) - 1, maxValueSize: (1 << 30) - 1) }
}

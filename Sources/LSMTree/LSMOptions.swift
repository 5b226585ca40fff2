#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// The `lsm.*` knobs (the seeds' LSM settings), typed; each is stated once, in `optionTable`, and
/// every field there is used by the engine. Fields outside the table are for tests only.
public struct LSMOptions: TableDrivenOptions, Hashable {
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

    public static let optionTable = OptionTable<LSMOptions>(engine: LSMDescriptor.name, [
        .int("memtable_size_mb", \.memtableSizeMB, 1...4096, "memtable size, MiB: a full memtable becomes immutable and is flushed to a level-0 table"),
        .int("max_memtables", \.maxMemtables, 2...64, "memtables in memory, the active one included; writes stall when all are full"),
        .int("max_levels", \.maxLevels, 2...12, "levels of tables, level 0 included"),
        .int("level_size_multiplier", \.levelSizeMultiplier, 2...100, "each level >= 2 targets this many times the bytes of the level above"),
        .int("compaction_threshold", \.compactionThreshold, 1...64, "level-0 tables that trigger a compaction into level 1"),
        .int("l0_slowdown_writes_trigger", \.l0SlowdownWritesTrigger, 0...1024, "level-0 tables from which writes are delayed gradually (0 = 5x compaction_threshold); >= compaction_threshold"),
        .int("l0_stop_writes_trigger", \.l0StopWritesTrigger, 0...1024, "level-0 tables at which writes stop until a compaction ends (0 = 9x compaction_threshold); > the slowdown trigger"),
        .int("delayed_write_rate_mb", \.delayedWriteRateMB, 1...65536, "write rate (MiB/s of keys and values) at the slowdown trigger, falling linearly to 1/8 of it near the stop trigger"),
        .int("compaction_threads", \.compactionThreads, 1...16, "background compaction threads; a level-0 compaction is split by key range across them"),
        .int("sstable_block_size_kb", \.sstableBlockSizeKB, 1...1024, "data block size of a table, KiB"),
        .bool("enable_bloom_filters", \.enableBloomFilters, "a Bloom filter per table over its keys"),
        .int("bloom_filter_bits_per_key", \.bloomFilterBitsPerKey, 1...64, "Bloom filter bits per key (10: about 1% false positives)"),
        .int("block_cache_mb", \.blockCacheMB, 0...1_048_576, "LRU cache of data blocks, MiB (0 = none)"),
        .bool("enable_compression", \.enableCompression, "LZ4 compression of table data blocks (liblz4); a block that shrinks by less than 1/8 is stored plain"),
        .bool("paranoid", \.paranoid, "a damaged WAL record before the tail stops open (false: skip it, log it, count it in stats)"),
        .int("max_open_files", \.maxOpenFiles, 20...1_000_000, "file descriptors kept open for tables (an LRU table cache of min(max_open_files - 10, soft RLIMIT_NOFILE / 2) handles, the limit read at open; like RocksDB's max_open_files)"),
    ])

    /// The one combination refused: the level-0 triggers in order, compaction_threshold <=
    /// slowdown < stop (each after 0 picks its default). Ranges are the table's.
    public func validate(durability: DurabilityMode) throws {
        guard l0SlowdownTrigger >= compactionThreshold, l0StopTrigger > l0SlowdownTrigger else {
            let t = Self.optionTable
            let (threshold, slowdown, stop) = (t.name(\.compactionThreshold), t.name(\.l0SlowdownWritesTrigger), t.name(\.l0StopWritesTrigger))
            throw OptionError([threshold, slowdown, stop],
                              "level-0 triggers out of order: \(threshold) \(compactionThreshold), \(slowdown) \(l0SlowdownTrigger) (set \(l0SlowdownWritesTrigger)), \(stop) \(l0StopTrigger) (set \(l0StopWritesTrigger))",
                              hint: "\(threshold) <= \(slowdown) < \(stop) (0 picks 5x and 9x the compaction threshold)")
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

import OrbitCore

/// The `rocksdb.*` knobs, typed. Every field is applied to the RocksDB options when the engine opens
/// (see `RocksDBEngine.makeOptions`); nothing here is accepted and then ignored.
///
/// Knob names are `rocksdb.<key>`, the JSON section is `rocksdb_config`, the environment variables
/// `ORBIT_ROCKSDB_<KEY>`. Defaults are RocksDB's own (so a run with no settings is comparable to
/// `db_bench` with the same flags) except where noted in the knob's help.
public struct RocksDBOptions: Sendable, Hashable {
    /// LRU block cache capacity in MiB; 0 = no block cache (every block read goes to the file).
    public var blockCacheMB: Int = 256
    /// Memtable size in MiB (`write_buffer_size`): a memtable this large is switched and flushed.
    public var writeBufferMB: Int = 64
    /// Flush + compaction threads (`max_background_jobs`).
    public var maxBackgroundJobs: Int = 2
    /// LZ4 block compression on every level (false: no compression).
    public var compression: Bool = false
    /// Full-filter Bloom bits per key in each SST; 0 = no filter.
    public var bloomBitsPerKey: Int = 10
    /// Write-ahead log on. Off: acknowledged writes live only in the memtable until a flush.
    public var wal: Bool = true
    /// Table files kept open (`max_open_files`); -1 = all of them (RocksDB's default).
    public var maxOpenFiles: Int = -1
    /// RocksDB statistics (tickers): needed for cache hit rate and write amplification in `stats()`.
    public var statistics: Bool = false
    /// Count the SST bytes each foreground read pulls from files (`diskBytesRead`) with RocksDB's
    /// per-thread perf context. Off by default: it needs perf level `enable_count` during reads,
    /// which measured ~5% more instructions per cached point read (db_bench runs with perf counting
    /// disabled); when off, reads report 0 disk bytes.
    public var countReadBytes: Bool = false
    /// What an open does with a damaged WAL record (`wal_recovery_mode`). RocksDB's default,
    /// `point-in-time`, stops replay at the first damaged record with no error (later writes are
    /// dropped silently); `tolerate-corrupted-tail` accepts only an incomplete final record and
    /// reports damage before it; `absolute-consistency` refuses any damage; `skip-any-corrupted`
    /// skips damaged records.
    public var walRecoveryMode: String = "point-in-time"

    /// `wal_recovery_mode` spellings, in RocksDB's enum order (`rocksdb_options_set_wal_recovery_mode`).
    public static let walRecoveryModes = ["tolerate-corrupted-tail", "absolute-consistency", "point-in-time", "skip-any-corrupted"]

    /// The compression type `compression = true` selects. LZ4: the Debian build links liblz4 (and
    /// snappy, zlib, bz2, zstd); LZ4 is the cheapest to decompress of them.
    public static let compressionName = "LZ4"

    public init() {}

    public static let section = "rocksdb_config"

    private static func knob(_ key: String, _ kind: Knob.Kind, _ value: KnobValue, _ help: String) -> Knob {
        Knob("rocksdb." + key, section: section, key: key, env: "ORBIT_ROCKSDB_" + key.uppercased(),
             kind: kind, default: value, help: help)
    }

    public static let knobs: [Knob] = [
        knob("block_cache_mb", .int(0...1_048_576), .int(256),
             "LRU block cache for SST data/index/filter blocks, MiB (0 = no block cache)"),
        knob("write_buffer_mb", .int(1...65_536), .int(64),
             "memtable size (write_buffer_size), MiB; a full memtable is flushed to an L0 SST"),
        knob("max_background_jobs", .int(1...64), .int(2),
             "background flush + compaction threads (max_background_jobs)"),
        knob("compression", .bool, .bool(false),
             "LZ4 block compression on every level (false = none); this librocksdb also has snappy, zlib, bz2, zstd"),
        knob("bloom_bits_per_key", .int(0...64), .int(10),
             "bits per key of the full Bloom filter in each SST (0 = no filter)"),
        knob("wal", .bool, .bool(true),
             "write-ahead log; false keeps writes in the memtable until a flush and needs durability none"),
        knob("max_open_files", .int(-1...1_000_000), .int(-1),
             "SST files kept open by the table cache (-1 = all; otherwise at least 20)"),
        knob("statistics", .bool, .bool(false),
             "RocksDB statistics: cache hit rate and write amplification in stats, costs a few % per op"),
        knob("count_read_bytes", .bool, .bool(false),
             "count SST bytes read per get/scan via RocksDB's perf context (disk_bytes_read); ~5% slower cached reads"),
        knob("wal_recovery_mode", .choice(walRecoveryModes), .string("point-in-time"),
             "what an open does with a damaged WAL record: point-in-time (RocksDB's default: replay stops there, no error), tolerate-corrupted-tail (only a torn final record is accepted; earlier damage is an error), absolute-consistency, skip-any-corrupted"),
    ]

    /// Reads every `rocksdb.*` knob. `settings` must have been built with `RocksDBOptions.knobs`.
    public init(settings: Settings) {
        blockCacheMB = settings.int("rocksdb.block_cache_mb")
        writeBufferMB = settings.int("rocksdb.write_buffer_mb")
        maxBackgroundJobs = settings.int("rocksdb.max_background_jobs")
        compression = settings.bool("rocksdb.compression")
        bloomBitsPerKey = settings.int("rocksdb.bloom_bits_per_key")
        wal = settings.bool("rocksdb.wal")
        maxOpenFiles = settings.int("rocksdb.max_open_files")
        statistics = settings.bool("rocksdb.statistics")
        countReadBytes = settings.bool("rocksdb.count_read_bytes")
        walRecoveryMode = settings.string("rocksdb.wal_recovery_mode")
    }

    /// Checks the combination with a durability mode: a WAL-less store cannot honour any sync promise.
    public func validate(durability: DurabilityMode) throws {
        if !wal && durability != .none {
            throw OrbitError(.invalidConfig,
                             "rocksdb.wal=false cannot give durability '\(durability)': without a write-ahead log "
                                + "an acknowledged write lives only in the memtable until a flush",
                             hint: "set rocksdb.wal=true, or durability=none")
        }
        // RocksDB would silently raise 0...19 to 20 (SanitizeOptions clips max_open_files): refuse instead.
        if maxOpenFiles != -1 && maxOpenFiles < 20 {
            throw OrbitError(.invalidConfig, "rocksdb.max_open_files: bad value \(maxOpenFiles)",
                             hint: "allowed: -1 (keep all open) or an integer in 20...1000000")
        }
        guard blockCacheMB >= 0, writeBufferMB >= 1, (1...64).contains(maxBackgroundJobs),
              (0...64).contains(bloomBitsPerKey), maxOpenFiles <= 1_000_000 else {
            throw OrbitError(.invalidConfig, "rocksdb options out of range: \(self)",
                             hint: Self.knobs.map { "\($0.name): \($0.allowed)" }.joined(separator: "; "))
        }
    }
}

import OrbitCore

/// The `rocksdb.*` knobs, typed, each stated once in `optionTable`. Every field is applied to the
/// RocksDB options when the engine opens (see `RocksDBEngine.makeOptions`); nothing here is
/// accepted and then ignored. Defaults are RocksDB's own (so a run with no settings is comparable
/// to `db_bench` with the same flags) except where noted in the knob's help.
public struct RocksDBOptions: TableDrivenOptions, Hashable {
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

    public static let optionTable = OptionTable<RocksDBOptions>(engine: RocksDBDescriptor.name, [
        .int("block_cache_mb", \.blockCacheMB, 0...1_048_576,
             "LRU block cache for SST data/index/filter blocks, MiB (0 = no block cache)"),
        .int("write_buffer_mb", \.writeBufferMB, 1...65_536,
             "memtable size (write_buffer_size), MiB; a full memtable is flushed to an L0 SST"),
        .int("max_background_jobs", \.maxBackgroundJobs, 1...64,
             "background flush + compaction threads (max_background_jobs)"),
        .bool("compression", \.compression,
              "LZ4 block compression on every level (false = none); this librocksdb also has snappy, zlib, bz2, zstd"),
        .int("bloom_bits_per_key", \.bloomBitsPerKey, 0...64,
             "bits per key of the full Bloom filter in each SST (0 = no filter)"),
        .bool("wal", \.wal,
              "write-ahead log; false keeps writes in the memtable until a flush and needs durability none"),
        // RocksDB would silently raise 0...19 to 20 (SanitizeOptions clips max_open_files): refused instead.
        .int("max_open_files", \.maxOpenFiles, -1...1_000_000,
             "SST files kept open by the table cache (-1 = all; otherwise at least 20)",
             constraint: .integer("-1 (keep all open) or an integer in 20...1000000") { $0 == -1 || $0 >= 20 }),
        .bool("statistics", \.statistics,
              "RocksDB statistics: cache hit rate and write amplification in stats, costs a few % per op"),
        .bool("count_read_bytes", \.countReadBytes,
              "count SST bytes read per get/scan via RocksDB's perf context (disk_bytes_read); ~5% slower cached reads"),
        .choice("wal_recovery_mode", \.walRecoveryMode, walRecoveryModes,
                "what an open does with a damaged WAL record: point-in-time (RocksDB's default: replay stops there, no error), tolerate-corrupted-tail (only a torn final record is accepted; earlier damage is an error), absolute-consistency, skip-any-corrupted"),
    ])

    /// The one combination refused: a WAL-less store cannot honour any sync promise.
    public func validate(durability: DurabilityMode) throws {
        if !wal && durability != .none {
            let name = Self.optionTable.name(\.wal)
            throw OptionError([name, OptionError.durabilityKnob],
                              "\(name)=false cannot give durability '\(durability)': without a write-ahead log "
                                + "an acknowledged write lives only in the memtable until a flush",
                              hint: "set \(name)=true, or durability=none")
        }
    }
}

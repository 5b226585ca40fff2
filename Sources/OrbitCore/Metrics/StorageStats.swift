/// An engine's own account of itself (the seeds' `StorageStats`), plus the figures an engine may know.
///
/// Optional figures are `nil` when the engine does not know them; they print as empty CSV cells,
/// never as a made-up zero.
public struct StorageStats: Sendable, Hashable {
    public var totalKeys: UInt64 = 0
    /// Logical bytes stored: sum of key and value sizes.
    public var totalSizeBytes: UInt64 = 0
    /// The engine's own memory: memtables, caches, indexes.
    public var memoryUsageBytes: UInt64 = 0
    /// Bytes of the engine's files on disk.
    public var diskUsageBytes: UInt64 = 0
    public var averageKeySize: UInt64 = 0
    public var averageValueSize: UInt64 = 0

    public var writeAmplification: Double?
    public var spaceAmplification: Double?
    public var readAmplification: Double?
    public var cacheHitRate: Double?
    public var compactionBacklog: UInt64?
    public var treeHeight: UInt64?
    public var freePages: UInt64?
    // Engine internals, cumulative since open (stats.csv's internals columns; nil: not known).
    /// Bytes flushes wrote (memtables to level-0 tables).
    public var flushBytes: UInt64?
    /// Bytes compactions read and wrote.
    public var compactionBytesRead: UInt64?
    public var compactionBytesWritten: UInt64?
    /// Time writers were stopped or slowed by the engine (write stalls), ms.
    public var stallMillis: Double?
    /// Files (tables) per level, level 0 first.
    public var filesPerLevel: [UInt64]?
    /// Pages (or blocks) the engine read from its files.
    public var pagesRead: UInt64?

    /// Whether `totalKeys` is exact or the engine's estimate (RocksDB's `estimate-num-keys`).
    public var totalKeysIsEstimate = false
    /// Engine-specific figures, in a stable order (written to summary.json).
    public var extra: [Extra] = []

    public struct Extra: Sendable, Hashable {
        public var name: String
        public var value: Double
        public init(_ name: String, _ value: Double) { self.name = name; self.value = value }
    }

    public init() {}

    /// stats.csv columns after `elapsed_s,backend` (a contract: extend, never rename).
    public static let csvColumns = [
        "total_keys", "total_size_bytes", "memory_usage_bytes", "disk_usage_bytes", "average_key_size",
        "average_value_size", "write_amplification", "space_amplification", "read_amplification",
        "cache_hit_rate", "compaction_backlog", "tree_height", "free_pages",
    ]

    /// stats.csv columns after `process_heap_bytes`: engine internals (a contract: extend, never rename).
    /// `files_per_level` is the count per level joined by `/` ("4/10/0").
    public static let internalsColumns = [
        "flush_bytes", "compaction_bytes_read", "compaction_bytes_written", "stall_ms", "files_per_level", "pages_read",
    ]

    public var internalsCells: [String] {
        func u(_ v: UInt64?) -> String { v.map { String($0) } ?? "" }
        return [u(flushBytes), u(compactionBytesRead), u(compactionBytesWritten), stallMillis.map { formatDouble($0, decimals: 3) } ?? "",
                filesPerLevel.map { $0.map(String.init).joined(separator: "/") } ?? "", u(pagesRead)]
    }

    public var csvCells: [String] {
        func d(_ v: Double?) -> String { v.map { formatDouble($0) } ?? "" }
        func u(_ v: UInt64?) -> String { v.map { String($0) } ?? "" }
        return [
            String(totalKeys), String(totalSizeBytes), String(memoryUsageBytes), String(diskUsageBytes),
            String(averageKeySize), String(averageValueSize), d(writeAmplification), d(spaceAmplification),
            d(readAmplification), d(cacheHitRate), u(compactionBacklog), u(treeHeight), u(freePages),
        ]
    }
}

/// Fixed-point rendering without Foundation: up to 4 decimals, trailing zeros trimmed.
public func formatDouble(_ v: Double, decimals: Int = 4) -> String {
    guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = v < 0
    let scaled = (abs(v) * scale).rounded()
    guard scaled < 9.0e18 else { return String(v) }
    let n = UInt64(scaled)
    let ip = n / UInt64(scale), fp = n % UInt64(scale)
    var s = (negative && n != 0 ? "-" : "") + String(ip)
    if fp != 0 {
        var f = String(fp)
        while f.count < decimals { f = "0" + f }
        while f.hasSuffix("0") { f.removeLast() }
        s += "." + f
    }
    return s
}

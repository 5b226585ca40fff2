#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRocksDB
import OrbitCore

extension RocksDBEngine {
    /// RocksDB's own account, from DB properties (and statistics tickers when `rocksdb.statistics`):
    ///
    /// - `totalKeys`: `rocksdb.estimate-num-keys` (an estimate: overwrites and deletes not yet
    ///   compacted away are counted; `totalKeysIsEstimate` is true).
    /// - `averageKeySize`/`averageValueSize`: raw key/value bytes per entry over all SST files
    ///   (`rocksdb.aggregated-table-properties`); 0 while nothing has been flushed.
    /// - `totalSizeBytes`: `totalKeys` × (average key + value size) once SSTs exist; before the first
    ///   flush, the memtables' size (`rocksdb.cur-size-all-mem-tables`, which includes their
    ///   per-entry overhead).
    /// - `memoryUsageBytes`: memtables + table readers outside the cache (index/filter blocks,
    ///   `rocksdb.estimate-table-readers-mem`) + block cache usage.
    /// - `diskUsageBytes`: `rocksdb.total-sst-files-size` + every other file in the DB directory
    ///   (WAL, MANIFEST, OPTIONS, LOG); snapshots are not counted.
    /// - `spaceAmplification`: SST bytes / `rocksdb.estimate-live-data-size`.
    /// - `compactionBacklog`: `rocksdb.estimate-pending-compaction-bytes`.
    /// - With `rocksdb.statistics`: `cacheHitRate` = block cache hits / (hits + misses);
    ///   `writeAmplification` = (WAL + flush + compaction bytes written) / user bytes written
    ///   (tickers `rocksdb.wal.bytes`, `rocksdb.flush.write.bytes`, `rocksdb.compact.write.bytes`,
    ///   `rocksdb.bytes.written`). Without statistics both are nil (unknown, not zero).
    public func stats() throws -> StorageStats {
        try gate.enter()
        defer { gate.leave() }
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }

        func int(_ name: String) -> UInt64? {
            var v: UInt64 = 0
            return rocksdb_property_int(db, name, &v) == 0 ? v : nil
        }
        func string(_ name: String) -> String? {
            guard let p = rocksdb_property_value(db, name) else { return nil }
            defer { rocksdb_free(p) }
            return String(cString: p)
        }

        var s = StorageStats()
        s.totalKeys = int("rocksdb.estimate-num-keys") ?? 0
        s.totalKeysIsEstimate = true

        let table = Self.parseTableProperties(string("rocksdb.aggregated-table-properties") ?? "")
        let memtables = int("rocksdb.cur-size-all-mem-tables") ?? 0
        if let entries = table["# entries"], entries > 0 {
            let rawKeys = table["raw key size"] ?? 0, rawValues = table["raw value size"] ?? 0
            s.averageKeySize = UInt64((rawKeys / entries).rounded())
            s.averageValueSize = UInt64((rawValues / entries).rounded())
            s.totalSizeBytes = UInt64((Double(s.totalKeys) * (rawKeys + rawValues) / entries).rounded())
        } else {
            s.totalSizeBytes = memtables
        }

        let readers = int("rocksdb.estimate-table-readers-mem") ?? 0
        let cacheUsage = cache.map { UInt64(rocksdb_cache_get_usage($0)) } ?? 0
        s.memoryUsageBytes = memtables &+ readers &+ cacheUsage

        let sst = int("rocksdb.total-sst-files-size") ?? 0
        var wal: UInt64 = 0, other: UInt64 = 0
        for name in (try? disk.list(directory: path)) ?? [] where !name.hasSuffix(".sst") && !disk.isDirectory(path + "/" + name) {
            let size = UInt64((try? disk.fileSize(path + "/" + name)) ?? 0)
            if name.hasSuffix(".log") { wal &+= size } else { other &+= size }
        }
        s.diskUsageBytes = sst &+ wal &+ other

        let live = int("rocksdb.estimate-live-data-size") ?? 0
        if live > 0 { s.spaceAmplification = Double(sst) / Double(live) }
        s.compactionBacklog = int("rocksdb.estimate-pending-compaction-bytes")
        var perLevel: [UInt64] = []
        // A string property (not an int one): the count as text.
        for l in 0..<7 {
            guard let n = string("rocksdb.num-files-at-level\(l)").flatMap({ UInt64($0.filter(\.isNumber)) }) else { break }
            perLevel.append(n)
        }
        if !perLevel.isEmpty { s.filesPerLevel = perLevel }

        var extra: [StorageStats.Extra] = [
            .init("rocksdb.estimate_live_data_size", Double(live)),
            .init("rocksdb.total_sst_files_size", Double(sst)),
            .init("rocksdb.wal_files_size", Double(wal)),
            .init("rocksdb.mem_tables_size", Double(memtables)),
            .init("rocksdb.table_readers_mem", Double(readers)),
            .init("rocksdb.block_cache_usage", Double(cacheUsage)),
            // From the DB (the table factory's cache), so it shows what RocksDB really runs with.
            .init("rocksdb.block_cache_capacity", Double(int("rocksdb.block-cache-capacity") ?? 0)),
            .init("rocksdb.num_running_compactions", Double(int("rocksdb.num-running-compactions") ?? 0)),
            .init("rocksdb.num_running_flushes", Double(int("rocksdb.num-running-flushes") ?? 0)),
            .init("rocksdb.num_files_at_level0", Double(s.filesPerLevel?.first ?? 0)),
        ]

        if options.statistics, let p = rocksdb_options_statistics_get_string(dbOptions) {
            let text = String(cString: p)
            rocksdb_free(p)
            let t = Self.parseTickers(text)
            let hit = t["rocksdb.block.cache.hit"] ?? 0, miss = t["rocksdb.block.cache.miss"] ?? 0
            if hit + miss > 0 { s.cacheHitRate = Double(hit) / Double(hit + miss) }
            let user = t["rocksdb.bytes.written"] ?? 0
            let disk = (t["rocksdb.wal.bytes"] ?? 0) + (t["rocksdb.flush.write.bytes"] ?? 0)
                + (t["rocksdb.compact.write.bytes"] ?? 0)
            if user > 0 { s.writeAmplification = Double(disk) / Double(user) }
            s.flushBytes = t["rocksdb.flush.write.bytes"].map { UInt64($0) }
            s.compactionBytesRead = t["rocksdb.compact.read.bytes"].map { UInt64($0) }
            s.compactionBytesWritten = t["rocksdb.compact.write.bytes"].map { UInt64($0) }
            s.stallMillis = t["rocksdb.stall.micros"].map { Double($0) / 1000 }
            // Blocks read from the files: block-cache misses (each one a block read).
            s.pagesRead = t["rocksdb.block.cache.miss"].map { UInt64($0) }
            for name in ["rocksdb.bytes.written", "rocksdb.wal.bytes", "rocksdb.flush.write.bytes",
                         "rocksdb.compact.read.bytes", "rocksdb.compact.write.bytes",
                         "rocksdb.block.cache.hit", "rocksdb.block.cache.miss", "rocksdb.stall.micros"] {
                extra.append(.init(name.replacingOccurrences(".", "_", afterPrefix: "rocksdb."), Double(t[name] ?? 0)))
            }
        }
        if let syncer { extra.append(.init("rocksdb.periodic_wal_syncs", Double(syncer.runCount.load(ordering: .relaxed)))) }
        s.extra = extra
        return s
    }

    /// A RocksDB DB property as text ("rocksdb.stats", "rocksdb.levelstats",
    /// "rocksdb.aggregated-table-properties", ...); nil for an unknown property.
    public func property(_ name: String) throws -> String? {
        try gate.enter()
        defer { gate.leave() }
        guard let p = rocksdb_property_value(db, name) else { return nil }
        defer { rocksdb_free(p) }
        return String(cString: p)
    }

    /// "# entries=3; raw key size=48; ..." → ["# entries": 3, "raw key size": 48, ...]
    static func parseTableProperties(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for item in text.split(separator: ";") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = Double(String(kv[1]).trimmingWhitespace()) else { continue }
            out[String(kv[0]).trimmingWhitespace()] = v
        }
        return out
    }

    /// "rocksdb.block.cache.hit COUNT : 12\n..." → ["rocksdb.block.cache.hit": 12, ...] (tickers only).
    static func parseTickers(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 4, parts[1] == "COUNT", parts[2] == ":", let v = UInt64(parts[3]) else { continue }
            out[String(parts[0])] = v
        }
        return out
    }
}

extension String {
    /// "rocksdb.block.cache.hit" → "rocksdb.block_cache_hit" (dots after the prefix become `with`).
    fileprivate func replacingOccurrences(_ dot: Character, _ with: Character, afterPrefix prefix: String) -> String {
        guard hasPrefix(prefix) else { return self }
        return prefix + String(dropFirst(prefix.count).map { $0 == dot ? with : $0 })
    }
}

import OrbitCore

extension LSMTree {
    /// Figures from the engine's own accounting. Key counts and sizes are estimates (puts minus
    /// deletes over memtables and tables, overwrites counted until compaction merges them).
    public func stats() throws -> StorageStats {
        try checkOpen()
        let (_, m, ims, v) = readView()
        defer { TSan.release(address: TSan.address(of: ims)) }   // see `readView`
        var s = StorageStats()
        var puts: Int64 = 0, deletes: Int64 = 0, raw: Int64 = 0, memory: Int64 = 0, disk: UInt64 = 0
        // Puts and their key and value bytes where the key bytes are known (tables written by an
        // older build do not record them), for the average sizes.
        var sizedPuts: UInt64 = 0, sizedKeyBytes: UInt64 = 0, sizedRawBytes: UInt64 = 0
        var indexAndFilterBytes = 0
        for t in [m] + ims {
            puts += Int64(t.entries - t.deletes); deletes += Int64(t.deletes); raw += Int64(t.rawPutBytes)
            memory += Int64(t.memoryUsage)
            sizedPuts += UInt64(t.entries - t.deletes); sizedKeyBytes += UInt64(t.rawKeyBytes); sizedRawBytes += UInt64(t.rawPutBytes)
        }
        for (_, f) in v.allFiles {
            puts += Int64(f.meta.entries - f.meta.deletes); deletes += Int64(f.meta.deletes); raw += Int64(f.meta.rawPutBytes)
            indexAndFilterBytes += f.reader.memoryUsage
            disk += f.meta.size
            if let k = f.meta.rawKeyBytes {
                sizedPuts += f.meta.entries - f.meta.deletes; sizedKeyBytes += k; sizedRawBytes += f.meta.rawPutBytes
            }
        }
        memory += Int64(indexAndFilterBytes)
        memory += Int64(cache.usage)
        // Read without writeLock or manifestLock: stats() answers while writers stall.
        disk += UInt64(max(0, walSize.load(ordering: .relaxed))) + UInt64(max(0, manifestSize.load(ordering: .relaxed)))
        s.totalKeys = UInt64(max(0, puts - deletes))
        s.totalKeysIsEstimate = true
        s.totalSizeBytes = UInt64(max(0, raw))
        s.memoryUsageBytes = UInt64(memory)
        s.diskUsageBytes = disk
        if sizedPuts > 0 {
            s.averageKeySize = (sizedKeyBytes + sizedPuts / 2) / sizedPuts
            s.averageValueSize = (sizedRawBytes - sizedKeyBytes + sizedPuts / 2) / sizedPuts
        }
        let user = userBytesWritten.load(ordering: .relaxed)
        let written = fs.ioStatistics().subtracting(ioBaseline).bytesWritten
        if user > 0 { s.writeAmplification = Double(written) / Double(user) }
        if s.totalSizeBytes > 0 { s.spaceAmplification = Double(disk) / Double(s.totalSizeBytes) }
        let g = gets.load(ordering: .relaxed)
        if g > 0 { s.readAmplification = Double(tablesProbed.load(ordering: .relaxed)) / Double(g) }
        let hits = cache.hits, misses = cache.misses
        if hits + misses > 0 { s.cacheHitRate = Double(hits) / Double(hits + misses) }
        let scores = state.withLock { levelScores(v) }
        var backlog: UInt64 = 0
        for l in 1..<(v.levels.count - 1) { let b = v.levelBytes(l), t = options.levelTarget(l); if b > t { backlog += b - t } }
        if scores[0] >= 1 { backlog += v.levelBytes(0) }
        s.compactionBacklog = backlog
        s.treeHeight = UInt64(v.levels.lastIndex { !$0.isEmpty }.map { $0 + 1 } ?? 0)
        let checks = filterChecks.load(ordering: .relaxed)
        var extra: [StorageStats.Extra] = []
        func add(_ name: String, _ value: Double) { extra.append(.init(name, value)) }
        func add(_ name: String, _ value: UInt64) { extra.append(.init(name, Double(value))) }
        add("stall_ms", Double(stallNanos.load(ordering: .relaxed)) / 1e6)
        add("stall_max_ms", Double(stallMaxNanos.load(ordering: .relaxed)) / 1e6)
        add("stalls", stalls.load(ordering: .relaxed))
        add("slowdown_ms", Double(slowdownNanos.load(ordering: .relaxed)) / 1e6)
        add("delayed_writes", delayedWrites.load(ordering: .relaxed))
        add("bloom_checks", checks)
        add("bloom_useful", checks > 0 ? Double(filterNegatives.load(ordering: .relaxed)) / Double(checks) : 0)
        add("cache_hits", hits)
        add("cache_misses", misses)
        add("flushes", flushes.load(ordering: .relaxed))
        add("compactions", compactions.load(ordering: .relaxed))
        add("compaction_bytes_written", compactionBytesWritten.load(ordering: .relaxed))
        add("compaction_ms", Double(compactionNanos.load(ordering: .relaxed)) / 1e6)
        add("subcompactions", subcompactions.load(ordering: .relaxed))
        add("immutable_memtables", UInt64(ims.count))
        add("wal_skipped_regions", UInt64(walSkippedRegions))
        add("index_filter_bytes", UInt64(indexAndFilterBytes))
        add("wal_group_syncs", commit.syncs.load(ordering: .relaxed))
        add("wal_group_writes", commit.acknowledged.load(ordering: .relaxed))
        // 1 once a flush or compaction has failed (the error stops background work; close reports
        // it), and once a WAL append or sync has failed (the store refuses writes until reopened).
        add("background_failed", state.withLock { backgroundError } == nil ? UInt64(0) : 1)
        add("read_only", commit.broken.load(ordering: .relaxed) ? UInt64(1) : 0)
        for l in v.levels.indices { add("level\(l)_files", UInt64(v.levels[l].count)) }
        s.extra = extra
        s.flushBytes = flushBytesWritten.load(ordering: .relaxed)
        s.compactionBytesRead = compactionBytesRead.load(ordering: .relaxed)
        s.compactionBytesWritten = compactionBytesWritten.load(ordering: .relaxed)
        s.stallMillis = Double(stallNanos.load(ordering: .relaxed) + slowdownNanos.load(ordering: .relaxed)) / 1e6
        s.filesPerLevel = v.levels.map { UInt64($0.count) }
        s.pagesRead = misses
        return s
    }
}

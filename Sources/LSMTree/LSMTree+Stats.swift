import OrbitCore

extension LSMTree {
    /// Figures from the engine's own accounting. Key counts and sizes are estimates (puts minus
    /// deletes over memtables and tables, overwrites counted until compaction merges them).
    public func stats() throws -> StorageStats {
        try checkOpen()
        let (m, ims, v) = readView()
        var s = StorageStats()
        var puts: Int64 = 0, deletes: Int64 = 0, raw: Int64 = 0, memory: Int64 = 0, disk: UInt64 = 0
        for t in [m] + ims {
            puts += Int64(t.entries - t.deletes); deletes += Int64(t.deletes); raw += Int64(t.rawPutBytes)
            memory += Int64(t.memoryUsage)
        }
        for (_, f) in v.allFiles {
            puts += Int64(f.meta.entries - f.meta.deletes); deletes += Int64(f.meta.deletes); raw += Int64(f.meta.rawPutBytes)
            memory += Int64(f.reader.memoryUsage)
            disk += f.meta.size
        }
        memory += Int64(cache.usage)
        disk += UInt64(max(0, writeLock.withLock { log.size })) + UInt64(max(0, manifestLock.withLock { manifest.size }))
        s.totalKeys = UInt64(max(0, puts - deletes))
        s.totalKeysIsEstimate = true
        s.totalSizeBytes = UInt64(max(0, raw))
        s.memoryUsageBytes = UInt64(memory)
        s.diskUsageBytes = disk
        if puts > 0 { s.averageKeySize = 0; s.averageValueSize = 0 }
        if s.totalKeys > 0 { s.averageValueSize = s.totalSizeBytes / s.totalKeys }
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
        s.extra = [
            .init("stall_ms", Double(stallNanos.load(ordering: .relaxed)) / 1e6),
            .init("bloom_checks", Double(checks)),
            .init("bloom_useful", checks > 0 ? Double(filterNegatives.load(ordering: .relaxed)) / Double(checks) : 0),
            .init("cache_hits", Double(hits)),
            .init("cache_misses", Double(misses)),
            .init("flushes", Double(flushes.load(ordering: .relaxed))),
            .init("compactions", Double(compactions.load(ordering: .relaxed))),
            .init("compaction_bytes_written", Double(compactionBytesWritten.load(ordering: .relaxed))),
            .init("immutable_memtables", Double(ims.count)),
            .init("wal_skipped_regions", Double(walSkippedRegions)),
        ] + v.levels.indices.map { .init("level\($0)_files", Double(v.levels[$0].count)) }
        return s
    }
}

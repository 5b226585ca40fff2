import OrbitCore

/// Snapshots: named, durably pinned roots (docs/formats/btree-page.md, "Snapshot-list pages").
///
/// `createSnapshot` records the current root in the snapshot list and checkpoints; from then on no
/// page reachable from that root is released (`TreeWriter.pinned`), so the tree it names stays
/// intact on disk and in memory. `restoreSnapshot` makes that root the current one (releasing the
/// pages only the abandoned tree used) and checkpoints, trimming the WAL. `dropSnapshot` unpins
/// what no other snapshot and not the current tree still use.
extension CowBTree {
    func requireSnapshots() throws {
        guard options.enableSnapshots else {
            throw OrbitError(.unsupported, "snapshots are turned off for this store", at: path, hint: "set cow.enable_snapshots=true")
        }
    }

    public func createSnapshot(named name: String) throws {
        if readOnly { throw readOnlyError("createSnapshot") }
        try validateSnapshotName(name)
        try requireSnapshots()
        try writeLock.withLock { _ in
            _ = try view()
            try checkWritable("createSnapshot")
            try finishInflightCheckpoint(wait: true)
            guard !snapshots.contains(where: { $0.name == name }) else {
                throw OrbitError(.invalidArgument, "snapshot '\(name)' already exists", at: path, hint: "drop it first or pick another name")
            }
            let t = tree
            snapshots.append(SnapshotRecord(name: name, root: t.root?.pageNo ?? 0, height: UInt64(t.height), txid: t.txn,
                                            keys: UInt64(t.keys), keyBytes: UInt64(t.keyBytes), valueBytes: UInt64(t.valueBytes)))
            snapshots.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            if let root = t.root { snapshotRoots[name] = root }
            TreeWriter.pageNumbers(of: t.root, into: &t.pinned)
            snapshotsChanged = true
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    public func listSnapshots() throws -> [String] {
        try requireSnapshots()
        return try writeLock.withLock { _ in
            _ = try view()
            return snapshots.map(\.name)
        }
    }

    func recomputePins() -> Set<UInt64> {
        var pins: Set<UInt64> = []
        for s in snapshots { TreeWriter.pageNumbers(of: snapshotRoots[s.name], into: &pins) }
        return pins
    }

    public func dropSnapshot(named name: String) throws {
        if readOnly { throw readOnlyError("dropSnapshot") }
        try validateSnapshotName(name)
        try requireSnapshots()
        try writeLock.withLock { _ in
            _ = try view()
            try checkWritable("dropSnapshot")
            try finishInflightCheckpoint(wait: true)
            guard let i = snapshots.firstIndex(where: { $0.name == name }) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: path, hint: "see listSnapshots()")
            }
            snapshots.remove(at: i)
            snapshotRoots.removeValue(forKey: name)
            let t = tree
            let old = t.pinned
            t.pinned = recomputePins()
            var live: Set<UInt64> = []
            TreeWriter.pageNumbers(of: t.root, into: &live)
            for no in old where !t.pinned.contains(no) && !live.contains(no) { t.release(no) }
            snapshotsChanged = true
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    public func restoreSnapshot(named name: String) throws {
        if readOnly { throw readOnlyError("restoreSnapshot") }
        try validateSnapshotName(name)
        try requireSnapshots()
        try writeLock.withLock { _ in
            _ = try view()
            try checkWritable("restoreSnapshot")
            try finishInflightCheckpoint(wait: true)
            guard let record = snapshots.first(where: { $0.name == name }) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: path, hint: "see listSnapshots()")
            }
            let t = tree
            var abandoned: Set<UInt64> = []
            TreeWriter.pageNumbers(of: t.root, into: &abandoned)
            let root = snapshotRoots[name]
            for no in abandoned where !t.pinned.contains(no) { t.release(no) }
            t.root = root
            t.height = Int(record.height)
            t.keys = Int64(record.keys); t.keyBytes = Int64(record.keyBytes); t.valueBytes = Int64(record.valueBytes)
            t.txn += 1
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    // MARK: Stats

    public func stats() throws -> StorageStats {
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }
        return try writeLock.withLock { _ in
            let v = try view()
            let t = tree
            var s = StorageStats()
            s.totalKeys = UInt64(max(0, v.keys))
            s.totalSizeBytes = UInt64(max(0, v.keyBytes + v.valueBytes))
            s.averageKeySize = v.keys > 0 ? UInt64(v.keyBytes / v.keys) : 0
            s.averageValueSize = v.keys > 0 ? UInt64(v.valueBytes / v.keys) : 0
            let fileSize = (try? dataFile.size()) ?? 0
            let walSize: Int64? = options.wal ? walLiveBytes : nil
            let spareCount = walSpares.withLock { $0.spares.count }
            s.diskUsageBytes = UInt64(max(0, fileSize)) + UInt64(max(0, walSize ?? 0))
            s.memoryUsageBytes = (t.pageCount - UInt64(t.free.count)) * UInt64(meta.pageSize)
            s.treeHeight = UInt64(v.height)
            s.freePages = UInt64(t.free.count + t.pending.count)
            if s.totalSizeBytes > 0 { s.spaceAmplification = Double(fileSize) / Double(s.totalSizeBytes) }
            s.extra = [
                .init("page_size", Double(meta.pageSize)),
                .init("page_count", Double(t.pageCount)),
                .init("file_size_bytes", Double(fileSize)),
                .init("wal_size_bytes", Double(walSize ?? 0)),
                .init("dirty_pages", Double(t.dirty.count)),
                .init("pages_written", Double(pagesWritten)),
                .init("pages_written_per_commit", commitCount > 0 ? Double(pagesWritten) / Double(commitCount) : 0),
                .init("commits", Double(commitCount)),
                .init("checkpoint_count", Double(checkpointCount)),
                .init("checkpoint_time_ms", Double(checkpointNanos) / 1e6),
                .init("checkpoint_wait_ms", Double(checkpointWaitNanos) / 1e6),
                .init("checkpoint_in_flight", inflight == nil ? 0 : 1),
                .init("wal_segments", Double(walLive.count + (walCurrent == nil ? 0 : 1))),
                .init("wal_spare_segments", Double(spareCount)),
                .init("wal_segments_created_by_writer", Double(walSegmentsCreatedByWriter)),
                .init("snapshots", Double(snapshots.count)),
                .init("pinned_pages", Double(t.pinned.count)),
            ]
            return s
        }
    }
}

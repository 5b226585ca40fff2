import OrbitCore
import Synchronization

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

    /// Snapshot create, drop and restore: a writable store with snapshots on and a valid name, then
    /// `body` under the write lock once the tree is sound and no checkpoint is in flight.
    private func changingSnapshots(_ what: String, _ name: String, _ body: () throws -> Void) throws {
        if readOnly { throw readOnlyError(what) }
        try validateSnapshotName(name)
        try requireSnapshots()
        try withWriteLock {
            _ = try view()
            try checkWritable(what)
            try finishInflightCheckpoint(wait: true)
            try body()
        }
    }

    public func createSnapshot(named name: String) throws {
        try changingSnapshots("createSnapshot", name) {
            guard !snapshots.contains(where: { $0.name == name }) else {
                throw OrbitError(.invalidArgument, "snapshot '\(name)' already exists", at: path, hint: "drop it first or pick another name")
            }
            let t = tree
            snapshots.append(SnapshotRecord(name: name, root: t.root?.pageNo ?? 0, height: UInt64(t.height), txid: t.txn,
                                            keys: UInt64(t.keys), keyBytes: UInt64(t.keyBytes), valueBytes: UInt64(t.valueBytes)))
            snapshots.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            if let root = t.root { snapshotRoots[name] = root }
            do { try t.pageNumbers(of: t.root, into: &t.pinned) } catch { failure = poisoned(error); throw error }
            snapshotsChanged = true
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    public func listSnapshots() throws -> [String] {
        try requireSnapshots()
        return try withWriteLock {
            _ = try view()
            return snapshots.map(\.name)
        }
    }

    func recomputePins() throws -> Set<UInt64> {
        var pins: Set<UInt64> = []
        for s in snapshots { try tree.pageNumbers(of: snapshotRoots[s.name], into: &pins) }
        return pins
    }

    public func dropSnapshot(named name: String) throws {
        try changingSnapshots("dropSnapshot", name) {
            guard let i = snapshots.firstIndex(where: { $0.name == name }) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: path, hint: "see listSnapshots()")
            }
            // Every page read first: a read error changes nothing.
            let t = tree
            let keep = snapshots.filter { $0.name != name }
            var pins: Set<UInt64> = []
            for s in keep { try t.pageNumbers(of: snapshotRoots[s.name], into: &pins) }
            var live: Set<UInt64> = []
            try t.pageNumbers(of: t.root, into: &live)
            snapshots.remove(at: i)
            snapshotRoots.removeValue(forKey: name)
            let old = t.pinned
            t.pinned = pins
            for no in old where !t.pinned.contains(no) && !live.contains(no) { t.release(no) }
            snapshotsChanged = true
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    public func restoreSnapshot(named name: String) throws {
        try changingSnapshots("restoreSnapshot", name) {
            guard let record = snapshots.first(where: { $0.name == name }) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: path, hint: "see listSnapshots()")
            }
            let t = tree
            var abandoned: Set<UInt64> = []
            try t.pageNumbers(of: t.root, into: &abandoned)
            let root = snapshotRoots[name]
            // Freed by the restoring transaction: the published version still refers to them.
            t.txn += 1
            for no in abandoned where !t.pinned.contains(no) { t.release(no) }
            t.root = root
            t.height = Int(record.height)
            t.keys = Int64(record.keys); t.keyBytes = Int64(record.keyBytes); t.valueBytes = Int64(record.valueBytes)
            do { try checkpointNow(sync: true) } catch { failure = poisoned(error); throw error }
        }
    }

    // MARK: Stats

    /// Figures from the engine's own accounting, read without `writeLock`: a writer that holds it
    /// while it waits (for a checkpoint in flight, a WAL segment, a sync) does not hold up stats.
    /// The writer-side figures are those `publishFigures()` stored at the end of the last write-lock
    /// section; the published version, the page file's size and the spares are read as they are.
    public func stats() throws -> StorageStats {
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }
        let v = try view()
        let f = figures.load()
        var s = StorageStats()
        s.totalKeys = UInt64(max(0, v.keys))
        s.totalSizeBytes = UInt64(max(0, v.keyBytes + v.valueBytes))
        s.averageKeySize = v.keys > 0 ? UInt64(v.keyBytes / v.keys) : 0
        s.averageValueSize = v.keys > 0 ? UInt64(v.valueBytes / v.keys) : 0
        let fileSize = (try? dataFile.size()) ?? 0
        let walSize: Int64? = options.wal ? f.walLiveBytes : nil
        let spareCount = walSpares.withLock { $0.spares.count }
        s.diskUsageBytes = UInt64(max(0, fileSize)) + UInt64(max(0, walSize ?? 0))
        // Pages in memory: the cache's and the dirty ones (pinned until a checkpoint writes them).
        let cached = cache.count
        s.memoryUsageBytes = UInt64(cached + f.dirtyPages) * UInt64(f.pageSize)
        s.treeHeight = UInt64(v.height)
        s.freePages = f.freePages
        // Writers waiting for a checkpoint to finish: cow's write stall.
        s.stallMillis = Double(f.checkpointWaitNanos) / 1e6
        // Pages read from the page file on cache misses (tree and overflow pages).
        s.pagesRead = cache.pagesRead.load(ordering: .relaxed)
        if s.totalSizeBytes > 0 { s.spaceAmplification = Double(fileSize) / Double(s.totalSizeBytes) }
        s.extra = [
            .init("page_size", Double(f.pageSize)),
            .init("page_count", Double(f.pageCount)),
            .init("file_size_bytes", Double(fileSize)),
            .init("wal_size_bytes", Double(walSize ?? 0)),
            .init("dirty_pages", Double(f.dirtyPages)),
            .init("pages_written", Double(f.pagesWritten)),
            .init("pages_written_per_commit", f.commits > 0 ? Double(f.pagesWritten) / Double(f.commits) : 0),
            .init("commits", Double(f.commits)),
            .init("checkpoint_count", Double(f.checkpoints)),
            .init("checkpoint_time_ms", Double(f.checkpointNanos) / 1e6),
            .init("checkpoint_wait_ms", Double(f.checkpointWaitNanos) / 1e6),
            .init("checkpoint_in_flight", f.checkpointInFlight ? 1 : 0),
            .init("wal_segments", Double(f.walSegments)),
            .init("wal_spare_segments", Double(spareCount)),
            .init("wal_segments_created_by_writer", Double(f.walSegmentsCreatedByWriter)),
            .init("snapshots", Double(f.snapshots)),
            .init("pinned_pages", Double(f.pinnedPages)),
            .init("cache_capacity_pages", Double(cache.capacity)),
            .init("cache_pages", Double(cached)),
            .init("cache_hits", Double(cache.hits)),
            .init("cache_misses", Double(cache.misses.load(ordering: .relaxed))),
            .init("cache_evictions", Double(cache.evictions.load(ordering: .relaxed))),
            .init("pages_read", Double(cache.pagesRead.load(ordering: .relaxed))),
            .init("bytes_read", Double(cache.bytesRead)),
            .init("retired_pages", Double(f.retiredPages)),
        ]
        return s
    }

    /// Copies the writer-side figures `stats()` reports into `figures` (under `writeLock`, at the end
    /// of every section that holds it: `withWriteLock`). Relaxed atomic stores: plain stores on
    /// x86-64 and AArch64, nothing a commit would notice.
    func publishFigures() {
        let t = tree
        let f = CowFigures(
            pageSize: meta.pageSize, pageCount: t.pageCount,
            usedPages: t.pageCount - UInt64(t.free.count), freePages: UInt64(t.free.count + t.pending.count + t.retired.count),
            dirtyPages: t.dirty.count, pinnedPages: t.pinned.count, retiredPages: t.retired.count,
            pagesWritten: pagesWritten, commits: commitCount, checkpoints: checkpointCount,
            checkpointNanos: checkpointNanos, checkpointWaitNanos: checkpointWaitNanos,
            checkpointInFlight: inflight != nil, walLiveBytes: walLiveBytes,
            walSegments: walLive.count + (walCurrent == nil ? 0 : 1),
            walSegmentsCreatedByWriter: walSegmentsCreatedByWriter, snapshots: snapshots.count)
        figures.store(f)
    }

    /// Runs `body` under `writeLock`, then publishes the figures it may have changed.
    @inline(__always)
    func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try writeLock.withLock { () throws(E) -> R in
            defer { publishFigures() }
            return try body()
        }
    }
}

/// The writer-side figures of `CowBTree.stats()`, as of the end of the last write-lock section.
struct CowFigures: Sendable, Equatable {
    var pageSize = 0
    var pageCount: UInt64 = 0
    var usedPages: UInt64 = 0
    var freePages: UInt64 = 0
    var dirtyPages = 0
    var pinnedPages = 0
    var retiredPages = 0
    var pagesWritten: UInt64 = 0
    var commits: UInt64 = 0
    var checkpoints: UInt64 = 0
    var checkpointNanos: UInt64 = 0
    var checkpointWaitNanos: UInt64 = 0
    var checkpointInFlight = false
    var walLiveBytes: Int64 = 0
    var walSegments = 0
    var walSegmentsCreatedByWriter: UInt64 = 0
    var snapshots = 0
}

/// `CowFigures` in atomics: the writer stores them under `writeLock`, `stats()` loads them without
/// it. Each figure is exact; two figures may come from consecutive sections (a reader between the
/// writer's stores), which stats can live with.
final class PublishedCowFigures: Sendable {
    private let pageSize = Atomic<Int>(0)
    private let pageCount = Atomic<UInt64>(0)
    private let usedPages = Atomic<UInt64>(0)
    private let freePages = Atomic<UInt64>(0)
    private let dirtyPages = Atomic<Int>(0)
    private let pinnedPages = Atomic<Int>(0)
    private let retiredPages = Atomic<Int>(0)
    private let pagesWritten = Atomic<UInt64>(0)
    private let commits = Atomic<UInt64>(0)
    private let checkpoints = Atomic<UInt64>(0)
    private let checkpointNanos = Atomic<UInt64>(0)
    private let checkpointWaitNanos = Atomic<UInt64>(0)
    private let checkpointInFlight = Atomic<Bool>(false)
    private let walLiveBytes = Atomic<Int64>(0)
    private let walSegments = Atomic<Int>(0)
    private let walSegmentsCreatedByWriter = Atomic<UInt64>(0)
    private let snapshots = Atomic<Int>(0)

    func store(_ f: CowFigures) {
        pageSize.store(f.pageSize, ordering: .relaxed)
        pageCount.store(f.pageCount, ordering: .relaxed)
        usedPages.store(f.usedPages, ordering: .relaxed)
        freePages.store(f.freePages, ordering: .relaxed)
        dirtyPages.store(f.dirtyPages, ordering: .relaxed)
        pinnedPages.store(f.pinnedPages, ordering: .relaxed)
        retiredPages.store(f.retiredPages, ordering: .relaxed)
        pagesWritten.store(f.pagesWritten, ordering: .relaxed)
        commits.store(f.commits, ordering: .relaxed)
        checkpoints.store(f.checkpoints, ordering: .relaxed)
        checkpointNanos.store(f.checkpointNanos, ordering: .relaxed)
        checkpointWaitNanos.store(f.checkpointWaitNanos, ordering: .relaxed)
        checkpointInFlight.store(f.checkpointInFlight, ordering: .relaxed)
        walLiveBytes.store(f.walLiveBytes, ordering: .relaxed)
        walSegments.store(f.walSegments, ordering: .relaxed)
        walSegmentsCreatedByWriter.store(f.walSegmentsCreatedByWriter, ordering: .relaxed)
        snapshots.store(f.snapshots, ordering: .relaxed)
    }

    func load() -> CowFigures {
        CowFigures(
            pageSize: pageSize.load(ordering: .relaxed),
            pageCount: pageCount.load(ordering: .relaxed),
            usedPages: usedPages.load(ordering: .relaxed),
            freePages: freePages.load(ordering: .relaxed),
            dirtyPages: dirtyPages.load(ordering: .relaxed),
            pinnedPages: pinnedPages.load(ordering: .relaxed),
            retiredPages: retiredPages.load(ordering: .relaxed),
            pagesWritten: pagesWritten.load(ordering: .relaxed),
            commits: commits.load(ordering: .relaxed),
            checkpoints: checkpoints.load(ordering: .relaxed),
            checkpointNanos: checkpointNanos.load(ordering: .relaxed),
            checkpointWaitNanos: checkpointWaitNanos.load(ordering: .relaxed),
            checkpointInFlight: checkpointInFlight.load(ordering: .relaxed),
            walLiveBytes: walLiveBytes.load(ordering: .relaxed),
            walSegments: walSegments.load(ordering: .relaxed),
            walSegmentsCreatedByWriter: walSegmentsCreatedByWriter.load(ordering: .relaxed),
            snapshots: snapshots.load(ordering: .relaxed))
    }
}

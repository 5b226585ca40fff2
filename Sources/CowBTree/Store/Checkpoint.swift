import OrbitCore

/// One checkpoint, frozen by the writer (`prepareCheckpoint`) and written by whoever runs it (the
/// background thread, or the writer itself for synchronous checkpoints): everything it needs is
/// here, so writing it touches no writer state.
final class CheckpointJob: @unchecked Sendable {
    let txid: UInt64
    let sync: Bool
    /// The pages allocated since the previous checkpoint, as they were at the freeze; immutable
    /// from then on (the writer copies them before any change, under new page numbers).
    let dirty: [UInt64: Dirty]
    let freeList: [UInt64]
    let freeListPages: [UInt64]
    let snapshots: [SnapshotRecord]?
    let snapshotListPages: [UInt64]
    let meta: MetaPage
    let slot: Int
    /// Pages the durable meta page references and the new one does not: free once it is durable
    /// (and no reader older than the transaction that freed each is left).
    let pending: [FreedPage]
    let started: UInt64
    /// `none` mode: syncs the header of the WAL segment the meta page names (and the directory
    /// entry), which no commit synced, before the meta page is written — a durable meta page never
    /// names a segment whose header could be lost (cow-wal.md, "Which segments must exist").
    /// nil in the syncing modes: a segment's header is synced when it is started.
    var syncNamedSegment: (@Sendable () throws -> Void)? = nil
    // Results, read by the writer after the job has finished.
    var written = 0
    var error: (any Error)?

    init(txid: UInt64, sync: Bool, dirty: [UInt64: Dirty], freeList: [UInt64], freeListPages: [UInt64],
         snapshots: [SnapshotRecord]?, snapshotListPages: [UInt64], meta: MetaPage, slot: Int, pending: [FreedPage], started: UInt64) {
        self.txid = txid; self.sync = sync; self.dirty = dirty; self.freeList = freeList; self.freeListPages = freeListPages
        self.snapshots = snapshots; self.snapshotListPages = snapshotListPages; self.meta = meta; self.slot = slot
        self.pending = pending; self.started = started
    }
}

extension CowBTree {
    /// Writes every change since the last checkpoint to the page file and recycles the WAL segments
    /// it covers; syncs unless the durability mode is `none`. Waits for a background checkpoint in
    /// flight first.
    public func checkpoint() throws {
        try withWriteLock {
            _ = try view()
            try checkWritable("checkpoint")
            do { try checkpointNow(sync: checkpointsSync) } catch { failure = poisoned(error); throw error }
        }
    }

    /// Whether checkpoints sync. In WAL mode always, `none` included: a checkpoint recycles the WAL
    /// segments it covers and frees the pages the previous meta page referenced, so an unsynced one
    /// could lose, at a power loss, commits an earlier `sync()` had made durable (the segments
    /// overwritten, the old tree's pages reused, the new meta page not on disk). They are rare
    /// (every `cow.snapshot_interval` commits or `cow.checkpoint_bytes` of WAL), so this costs little.
    /// Pure copy-on-write (`cow.wal=false`) commits are checkpoints: they sync except under `none`.
    var checkpointsSync: Bool { options.wal || durability != .none }

    /// A synchronous checkpoint on the caller's thread (under `writeLock`): waits for and finishes
    /// the one in flight, then freezes, writes and finishes a new one.
    func checkpointNow(sync: Bool) throws {
        try finishInflightCheckpoint(wait: true)
        let job = try prepareCheckpoint(sync: sync)
        writeCheckpoint(job)
        try finishCheckpoint(job)
        publish()
    }

    /// Starts a checkpoint on the background thread (WAL mode, under `writeLock`). One at a time:
    /// if one is still in flight the writer waits for it first — the backpressure that bounds the
    /// WAL to about two checkpoint intervals.
    func startBackgroundCheckpoint() throws {
        guard let bg = background else { return try checkpointNow(sync: checkpointsSync) }
        try finishInflightCheckpoint(wait: true)
        let job = try prepareCheckpoint(sync: checkpointsSync)
        inflight = job
        inflightTicket = bg.submit { [weak self] in
            guard let self else {
                job.error = OrbitError(.closed, "cow: the engine was released before its background checkpoint ran")
                return
            }
            self.writeCheckpoint(job)
        }
    }

    /// Finishes the background checkpoint in flight if it has completed (or, with `wait`, once it
    /// has). Under `writeLock`. Throws (and the engine is poisoned) if it failed.
    @inline(__always)
    func finishInflightCheckpoint(wait: Bool) throws {
        guard let job = inflight, let bg = background else { return }
        if bg.completed < inflightTicket {
            guard wait else { return }
            let t0 = MonotonicClock.nanoseconds()
            bg.wait(for: inflightTicket)
            checkpointWaitNanos += MonotonicClock.nanoseconds() &- t0
        }
        inflight = nil
        do { try finishCheckpoint(job) } catch { failure = poisoned(error); throw error }
    }

    /// Freezes a checkpoint (under `writeLock`): takes the dirty pages and the pending frees from the
    /// tree (which starts a new epoch: from here on every page it changes is copied to a new number),
    /// lays out the free list and snapshot list, switches the WAL to a new segment so every later
    /// record lands after the checkpoint's, and builds the meta page.
    func prepareCheckpoint(sync: Bool) throws -> CheckpointJob {
        let start = MonotonicClock.nanoseconds()
        let t = tree
        t.txn += 1
        let txid = t.txn
        // The frozen pages are the job's from here on: a new epoch makes the writer copy them.
        t.epoch &+= 1

        // The old free list and snapshot list are referenced by the durable meta: release them
        // (pending until this checkpoint is durable) and lay out new ones.
        for no in freeListPages { t.release(no) }
        freeListPages = []
        let snapshotsChangedNow = snapshotsChanged
        if snapshotsChanged {
            for no in snapshotListPages { t.release(no) }
            snapshotListPages = []
            var bytes = 0, pages = snapshots.isEmpty ? 0 : 1
            for s in snapshots {
                if bytes + s.encodedSize > meta.pageSize - Layout.headerSize { pages += 1; bytes = 0 }
                bytes += s.encodedSize
            }
            for _ in 0..<pages { snapshotListPages.append(t.allocate()) }
        }
        let perPage = (meta.pageSize - Layout.headerSize) / 8
        let needed = (t.free.count + t.pending.count + t.retired.count + perPage - 1) / perPage
        for _ in 0..<needed { freeListPages.append(t.allocate()) }
        // Pages waiting for readers are free on disk: a reopen has no readers.
        var freeList = t.free
        freeList.append(contentsOf: t.pending.lazy.map(\.no))
        freeList.append(contentsOf: t.retired.lazy.map(\.no))

        // The WAL: records after this point go to a segment this checkpoint does not cover.
        var walSeq = walNextSeq
        var walSlot: Int? = nil
        var namedFile: FS.File? = nil
        if let cur = walCurrent {
            if cur.end > Int64(WALFormat.segmentHeaderSize) { try startSegment() }
            walSeq = walCurrent!.seq
            walSlot = walCurrent!.slot
            namedFile = walCurrent!.file
        }

        var m = MetaPage(pageSize: meta.pageSize, maxKeysPerNode: options.maxKeysPerNode)
        m.txid = txid
        m.root = t.root?.pageNo ?? 0
        m.height = UInt64(t.height)
        m.pageCount = t.pageCount
        m.freeListPage = freeListPages.first ?? 0
        m.freeCount = UInt64(freeList.count)
        m.snapshotPage = snapshotListPages.first ?? 0
        m.keys = UInt64(t.keys); m.keyBytes = UInt64(t.keyBytes); m.valueBytes = UInt64(t.valueBytes)
        m.checkpoints = checkpointCount + 1
        m.walSeq = walSeq
        m.walSlot = walSlot

        let job = CheckpointJob(txid: txid, sync: sync, dirty: t.dirty, freeList: freeList, freeListPages: freeListPages,
                                snapshots: snapshotsChangedNow ? snapshots : nil, snapshotListPages: snapshotListPages,
                                meta: m, slot: 1 - metaSlot, pending: t.pending, started: start)
        if !walSyncs, sync, let namedFile {
            let fs = self.fs, dir = path
            job.syncNamedSegment = {
                try namedFile.fdatasync()
                try fs.syncDirectory(dir)
            }
        }
        t.dirty = [:]
        t.pending = []
        snapshotsChanged = false
        commitsSinceCheckpoint = 0
        walBytes = 0
        return job
    }

    /// Writes a frozen checkpoint: pages, sync, meta page, sync. Runs on any one thread at a time;
    /// uses only the job, the page file and `ioBuffer`. Records a failure in the job.
    ///
    /// The order is the whole of crash safety (see the type's comment): dirty pages only ever sit at
    /// page numbers the durable meta does not reference (`TreeWriter`'s invariant), so until the new
    /// meta page is on disk the old one still describes an intact tree; the sync between the page
    /// writes and the meta write keeps a meta page from reaching the disk before its pages; the sync
    /// after it makes the checkpoint durable before the WAL segments it covers are recycled.
    func writeCheckpoint(_ job: CheckpointJob) {
        do {
            var written = 0
            try writeDirtyPages(job.dirty, txid: job.txid, written: &written)
            written += try writeFreeList(job.freeList, pages: job.freeListPages, txid: job.txid)
            if let s = job.snapshots { written += try writeSnapshotList(s, pages: job.snapshotListPages, txid: job.txid) }
            // The file spans the meta page's page count (a page allocated and freed before it was
            // written leaves a hole at the end otherwise): open takes a shorter file for a
            // truncated one and verifies it whole.
            let end = Int64(job.meta.pageCount) * Int64(tree.pageSize)
            if try dataFile.size() < end { try dataFile.truncate(to: end) }
            try fs.crashPoint("cow.checkpoint.after-page-writes")
            if job.sync { try dataFile.fdatasync() }
            try fs.crashPoint("cow.checkpoint.after-page-sync")
            if let s = job.syncNamedSegment { try s() }
            try job.meta.encode().withUnsafeBytes { try dataFile.write($0, at: Int64(job.slot) * Int64(tree.pageSize)) }
            try fs.crashPoint("cow.checkpoint.after-meta-write")
            if job.sync { try dataFile.fdatasync() }
            try fs.crashPoint("cow.checkpoint.after-meta-sync")
            job.written = written
        } catch {
            job.error = error
        }
    }

    /// Completes a written checkpoint (under `writeLock`): its meta page is the durable one now, the
    /// pages it no longer references are free, and the WAL segments it covers become spares.
    func finishCheckpoint(_ job: CheckpointJob) throws {
        if let e = job.error { throw e }
        try fs.crashPoint("cow.checkpoint.before-wal-recycle")
        meta = job.meta
        metaSlot = job.slot
        // What it wrote is clean: found by number through the cache from here on (copies drop
        // their links to it), so it stops being pinned in memory.
        cache.maxTxid.store(job.txid, ordering: .relaxed)
        cache.pageCount.store(job.meta.pageCount, ordering: .relaxed)
        for d in job.dirty.values {
            switch d {
            case .page(let p): p.clean = true
            case .overflow(let ov, _): ov.clean = true
            }
        }
        // The root itself, if nothing changed it since the freeze, becomes an unlinked copy (pages
        // the writer made have owner >= 1; copies and pages read from disk, 0).
        if let r = tree.root, r.clean, r.owner != 0 { tree.root = r.unlinkedCopy() }
        for (name, r) in snapshotRoots where r.clean && r.owner != 0 { snapshotRoots[name] = r.unlinkedCopy() }
        tree.retired.append(contentsOf: job.pending)
        tree.promote(oldest: readers.oldest())
        checkpointCount += 1
        pagesWritten += UInt64(job.written)
        checkpointNanos += MonotonicClock.nanoseconds() &- job.started
        recycleSegments(below: job.meta.walSeq)
    }

    /// Writes the dirty tree and overflow pages in page order, coalescing runs of adjacent pages.
    private func writeDirtyPages(_ dirty: [UInt64: Dirty], txid: UInt64, written: inout Int) throws {
        let size = tree.pageSize
        let numbers = dirty.keys.sorted()
        var runStart: UInt64 = 0
        var runLength = 0
        func flush() throws {
            guard runLength > 0 else { return }
            try dataFile.write(UnsafeRawBufferPointer(start: ioBuffer, count: runLength * size), at: Int64(runStart) * Int64(size))
            written += runLength
            runLength = 0
        }
        for no in numbers {
            if runLength > 0 && (no != runStart + UInt64(runLength) || runLength == Self.ioBufferPages) { try flush() }
            if runLength == 0 { runStart = no }
            let dst = ioBuffer + runLength * size
            switch dirty[no]! {
            case .page(let p):
                // Sealed in the buffer, not in the page: readers and the writer share the page.
                dst.copyMemory(from: p.bytes, byteCount: size)
                dst.setU64(Layout.txidOffset, txid)
                Page.sealChecksum(dst, size)
            case .overflow(let ov, let index):
                fillOverflowPage(dst, ov, index, txid: txid)
            }
            runLength += 1
        }
        try flush()
    }

    private func fillOverflowPage(_ dst: UnsafeMutableRawPointer, _ ov: OverflowValue, _ index: Int, txid: UInt64) {
        let size = tree.pageSize
        let per = size - Layout.overflowPayloadOffset
        let from = index * per
        let n = min(per, ov.bytes.count - from)
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        dst.storeBytes(of: PageType.overflow.rawValue, toByteOffset: Layout.typeOffset, as: UInt8.self)
        dst.setU16(Layout.countOffset, n)
        dst.setU64(Layout.pageNoOffset, ov.pages[index])
        dst.setU64(Layout.txidOffset, txid)
        dst.setU64(Layout.nextOffset, index + 1 < ov.pages.count ? ov.pages[index + 1] : 0)
        if n > 0 { ov.bytes.withUnsafeBytes { (dst + Layout.overflowPayloadOffset).copyMemory(from: $0.baseAddress! + from, byteCount: n) } }
        Page.sealChecksum(dst, size)
    }

    private func writeChainPage(_ type: PageType, _ no: UInt64, next: UInt64, count: Int, txid: UInt64,
                                _ fill: (UnsafeMutableRawPointer) -> Void) throws {
        let size = tree.pageSize
        let dst = ioBuffer
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        dst.storeBytes(of: type.rawValue, toByteOffset: Layout.typeOffset, as: UInt8.self)
        dst.setU16(Layout.countOffset, count)
        dst.setU64(Layout.pageNoOffset, no)
        dst.setU64(Layout.txidOffset, txid)
        dst.setU64(Layout.nextOffset, next)
        fill(dst)
        Page.sealChecksum(dst, size)
        try dataFile.write(UnsafeRawBufferPointer(start: dst, count: size), at: Int64(no) * Int64(size))
    }

    private func writeFreeList(_ entries: [UInt64], pages freeListPages: [UInt64], txid: UInt64) throws -> Int {
        let perPage = (tree.pageSize - Layout.headerSize) / 8
        for (i, no) in freeListPages.enumerated() {
            let from = i * perPage
            let n = max(0, min(perPage, entries.count - from))
            try writeChainPage(.freeList, no, next: i + 1 < freeListPages.count ? freeListPages[i + 1] : 0, count: n, txid: txid) { dst in
                for j in 0..<n { dst.setU64(Layout.headerSize + j * 8, entries[from + j]) }
            }
        }
        return freeListPages.count
    }

    private func writeSnapshotList(_ snapshots: [SnapshotRecord], pages snapshotListPages: [UInt64], txid: UInt64) throws -> Int {
        var pages: [[UInt8]] = []
        var counts: [Int] = []
        var current: [UInt8] = []
        var count = 0
        for s in snapshots {
            if current.count + s.encodedSize > tree.pageSize - Layout.headerSize {
                pages.append(current); counts.append(count); current = []; count = 0
            }
            s.encode(into: &current)
            count += 1
        }
        if count > 0 { pages.append(current); counts.append(count) }
        precondition(pages.count == snapshotListPages.count, "snapshot list page count")
        for (i, no) in snapshotListPages.enumerated() {
            let next = i + 1 < snapshotListPages.count ? snapshotListPages[i + 1] : 0
            try writeChainPage(.snapshotList, no, next: next, count: counts[i], txid: txid) { dst in
                pages[i].withUnsafeBytes { (dst + Layout.headerSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
        return snapshotListPages.count
    }
}

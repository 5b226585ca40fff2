import OrbitCore

extension CowBTree {
    /// Writes every change since the last checkpoint to the page file and trims the WAL (WAL
    /// mode); syncs unless the durability mode is `none`.
    public func checkpoint() throws {
        try writeLock.withLock { _ in
            _ = try view()
            if let failure { throw failure }
            do { try checkpoint(sync: durability != .none) } catch { failure = poisoned(error); throw error }
        }
    }

    /// Writes every dirty page, the free list and (when changed) the snapshot list, then the meta
    /// page that is not the durable one, and trims the WAL. Under `writeLock`.
    ///
    /// The order is the whole of crash safety (see the type's comment): dirty pages only ever sit at
    /// page numbers the durable meta does not reference (`TreeWriter`'s invariant), so until the new
    /// meta page is on disk the old one still describes an intact tree; the sync between the page
    /// writes and the meta write keeps a meta page from reaching the disk before its pages; the sync
    /// after it makes the commit durable before the WAL records it covers are trimmed.
    func checkpoint(sync: Bool) throws {
        let start = MonotonicClock.nanoseconds()
        let t = tree
        t.txn += 1
        let txid = t.txn

        // The old free list and snapshot list are referenced by the durable meta: release them
        // (pending until this checkpoint is durable) and write new ones.
        for no in freeListPages { t.release(no) }
        freeListPages = []
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
        let needed = (t.free.count + t.pending.count + perPage - 1) / perPage
        for _ in 0..<needed { freeListPages.append(t.allocate()) }
        var freeList = t.free
        freeList.append(contentsOf: t.pending)

        // 1. Pages.
        var written = 0
        try writeDirtyPages(txid: txid, written: &written)
        written += try writeFreeList(freeList, txid: txid)
        if snapshotsChanged { written += try writeSnapshotList(txid: txid) }
        try fs.crashPoint("cow.checkpoint.after-page-writes")
        if sync { try dataFile.fdatasync() }
        try fs.crashPoint("cow.checkpoint.after-page-sync")

        // 2. Meta.
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
        let slot = 1 - metaSlot
        try m.encode().withUnsafeBytes { try dataFile.write($0, at: Int64(slot) * Int64(meta.pageSize)) }
        try fs.crashPoint("cow.checkpoint.after-meta-write")
        if sync { try dataFile.fdatasync() }
        try fs.crashPoint("cow.checkpoint.after-meta-sync")
        meta = m
        metaSlot = slot
        snapshotsChanged = false

        // 3. The durable meta no longer references the pending pages: they are free now.
        t.free.append(contentsOf: t.pending)
        t.pending.removeAll(keepingCapacity: true)
        t.dirty.removeAll(keepingCapacity: true)
        checkpointCount += 1
        pagesWritten += UInt64(written)

        // 4. The WAL's records are all in the pages now.
        if let wal = walFile, walBytes > 0 || !options.wal {
            try fs.crashPoint("cow.checkpoint.before-wal-trim")
            if try wal.size() > Int64(WALFormat.headerSize) {
                try wal.truncate(to: Int64(WALFormat.headerSize))
                if sync { try wal.fdatasync() }
            }
            walBytes = 0
            walSyncedLSN.store(walWrittenLSN.load(ordering: .acquiring), ordering: .releasing)
        }
        commitsSinceCheckpoint = 0
        checkpointNanos += MonotonicClock.nanoseconds() &- start
        publish()
    }

    /// Writes the dirty tree and overflow pages in page order, coalescing runs of adjacent pages.
    private func writeDirtyPages(txid: UInt64, written: inout Int) throws {
        let size = meta.pageSize
        let numbers = tree.dirty.keys.sorted()
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
            switch tree.dirty[no]! {
            case .page(let p):
                p.seal(txid: txid)
                dst.copyMemory(from: p.bytes, byteCount: size)
            case .overflow(let ov, let index):
                fillOverflowPage(dst, ov, index, txid: txid)
            }
            runLength += 1
        }
        try flush()
    }

    private func fillOverflowPage(_ dst: UnsafeMutableRawPointer, _ ov: OverflowValue, _ index: Int, txid: UInt64) {
        let size = meta.pageSize
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
        let size = meta.pageSize
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

    private func writeFreeList(_ entries: [UInt64], txid: UInt64) throws -> Int {
        let perPage = (meta.pageSize - Layout.headerSize) / 8
        for (i, no) in freeListPages.enumerated() {
            let from = i * perPage
            let n = max(0, min(perPage, entries.count - from))
            try writeChainPage(.freeList, no, next: i + 1 < freeListPages.count ? freeListPages[i + 1] : 0, count: n, txid: txid) { dst in
                for j in 0..<n { dst.setU64(Layout.headerSize + j * 8, entries[from + j]) }
            }
        }
        return freeListPages.count
    }

    private func writeSnapshotList(txid: UInt64) throws -> Int {
        var pages: [[UInt8]] = []
        var counts: [Int] = []
        var current: [UInt8] = []
        var count = 0
        for s in snapshots {
            if current.count + s.encodedSize > meta.pageSize - Layout.headerSize {
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

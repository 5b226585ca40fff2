import OrbitCore

/// One WAL segment file, `cow.wal.<slot>` (docs/formats/cow-wal.md).
///
/// A segment is *current* (the writer appends to it), *live* (older than the current one, holding
/// records the durable meta page does not cover yet) or a *spare* (every record in it is covered:
/// its bytes are stale and it waits to be reused under a new sequence number).
final class WALSegment<File: FileHandleProtocol>: @unchecked Sendable {
    let file: File
    let slot: Int
    /// The sequence number it was last started with (0: never used since it was found or made).
    var seq: UInt64 = 0
    /// Where the next record goes.
    var end: Int64 = Int64(WALFormat.segmentHeaderSize)
    /// Bytes known to be written (pre-zeroed and synced in the syncing modes) from offset 0.
    var preparedSize: Int64
    /// Whether `preparedSize` has been made durable (a segment found at open is fsynced once).
    var prepared: Bool

    init(file: File, slot: Int, preparedSize: Int64, prepared: Bool) {
        self.file = file; self.slot = slot; self.preparedSize = preparedSize; self.prepared = prepared
    }
}

extension CowBTree {
    static var segmentPrefix: String { "cow.wal." }
    static func segmentName(_ slot: Int) -> String { segmentPrefix + String(slot) }

    /// Whether commits sync the WAL (so segments are pre-zeroed and synced before use: an fdatasync
    /// then writes only data blocks, never the file's size or extents).
    var walSyncs: Bool { durability != .none }

    // MARK: Open and replay

    /// Replays the WAL on top of the loaded meta page: first a version-1 `cow.wal` left by an older
    /// build, then the segments from `meta.walSeq` on, in sequence order. Ends with a synced
    /// checkpoint when anything was replayed (or a lost tail cut the log short, or the old file was
    /// found), so that afterwards every segment is a spare and the log starts afresh.
    ///
    /// Nothing is written, truncated or removed until every check has passed (the store is known
    /// sound). A read-only open stops there: the replayed state lives in memory only.
    ///
    /// How strictly a damaged record or a gap is judged depends on the mode the segment was
    /// *written* under (its header, version 3), not the mode of this open: a lost unsynced tail of a
    /// `none` writer is legitimate, while a syncing writer's durable records make everything before
    /// them durable. Version-2 segments (no mode) are judged by this open's mode, as before.
    func openWAL() throws {
        var needsCheckpoint = false
        var replayed = 0
        let legacyPath = joinPath(path, Self.walFileName)
        let legacy = try fs.exists(legacyPath)
        if legacy {
            let bytes = try fs.readFile(legacyPath)
            replayed += try replay(bytes, WALFormat.legacyRecords(bytes, path: legacyPath), path: legacyPath)
            needsCheckpoint = true
        }

        var used: [(WALSegment<FS.File>, WALFormat.SegmentHeader)] = []
        var found: [WALSegment<FS.File>] = []
        var maxSlot = -1
        var maxSeq = meta.walSeq
        var damagedHeaders: [WALSegment<FS.File>] = []
        var writerModes: Set<WALFormat.WriterMode> = []
        defer { if readOnly { for s in found { try? s.file.close() } } }
        for name in try fs.list(directory: path) where Self.isCowFileName(name) && name.hasPrefix(Self.segmentPrefix) {
            guard let slot = Int(name.dropFirst(Self.segmentPrefix.count)), slot >= 0 else { continue }
            let file = try fs.open(joinPath(path, name), readOnly ? .read : .readWrite)
            let seg = WALSegment(file: file, slot: slot, preparedSize: 0, prepared: !walSyncs)
            found.append(seg)
            seg.preparedSize = try file.size()
            maxSlot = max(maxSlot, slot)
            let header = try file.read(count: WALFormat.segmentHeaderSize, at: 0)
            if case .segment(let h) = try WALFormat.decodeHeader(header, path: file.path) {
                seg.seq = h.seq
                maxSeq = max(maxSeq, h.seq)
                if h.seq >= meta.walSeq { used.append((seg, h)) }
                if h.mode != .unknown { writerModes.insert(h.mode) }
            } else if header.count == WALFormat.segmentHeaderSize, !header.allSatisfy({ $0 == 0 }) {
                damagedHeaders.append(seg)
            }
        }
        // A damaged header makes a segment look like a spare. When its writer synced, the header
        // reached the disk with its first record's sync, so a good record newer than the meta page
        // after it means the header was durable: it is corrupt, not torn. (Its own mode is in the
        // damaged bytes: the other segments' writer mode stands in, else this open's.)
        let sessionSyncs = writerModes.isEmpty ? walSyncs : !writerModes.contains(.none)
        if sessionSyncs {
            for seg in damagedHeaders {
                let first = try seg.file.read(count: 1 << 16, at: Int64(WALFormat.segmentHeaderSize))
                let txid = meta.txid
                if first.withUnsafeBytes({ WALFormat.validRecord($0, at: 0, seq: nil, above: txid) }) != nil {
                    throw OrbitError(.corruption, "WAL segment header is damaged, but a record newer than the meta page follows it",
                                     at: "\(seg.file.path) @ offset 0",
                                     hint: "the store is damaged; restore it from a copy")
                }
            }
        }
        walSpares.withLock { $0.nextSlot = maxSlot + 1 }
        used.sort { $0.1.seq < $1.1.seq }

        // Every record up to `seen` is accounted for (in the pages or replayed). A segment whose
        // previous txid is past it follows a lost tail: it and everything after it are orphans.
        //
        // In the syncing modes a record that is durable makes everything logged before it durable
        // (every-write syncs each record before the next is written; group and periodic sync a
        // segment before the next one gets records), so a damaged record followed by good ones, or
        // a segment after a gap, is corruption there, not a lost tail: reported, not skipped.
        var seen = tree.txn
        let logs = try used.map { (seg, h) -> ([UInt8], [WALFormat.Record]) in
            let bytes = try fs.readFile(seg.file.path)
            return (bytes, WALFormat.records(segment: bytes, seq: h.seq))
        }
        for (i, (seg, h)) in used.enumerated() {
            let (bytes, records) = logs[i]
            let laterHasRecords = logs[(i + 1)...].contains { !$0.1.isEmpty }
            let syncs = h.mode == .unknown ? walSyncs : h.mode != .none
            let everyWrite = h.mode == .unknown ? durability == .everyWrite : h.mode == .everyWrite
            guard h.prevTxid <= seen else {
                if syncs && !records.isEmpty {
                    let previous = i > 0 ? used[i - 1].0.file.path : seg.file.path
                    throw OrbitError(.corruption,
                                     "WAL segment \(seg.file.path) starts after txid \(h.prevTxid), but the log before it ends at txid \(seen): "
                                     + "records in between are damaged or missing",
                                     at: "\(previous) @ offset \(i > 0 ? (logs[i - 1].1.last?.end ?? WALFormat.segmentHeaderSize) : 0)",
                                     hint: "the store is damaged; restore it from a copy")
                }
                needsCheckpoint = true
                break
            }
            if syncs && (everyWrite || laterHasRecords) {
                let end = records.last?.end ?? WALFormat.segmentHeaderSize
                if let next = WALFormat.recordAfter(bytes, end: end, seq: h.seq, lastTxid: records.last?.txid ?? 0) {
                    throw OrbitError(.corruption, "damaged WAL record: the log stops here, but a good record follows at offset \(next)",
                                     at: "\(seg.file.path) @ offset \(end)",
                                     hint: "the store is damaged; restore it from a copy")
                }
            }
            replayed += try replay(bytes, records, path: seg.file.path)
            if let last = records.last { seen = max(seen, last.txid) }
        }
        // Before anything is written: a fallback past a durable checkpoint is corruption.
        try checkDamagedMeta(reached: tree.txn)
        if replayed > 0 { needsCheckpoint = true }
        walNextSeq = maxSeq + 1
        lastLoggedTxid = tree.txn
        commitsSinceCheckpoint = 0
        walBytes = 0
        publish()
        // The store is known sound from here on. A read-only open writes nothing: the replayed
        // commits stay in memory, the segments as they are.
        if readOnly { return }
        if needsCheckpoint {
            try checkpointNow(sync: true)
        }
        // Nothing in the found segments is needed any more: they are all spares. Their bytes are
        // cut off, durably, before reuse: a crash may have lost a segment's header while records
        // after it survived, and the sequence number in that lost header is not known here — a
        // later lap could be given the same number and replay those stale records as its own
        // (found by the power-loss sweep: an unacknowledged write of an earlier cycle came back).
        for seg in found {
            try seg.file.truncate(to: 0)
            try seg.file.fsync()
            seg.seq = 0
            seg.preparedSize = 0
            seg.prepared = !walSyncs
        }
        walSpares.withLock { $0.spares.append(contentsOf: found) }
        trimSpares()
        if legacy {
            try fs.remove(legacyPath)
            try fs.syncDirectory(path)
        }
        if options.wal { try startSegment() }
    }

    /// Applies the records newer than the tree's txid; returns how many.
    /// A record is checked whole before any of it is applied (a checksum-valid record with a bad
    /// operation is corruption naming its offset, never a trap in the tree).
    private func replay(_ bytes: [UInt8], _ records: [WALFormat.Record], path file: String) throws -> Int {
        var n = 0
        let maxKey = tree.maxKeySize
        try bytes.withUnsafeBytes { raw in
            for r in records where r.txid > tree.txn {
                let payload = UnsafeRawBufferPointer(rebasing: raw[r.payload])
                let at = "\(file) @ offset \(r.payload.lowerBound - WALFormat.recordHeaderSize)"
                try WALFormat.forEachOperation(payload, at: at) { put, k, _ in
                    if put && k.count > maxKey {
                        throw OrbitError(.corruption, "WAL record txid \(r.txid) puts a key of \(k.count) bytes, longer than a page allows (\(maxKey))",
                                         at: at, hint: "the store is damaged; restore it from a copy")
                    }
                }
                tree.txn = r.txid
                try WALFormat.forEachOperation(payload, at: at) { put, k, v in
                    if put { tree.put(k, v) } else { tree.delete(k) }
                }
                n += 1
            }
        }
        return n
    }

    // MARK: Segments

    /// Makes `seg` ready for in-place use: in the syncing modes its first `cow.wal_segment_size`
    /// bytes are really written (zeros) and fsynced, so no later fdatasync changes its size or extents.
    func prepare(_ seg: WALSegment<FS.File>) throws {
        guard walSyncs else { seg.prepared = true; return }
        let target = Int64(options.walSegmentSize)
        if seg.preparedSize < target {
            let chunk = [UInt8](repeating: 0, count: 1 << 20)
            var o = seg.preparedSize
            try chunk.withUnsafeBytes { z in
                while o < target {
                    let n = Int(min(Int64(z.count), target - o))
                    try seg.file.write(UnsafeRawBufferPointer(rebasing: z[0..<n]), at: o)
                    o += Int64(n)
                }
            }
            seg.preparedSize = target
            seg.prepared = false
        }
        if !seg.prepared {
            try seg.file.fsync()
            seg.prepared = true
        }
    }

    /// A new, prepared segment file in the next free slot (its directory entry synced in the syncing
    /// modes).
    func createSegment() throws -> WALSegment<FS.File> {
        let slot = walSpares.withLock { s in defer { s.nextSlot += 1 }; return s.nextSlot }
        let file = try fs.open(joinPath(path, Self.segmentName(slot)), .create)
        let seg = WALSegment(file: file, slot: slot, preparedSize: 0, prepared: false)
        do {
            try file.truncate(to: 0)
            try prepare(seg)
            // Its name must survive a power loss before a synced record in it is acknowledged.
            if walSyncs { try fs.syncDirectory(path) }
        } catch {
            try? file.close()
            throw error
        }
        return seg
    }

    /// Background: makes one spare ahead of need, so the writer rarely waits for a segment.
    func prepareSpareInBackground() {
        guard walSpares.withLock({ $0.spares.isEmpty }) else { return }
        guard let seg = try? createSegment() else { return }   // the writer will try again and report
        walSpares.withLock { $0.spares.append(seg) }
    }

    /// Starts the next segment: a spare (recycled in place) or a new file. The previous current one
    /// becomes live. In `group` and `periodic` mode the previous segment is synced first, so no record
    /// of the new one can be durable while an older one is not.
    func startSegment() throws {
        let seg: WALSegment<FS.File>
        if let spare = walSpares.withLock({ $0.spares.popLast() }) {
            do { try prepare(spare) } catch {
                walSpares.withLock { $0.spares.append(spare) }
                throw error
            }
            seg = spare
        } else {
            seg = try createSegment()
            walSegmentsCreatedByWriter += 1
        }
        seg.seq = walNextSeq
        walNextSeq += 1
        let header = WALFormat.segmentHeader(.init(seq: seg.seq, prevTxid: lastLoggedTxid, mode: WALFormat.WriterMode(durability)))
        try seg.file.write(header, at: 0)
        seg.end = Int64(WALFormat.segmentHeaderSize)
        try fs.crashPoint("cow.wal.after-segment-header")
        let previous = walCurrent
        try syncLock.withLock { _ in
            if let previous, durability == .group || durability.isPeriodic {
                // A failure is sticky (fsyncgate): the old fd's error is consumed, so a waiter that
                // re-synced it would get 0 and be acknowledged over dropped pages.
                if let f = walSyncFailure.withLock({ $0 }) { throw f }
                do { try previous.file.fdatasync() } catch {
                    failWALSync(error)
                    throw error
                }
                // Under `writeLock`: every record written so far has its version queued.
                let written = walWrittenLSN.load(ordering: .acquiring)
                if durability == .group { publishPending(upTo: written) }
                walSyncedLSN.store(written, ordering: .releasing)
            }
            walSyncFile = seg.file
        }
        if let previous { walLive.append(previous) }
        walCurrent = seg
        if walSyncs, let bg = background, walSpares.withLock({ $0.spares.isEmpty }) {
            bg.submit { [weak self] in self?.prepareSpareInBackground() }
        }
    }

    /// After a durable checkpoint: the live segments it covers become spares.
    func recycleSegments(below seq: UInt64) {
        var keep: [WALSegment<FS.File>] = []
        var freed: [WALSegment<FS.File>] = []
        for s in walLive { if s.seq < seq { freed.append(s) } else { keep.append(s) } }
        guard !freed.isEmpty else { return }
        walLive = keep
        walSpares.withLock { $0.spares.append(contentsOf: freed) }
        trimSpares()
    }

    /// Keeps at most enough spares for one checkpoint interval of WAL (plus two); removes the rest.
    func trimSpares() {
        let cap = max(2, options.checkpointBytes / options.walSegmentSize + 2)
        let extra: [WALSegment<FS.File>] = walSpares.withLock { s in
            guard s.spares.count > cap else { return [] }
            let e = Array(s.spares[cap...])
            s.spares.removeSubrange(cap...)
            return e
        }
        for seg in extra {
            try? seg.file.close()
            try? fs.remove(seg.file.path)
        }
    }

    /// Bytes of WAL the current and live segments hold.
    var walLiveBytes: Int64 {
        walLive.reduce(walCurrent.map { $0.end - Int64(WALFormat.segmentHeaderSize) } ?? 0) { $0 + $1.end - Int64(WALFormat.segmentHeaderSize) }
    }

    func closeSegments() {
        for s in walLive { try? s.file.close() }
        walLive = []
        try? walCurrent?.file.close()
        walCurrent = nil
        let spares = walSpares.withLock { s in defer { s.spares = [] }; return s.spares }
        for s in spares { try? s.file.close() }
    }
}

/// The spare segments and the next free file slot, shared between the writer and the background
/// thread that prepares spares.
struct SpareSegments<File: FileHandleProtocol> {
    var spares: [WALSegment<File>] = []
    var nextSlot = 0
}

extension DurabilityMode {
    var isPeriodic: Bool { if case .periodic = self { return true } else { return false } }
}

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

    /// Replays the WAL on top of the loaded meta page: the segments from `meta.walSeq` on, in
    /// sequence order. Ends with a synced checkpoint when anything was replayed (or a lost tail cut
    /// the log short), so that afterwards every segment is a spare and the log starts afresh. A
    /// version-1 `cow.wal` (a single log file, written only by development builds before the
    /// recycled segments) is refused, naming it: its reader was removed (docs/formats/cow-wal.md).
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
        if try fs.exists(legacyPath) {
            throw OrbitError(.unsupported, "\(legacyPath) is a version-1 cow WAL, which only development builds of orbit-bench "
                             + "wrote (this build reads WAL segments cow.wal.<n>, versions 2 to 4)", at: legacyPath,
                             hint: "the store was written by an unreleased build: open it with that build, or use a new data directory")
        }

        var used: [(WALSegment<FS.File>, WALFormat.SegmentHeader)] = []
        var found: [WALSegment<FS.File>] = []
        var maxSlot = -1
        var maxSeq = meta.walSeq
        var damagedHeaders: [WALSegment<FS.File>] = []
        var writerModes: Set<WALFormat.WriterMode> = []
        /// Every found file by slot: its size and what its header says (nil: spare, short or torn).
        var bySlot: [Int: (seg: WALSegment<FS.File>, size: Int64, header: WALFormat.SegmentHeader?)] = [:]
        defer { if readOnly { for s in found { try? s.file.close() } } }
        for name in try fs.list(directory: path) where Self.isCowFileName(name) && name.hasPrefix(Self.segmentPrefix) {
            guard let slot = Int(name.dropFirst(Self.segmentPrefix.count)), slot >= 0 else { continue }
            let file = try fs.open(joinPath(path, name), readOnly ? .read : .readWrite)
            let seg = WALSegment(file: file, slot: slot, preparedSize: 0, prepared: !walSyncs)
            found.append(seg)
            seg.preparedSize = try file.size()
            maxSlot = max(maxSlot, slot)
            let header = try file.read(count: WALFormat.segmentHeaderSize, at: 0)
            bySlot[slot] = (seg, seg.preparedSize, nil)
            if case .segment(let h) = try WALFormat.decodeHeader(header, path: file.path) {
                bySlot[slot]?.header = h
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
        try checkSegmentChain(used: used, logs: logs, bySlot: bySlot)
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
                // every-write writes a switch record only after the segment's last record is synced.
                if everyWrite && h.isV4 && WALFormat.switchRecord(bytes, at: end, seq: h.seq) == nil,
                   let next = WALFormat.switchRecordAfter(bytes, end: end, seq: h.seq) {
                    throw OrbitError(.corruption, "damaged WAL record: the log stops here, but the segment's switch record follows at offset \(next)",
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
        // Before any segment is truncated, no durable meta page may name one of them (it would
        // require a file this open is about to empty): a checkpoint first, naming none.
        if needsCheckpoint || meta.walSlot != nil {
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
        if options.wal {
            try startSegment()
            // A meta page naming the new segment's file (its header is durable): from here on a
            // missing or damaged first segment is detected, not read as a log with nothing in it.
            try checkpointNow(sync: true)
        }
    }

    /// The chain checks (version 4, before anything is replayed or written): every segment the
    /// store's durable state says must exist does, with its own header and at least its pre-sized
    /// length. The evidence:
    /// - the meta page names the file of segment `walSeq` (written only once that header was durable);
    /// - a syncing writer's segment ends with a switch record naming the next segment and its file
    ///   (written only once the next header was durable); a `none` writer's switch records are not
    ///   held against the store: without syncs, a power loss may keep one and lose the header it
    ///   names, and `sync()` promises what it covered survives that;
    /// - a header's size class: a syncing writer pre-sized (and synced) the file before writing it.
    /// Anything else is damage, reported as corruption naming the file.
    func checkSegmentChain(used: [(WALSegment<FS.File>, WALFormat.SegmentHeader)], logs: [([UInt8], [WALFormat.Record])],
                           bySlot: [Int: (seg: WALSegment<FS.File>, size: Int64, header: WALFormat.SegmentHeader?)]) throws {
        func require(slot: Int, seq: UInt64, because why: String) throws {
            let file = joinPath(path, Self.segmentName(slot))
            func damaged(_ what: String) -> OrbitError {
                OrbitError(.corruption, "WAL segment \(file) \(what), but \(why) segment \(seq): the commits logged there are gone",
                           at: "\(file) @ offset 0", hint: "the store is damaged; restore it from a copy")
            }
            guard let found = bySlot[slot] else { throw damaged("is missing") }
            guard let h = found.header else {
                throw damaged(found.size < Int64(WALFormat.segmentHeaderSize)
                              ? "is \(found.size) bytes, shorter than a segment header"
                              : "has no valid header (zeros or a bad checksum)")
            }
            guard h.seq == seq else {
                throw damaged("holds segment \(h.seq)\(h.seq < seq ? " (an earlier generation)" : "")")
            }
        }
        if let slot = meta.walSlot {
            // Names the page file too: an older generation of it names segments that are gone.
            try require(slot: slot, seq: meta.walSeq, because: "the meta page of \(dataFile.path) (txid \(meta.txid)) starts replay at")
        }
        for (i, (seg, h)) in used.enumerated() where h.isV4 {
            if let size = bySlot[seg.slot]?.size, size < h.minimumFileSize {
                throw OrbitError(.corruption, "WAL segment \(seg.file.path) is \(size) bytes, shorter than the \(h.minimumFileSize) bytes "
                                 + "it was pre-allocated with and synced before its first record: the file was truncated",
                                 at: "\(seg.file.path) @ offset \(size)", hint: "the store is damaged; restore it from a copy")
            }
            guard h.mode != .none else { continue }
            let (bytes, records) = logs[i]
            let end = records.last?.end ?? WALFormat.segmentHeaderSize
            if let sw = WALFormat.switchRecord(bytes, at: end, seq: h.seq) {
                guard sw.nextSeq == h.seq + 1 else {
                    throw OrbitError(.corruption, "WAL segment \(seg.file.path) (segment \(h.seq)) ends with a switch to segment \(sw.nextSeq), "
                                     + "not \(h.seq + 1)", at: "\(seg.file.path) @ offset \(end)",
                                     hint: "the store is damaged; restore it from a copy")
                }
                try require(slot: sw.nextSlot, seq: sw.nextSeq,
                            because: "segment \(h.seq) in \(seg.file.path) ends with a switch record naming it as")
            }
        }
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
                    if put { try tree.put(k, v) } else { try tree.delete(k) }
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
    /// becomes live.
    ///
    /// The switch is durable before any record of the new segment is written (version 4), in this
    /// order: the new header is written and, in the syncing modes, synced; then a switch record
    /// naming the new segment (sequence number and slot) is written after the previous segment's
    /// last record, and the previous segment is synced. So a durable switch record always names a
    /// segment whose header is durable (replay refuses a missing one), and no record of the new
    /// segment can be durable while an older one is not. Under `none` nothing is synced (a process
    /// crash keeps every byte written; a power loss may keep the switch record and lose the header,
    /// so replay does not hold a `none` writer's switch records against it).
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
        // `prepare` made `preparedSize` bytes durable (syncing modes): the size class promises it.
        let sizeClass = walSyncs ? WALFormat.sizeClass(preparedSize: seg.preparedSize) : 0
        let header = WALFormat.segmentHeader(.init(seq: seg.seq, prevTxid: lastLoggedTxid, mode: WALFormat.WriterMode(durability),
                                                   sizeClass: sizeClass))
        try seg.file.write(header, at: 0)
        seg.end = Int64(WALFormat.segmentHeaderSize)
        try fs.crashPoint("cow.wal.after-segment-header")
        if walSyncs { try seg.file.fdatasync() }
        let previous = walCurrent
        if let previous {
            let marker = WALFormat.switchRecord(seq: previous.seq, next: seg.seq, nextSlot: seg.slot)
            try previous.file.write(marker, at: previous.end)
        }
        try syncLock.withLock { _ in
            if let previous, walSyncs {
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

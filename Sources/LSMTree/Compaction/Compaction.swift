import OrbitCore

/// A compaction chosen from a version: the input tables of `level` and the overlapping ones of
/// `level + 1`, merged into new tables at `level + 1`.
struct CompactionJob<File: FileHandleProtocol> {
    var level: Int
    var inputs: [TableFile<File>]
    var overlapping: [TableFile<File>]
    var version: Version<File>

    /// Every table the job reads (and removes).
    var fileNumbers: [UInt64] { inputs.map(\.meta.number) + overlapping.map(\.meta.number) }
}

extension LSMTree {
    /// How far over its target each level is: level 0 by table count against
    /// `compaction_threshold`, others by bytes against `levelTarget`. Caller holds `state`.
    func levelScores(_ v: Version<FS.File>) -> [Double] {
        var scores = [Double](repeating: 0, count: v.levels.count)
        scores[0] = Double(v.levels[0].count) / Double(options.compactionThreshold)
        for l in 1..<(v.levels.count - 1) { scores[l] = Double(v.levelBytes(l)) / Double(options.levelTarget(l)) }
        return scores
    }

    /// The compaction to run next, if any level is at or over its target and its tables are free.
    /// Caller holds `state`; nothing is reserved (`compactionLoop` does that).
    ///
    /// Levels are tried by score, highest first. Tables a running compaction holds are skipped, and
    /// when the best level's job is blocked by one, the levels it needs (it and the next) are left
    /// alone by lower-scored jobs, so a level-0 compaction is never starved by a stream of short
    /// level-1 ones: it waits only for the ones already running.
    func pickCompaction() -> CompactionJob<FS.File>? {
        let v = version
        let scores = levelScores(v)
        var reserved = Set<Int>()
        for level in scores.indices.sorted(by: { scores[$0] > scores[$1] }) where scores[level] >= 1 {
            if reserved.contains(level) || reserved.contains(level + 1) { continue }
            if let job = pickJob(v, level) { return job }
            reserved.insert(level); reserved.insert(level + 1)
        }
        return nil
    }

    /// A job out of `level`, or nil when its tables are taken. Caller holds `state`.
    private func pickJob(_ v: Version<FS.File>, _ level: Int) -> CompactionJob<FS.File>? {
        func free(_ f: TableFile<FS.File>) -> Bool { !compactingFiles.contains(f.meta.number) }
        func overlapping(_ inputs: [TableFile<FS.File>]) -> [TableFile<FS.File>] {
            var lo = inputs[0].meta.smallest, hi = inputs[0].meta.largest
            for f in inputs {
                if compareUser(f.meta.smallest, lo) < 0 { lo = f.meta.smallest }
                if compareUser(f.meta.largest, hi) > 0 { hi = f.meta.largest }
            }
            return v.levels[level + 1].filter { compareUser($0.meta.largest, lo) >= 0 && compareUser($0.meta.smallest, hi) <= 0 }
        }
        if level == 0 {
            // Every level-0 table (they overlap one another): one level-0 job at a time.
            let inputs = v.levels[0]
            guard !inputs.isEmpty, inputs.allSatisfy(free) else { return nil }
            let over = overlapping(inputs)
            guard over.allSatisfy(free) else { return nil }
            return CompactionJob(level: 0, inputs: inputs, overlapping: over, version: v)
        }
        // Round-robin through the level's key space, from the table after the last one picked.
        let files = v.levels[level]
        let ptr = compactPointer[level]
        let start = files.firstIndex { ptr.isEmpty || compareInternalArrays($0.meta.largest, ptr) > 0 } ?? 0
        for k in 0..<files.count {
            let f = files[(start + k) % files.count]
            guard free(f) else { continue }
            let over = overlapping([f])
            guard over.allSatisfy(free) else { continue }
            return CompactionJob(level: level, inputs: [f], overlapping: over, version: v)
        }
        return nil
    }

    /// Marks the job's tables taken (and advances the level's round-robin pointer). Caller holds `state`.
    func reserve(_ job: CompactionJob<FS.File>) {
        compactingFiles.formUnion(job.fileNumbers)
        if let last = job.inputs.last, job.level > 0 { compactPointer[job.level] = last.meta.largest }
    }

    /// Frees the job's tables. Caller holds `state`.
    func release(_ job: CompactionJob<FS.File>) {
        compactingFiles.subtract(job.fileNumbers)
    }

    /// Runs a compaction (a compaction thread).
    ///
    /// Order, each step a crash point: output tables written and fdatasynced → directory synced →
    /// manifest edit (inputs removed, outputs added) synced → version installed → input files
    /// removed (those no snapshot keeps). Input files are only removed once the manifest no longer
    /// names them.
    func runCompaction(_ job: CompactionJob<FS.File>) throws {
        let out = job.level + 1
        var edit = VersionEdit()
        for f in job.inputs { edit.deleted.append((job.level, f.meta.number)) }
        for f in job.overlapping { edit.deleted.append((out, f.meta.number)) }
        var opened: [UInt64: TableFile<FS.File>] = [:]
        if job.level > 0 && job.inputs.count == 1 && job.overlapping.isEmpty {
            // Trivial move: the table changes level, no bytes are rewritten.
            let f = job.inputs[0]
            edit.added = [(out, f.meta)]
            opened[f.meta.number] = f
        } else {
            let metas = try mergeSplit(job)
            try fs.crashPoint("lsm.compaction.after-tables-sync")
            try fs.syncDirectory(directory)
            try fs.crashPoint("lsm.compaction.after-directory-sync")
            opened = try open(metas)
            edit.added = metas.map { (out, $0) }
            compactionBytesWritten.wrappingAdd(metas.reduce(0) { $0 + $1.size }, ordering: .relaxed)
            compactionBytesRead.wrappingAdd((job.inputs + job.overlapping).reduce(0) { $0 + $1.meta.size }, ordering: .relaxed)
        }
        try appendToManifest(&edit)
        try fs.crashPoint("lsm.compaction.after-manifest-sync")
        let removeNow: [UInt64] = state.withLock {
            version = version.applying(edit, opened)
            state.broadcast()
            return retire(edit.deleted.map(\.number).filter { !version.contains($0) && !protectedFiles.contains($0) })
        }
        for n in removeNow { try removeTable(n) }
        try fs.crashPoint("lsm.compaction.after-input-remove")
        compactions.wrappingAdd(1, ordering: .relaxed)
    }

    /// Merges the job's tables into new tables of the output level. A level-0 job big enough is
    /// split by user key into `compaction_threads` ranges (subcompactions) merged on as many
    /// threads at once; the outputs, in key order, never overlap: each range holds whole user keys.
    func mergeSplit(_ job: CompactionJob<FS.File>) throws -> [FileMeta] {
        let bounds = job.level == 0 ? Self.splitKeys(job, pieces: options.compactionThreads,
                                                     minPieceBytes: options.targetFileBytes * 2) : []
        if bounds.isEmpty { return try merge(job, from: nil, to: nil) }
        // Piece i covers user keys [bounds[i-1], bounds[i]) (open at both ends of the key space).
        let pieces = bounds.count + 1
        let results = (0..<pieces).map { _ in SubcompactionResult() }
        func runPiece(_ i: Int) {
            let lo = i == 0 ? nil : bounds[i - 1]
            let hi = i == pieces - 1 ? nil : bounds[i]
            do { results[i].metas = try merge(job, from: lo, to: hi) } catch { results[i].error = error }
        }
        var helpers: [OrbitThread] = []
        for i in 1..<pieces {
            // A helper that cannot start: its piece runs on this thread instead.
            if let h = try? OrbitThread(name: "lsm-subcompact", { runPiece(i) }) { helpers.append(h) } else { runPiece(i) }
        }
        runPiece(0)
        for h in helpers { h.join() }
        subcompactions.wrappingAdd(UInt64(pieces), ordering: .relaxed)
        if let e = results.compactMap(\.error).first {
            // Outputs of the pieces that finished are orphans: not in the manifest, removed here
            // (or on the next open).
            for m in results.flatMap(\.metas) { try? fs.remove(tablePath(directory, m.number)) }
            throw e
        }
        return results.flatMap(\.metas)
    }

    /// Writes the merged entries of the job with user keys in [from, to) into output tables.
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    private func merge(_ job: CompactionJob<FS.File>, from: [UInt8]?, to: [UInt8]?) throws -> [FileMeta] {
        let out = job.level + 1
        let newerFirst = job.level == 0 ? Array(job.inputs.reversed()) : job.inputs
        var it = MergingIterator<FS.File>(mems: [], tables: job.level == 0 ? newerFirst.map(\.reader) : [],
                                          levels: job.level == 0 ? [job.overlapping] : [job.inputs, job.overlapping],
                                          fillCache: false)
        if let from {
            var seekKey = from
            putFixed64(&seekKey, packTrailer(maxSequence, .put))
            try seekKey.withUnsafeBytes { try it.seek($0) }
        } else {
            try it.seekToFirst()
        }
        let v = job.version
        let isLast = out == v.levels.count - 1
        return try to.withOptionalUnsafeBytes { end in
            try Self.writeTables(
                fs: fs, directory: directory, numbers: { nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue },
                options: options, it: &it, maxFileBytes: options.targetFileBytes, end: end,
                dropTombstones: { uk in isLast || !v.deeperLevelsMayHold(uk, below: out) })
        }
    }

    /// Up to `pieces - 1` user keys that split a level-0 job into ranges of about equal size, from
    /// the index of its largest level-0 table (the last key of each of its data blocks). None when
    /// the job is too small to be worth splitting.
    static func splitKeys(_ job: CompactionJob<FS.File>, pieces: Int, minPieceBytes: UInt64) -> [[UInt8]] {
        let total = (job.inputs + job.overlapping).reduce(UInt64(0)) { $0 + $1.meta.size }
        let n = min(pieces, Int(total / max(1, minPieceBytes)))
        guard n >= 2, let biggest = job.inputs.max(by: { $0.meta.size < $1.meta.size }) else { return [] }
        var keys: [[UInt8]] = []
        var it = BlockIterator(biggest.reader.index)
        it.seekToFirst()
        while it.valid { keys.append([UInt8](userKey(it.key))); it.next() }
        guard keys.count >= n else { return [] }
        var bounds: [[UInt8]] = []
        for i in 1..<n {
            let k = keys[keys.count * i / n]
            if let last = bounds.last, compareBytes(last, k) >= 0 { continue }
            bounds.append(k)
        }
        return bounds
    }
}

/// What one piece of a split compaction produced: written only by its own thread, read after
/// every thread is joined.
final class SubcompactionResult: @unchecked Sendable {
    var metas: [FileMeta] = []
    var error: (any Error)?
}

extension Optional where Wrapped == [UInt8] {
    /// Calls `body` with the bytes, or nil.
    func withOptionalUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch self {
        case .some(let a): try a.withUnsafeBytes { try body($0) }
        case .none: try body(nil)
        }
    }
}

func compareUser(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(userKey(pa), userKey(pb)) } }
}

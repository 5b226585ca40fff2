import OrbitCore

/// A compaction chosen from a version: the input tables of `level` and the overlapping ones of
/// `level + 1`, merged into new tables at `level + 1`.
struct CompactionJob<File: FileHandleProtocol> {
    var level: Int
    var inputs: [TableFile<File>]
    var overlapping: [TableFile<File>]
    var version: Version<File>
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

    /// The compaction to run next, if any level is at or over its target. Caller holds `state`.
    func pickCompaction() -> CompactionJob<FS.File>? {
        let v = version
        let scores = levelScores(v)
        guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }), scores[best] >= 1 else { return nil }
        var inputs: [TableFile<FS.File>]
        if best == 0 {
            inputs = v.levels[0]
        } else {
            // Round-robin through the level's key space.
            let files = v.levels[best]
            let ptr = compactPointer[best]
            let i = files.firstIndex { ptr.isEmpty || compareInternalArrays($0.meta.largest, ptr) > 0 } ?? 0
            inputs = [files[i]]
        }
        var lo = inputs[0].meta.smallest, hi = inputs[0].meta.largest
        for f in inputs {
            if compareUser(f.meta.smallest, lo) < 0 { lo = f.meta.smallest }
            if compareUser(f.meta.largest, hi) > 0 { hi = f.meta.largest }
        }
        let overlapping = v.levels[best + 1].filter { compareUser($0.meta.largest, lo) >= 0 && compareUser($0.meta.smallest, hi) <= 0 }
        return CompactionJob(level: best, inputs: inputs, overlapping: overlapping, version: v)
    }

    /// Runs a compaction (background thread).
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
            let tables = (job.inputs.reversed() + job.overlapping).map(\.reader)
            var it = MergingIterator<FS.File>(mems: [], tables: tables, levels: [], fillCache: false)
            try it.seekToFirst()
            let v = job.version
            let isLast = out == v.levels.count - 1
            let metas = try Self.writeTables(
                fs: fs, directory: directory, numbers: { nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue },
                options: options, it: &it, maxFileBytes: options.targetFileBytes,
                dropTombstones: { uk in isLast || !v.deeperLevelsMayHold(uk, below: out) })
            try fs.crashPoint("lsm.compaction.after-tables-sync")
            try fs.syncDirectory(directory)
            try fs.crashPoint("lsm.compaction.after-directory-sync")
            opened = try open(metas)
            edit.added = metas.map { (out, $0) }
            compactionBytesWritten.wrappingAdd(metas.reduce(0) { $0 + $1.size }, ordering: .relaxed)
        }
        try appendToManifest(&edit)
        try fs.crashPoint("lsm.compaction.after-manifest-sync")
        let removable: [UInt64] = state.withLock {
            version = version.applying(edit, opened)
            if let lastInput = job.inputs.last { compactPointer[job.level] = lastInput.meta.largest }
            state.broadcast()
            return edit.deleted.map(\.number).filter { !version.contains($0) && !protectedFiles.contains($0) }
        }
        for n in removable {
            cache.evict(file: n)
            try fs.remove(tablePath(directory, n))
        }
        try fs.crashPoint("lsm.compaction.after-input-remove")
        compactions.wrappingAdd(1, ordering: .relaxed)
    }
}

func compareUser(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(userKey(pa), userKey(pb)) } }
}

import OrbitCore

extension LSMTree {
    /// Writes the entries of `source` (newest version of each user key only; tombstones dropped
    /// where `dropTombstones` says this is the last level holding the key) to table `number`.
    /// Returns nil (and removes the file) when nothing was left to write. The file is synced.
    static func writeTable(fs: FS, directory: String, number: UInt64, options: LSMOptions,
                           source: MergingIterator<FS.File>,
                           dropTombstones: (UnsafeRawBufferPointer) -> Bool) throws -> FileMeta? {
        var it = source
        try it.seekToFirst()
        var metas = try writeTables(fs: fs, directory: directory, numbers: { number }, options: options, it: &it,
                                    maxFileBytes: .max, end: nil, dropTombstones: dropTombstones)
        return metas.popLast()
    }

    /// Writes `it` (already positioned), up to the user key `end` (exclusive; nil: to the end), into
    /// one or more tables of at most about `maxFileBytes`.
    static func writeTables(fs: FS, directory: String, numbers: () -> UInt64, options: LSMOptions,
                            it: inout MergingIterator<FS.File>, maxFileBytes: UInt64, end: UnsafeRawBufferPointer?,
                            dropTombstones: (UnsafeRawBufferPointer) -> Bool) throws -> [FileMeta] {
        var out: [FileMeta] = []
        var builder: TableBuilder<FS.File>? = nil
        var number: UInt64 = 0
        let last = KeyBuffer()
        var hasLast = false
        func finish() throws {
            guard let b = builder else { return }
            builder = nil
            if b.entries == 0 {
                try b.file.close()
                try fs.remove(tablePath(directory, number))
                return
            }
            let size = try b.finish()
            try b.file.close()
            out.append(FileMeta(number: number, size: size, entries: b.entries, deletes: b.deletes,
                                rawPutBytes: b.rawPutBytes, smallest: b.smallest, largest: b.largest, rawKeyBytes: b.rawKeyBytes))
        }
        while it.valid {
            let ik = it.key
            let uk = userKey(ik)
            if hasLast && compareBytes(uk, last.bytes) == 0 { try it.next(); continue }  // an older version
            if let end, compareBytes(uk, end) >= 0 { break }
            last.set(uk)
            hasLast = true
            let isDelete = ik[ik.count - trailerSize] == ValueType.delete.rawValue
            if isDelete && dropTombstones(uk) { try it.next(); continue }
            if let b = builder, b.fileSizeEstimate >= maxFileBytes { _ = b; try finish() }
            if builder == nil {
                number = numbers()
                let file = try fs.open(tablePath(directory, number), .truncate)
                builder = TableBuilder(file: file, blockSize: options.blockBytes, bloomBitsPerKey: options.bloomBits,
                                       compress: options.enableCompression)
            }
            try builder!.add(ik, it.value)
            try it.next()
        }
        try finish()
        return out
    }

    /// Opens readers for newly written tables (registered as live, see `retire`).
    func open(_ metas: [FileMeta]) throws -> [UInt64: TableFile<FS.File>] {
        var opened: [UInt64: TableFile<FS.File>] = [:]
        for m in metas {
            let reader = try TableReader(path: tablePath(directory, m.number), number: m.number, size: m.size, cache: cache, tables: tableCache)
            opened[m.number] = TableFile(meta: m, reader: reader)
        }
        state.withLock { for (n, t) in opened { liveTables[n] = WeakTable(t) } }
        return opened
    }

    /// Tables that left the store (no longer in the version nor kept by a snapshot): each one still
    /// held by a version, reader or job is removed when the last holder lets go; the numbers of
    /// the others are returned for the caller to remove now (`removeTable`). Caller holds `state`.
    func retire(_ numbers: [UInt64]) -> [UInt64] {
        var now: [UInt64] = []
        for n in numbers {
            let t = liveTables.removeValue(forKey: n)?.table
            guard let t else { now.append(n); continue }
            let fs = fs, path = tablePath(directory, n), cache = cache, tables = tableCache
            t.retire {
                cache.evict(file: n)
                tables.evict(n)
                do { try fs.remove(path) } catch {
                    // Left for the next open, which removes tables no manifest names.
                    logWarning("lsm: could not remove the obsolete table \(path): \(error)\n")
                }
            }
        }
        if liveTables.count > 64 && liveTables.count > 4 * version.levels.reduce(0, { $0 + $1.count }) {
            liveTables = liveTables.filter { $0.value.table != nil }
        }
        return now
    }

    /// Removes a table no object refers to any more.
    func removeTable(_ n: UInt64) throws {
        cache.evict(file: n)
        tableCache.evict(n)
        try fs.remove(tablePath(directory, n))
    }

    /// Flushes the oldest immutable memtable to a level-0 table (background thread).
    ///
    /// Order, each step a crash point: table written and fdatasynced → directory synced → manifest
    /// edit (add table, advance log number) synced → version installed → old WAL removed. A crash
    /// before the manifest edit leaves an orphan table (removed on open) and the WAL, replayed.
    func flushOldest() throws {
        let (imm, nextLog) = state.withLock { (imms[0], imms.count > 1 ? imms[1].logNumber : mem.logNumber) }
        var metas: [FileMeta] = []
        if !imm.isEmpty {
            let number = nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue
            if let meta = try Self.writeTable(fs: fs, directory: directory, number: number, options: options,
                                              source: MergingIterator(mems: [imm], tables: [], levels: []),
                                              dropTombstones: { _ in false }) {
                metas.append(meta)
            }
            try fs.crashPoint("lsm.flush.after-table-sync")
            try fs.syncDirectory(directory)
            try fs.crashPoint("lsm.flush.after-directory-sync")
        }
        let opened = try open(metas)
        var edit = VersionEdit()
        edit.added = metas.map { (0, $0) }
        edit.logNumber = nextLog
        edit.lastSequence = syncedOrVisibleSequence()
        try appendToManifest(&edit)
        try fs.crashPoint("lsm.flush.after-manifest-sync")
        state.withLock {
            version = version.applying(edit, opened)
            TSan.acquire(address: TSan.address(of: imms))   // readers' copies of the array let go (see `readView`)
            imms.removeFirst()
            state.broadcast()
        }
        try fs.remove(logPath(directory, imm.logNumber))
        try fs.crashPoint("lsm.flush.after-log-remove")
        flushes.wrappingAdd(1, ordering: .relaxed)
        flushBytesWritten.wrappingAdd(metas.reduce(0) { $0 + $1.size }, ordering: .relaxed)
    }

    /// Appends `edit` (with the next file number read under the manifest lock, so edits from the
    /// flush and compaction threads never record it going backwards) and syncs the manifest.
    func appendToManifest(_ edit: inout VersionEdit) throws {
        try manifestLock.withLock {
            edit.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
            try appendEditLocked(edit)
        }
    }

    /// Appends and syncs `edit`, first rolling the manifest when it has grown past
    /// `maxManifestBytes`, and keeps the manifest's own view of the state (what a rolled manifest
    /// starts with: the edits appended, including those whose version is not installed yet).
    /// Caller holds `manifestLock`.
    func appendEditLocked(_ edit: VersionEdit) throws {
        if let manifestFailure { throw manifestFailure }
        if manifest.size >= options.maxManifestBytes { try rollManifest() }
        try manifest.append(edit)
        if let n = edit.logNumber { manifestLogNumber = n }
        manifestLogs.apply(edit)
        if let s = edit.lastSequence { manifestLastSequence = max(manifestLastSequence, s) }
        for d in edit.deleted { manifestFiles[d.number] = nil }
        for a in edit.added { manifestFiles[a.meta.number] = (a.level, a.meta) }
        manifestSize.store(manifest.size, ordering: .relaxed)
    }

    /// Writes a new manifest holding the whole state (one snapshot edit), syncs it, switches
    /// CURRENT to it atomically (write-temp, fsync, rename, directory fsync), then removes the old
    /// one. A failure before CURRENT changes leaves the old manifest in use (the new file is an
    /// orphan, removed at the next open); one after is sticky: CURRENT may name either, so no
    /// edit is written again until the store is reopened. Caller holds `manifestLock`.
    func rollManifest() throws {
        var snapshot = VersionEdit()
        snapshot.logNumber = manifestLogNumber
        snapshot.lastSequence = manifestLastSequence
        manifestLogs.restate(into: &snapshot)
        snapshot.added = manifestFiles.values.sorted { ($0.level, $0.meta.number) < ($1.level, $1.meta.number) }
        let number = nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue
        snapshot.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
        let old = manifest!
        let next: Manifest<FS>
        do {
            next = try Manifest(fs: fs, directory: directory, number: number, snapshot: snapshot)
        } catch {
            let current = (try? fs.readFile(Manifest<FS>.currentPath(directory))).map { String(decoding: $0, as: UTF8.self) }
            if current != Manifest<FS>.name(old.fileNumber) + "\n" {
                let e = (error as? OrbitError) ?? OrbitError(.io, "\(error)")
                manifestFailure = OrbitError(e.code, "a manifest roll failed after CURRENT began to change: \(e.message)",
                                             at: e.location, hint: "close and reopen the store", cause: e.cause)
            }
            throw error
        }
        manifest = next
        old.close()
        try fs.remove(joinPath(directory, Manifest<FS>.name(old.fileNumber)))
        try fs.syncDirectory(directory)
    }

    func syncedOrVisibleSequence() -> UInt64 { visibleSeq.load(ordering: .acquiring) }

    /// The flush thread: turns immutable memtables into level-0 tables, oldest first. It never
    /// waits for a compaction, so writers stall only when level 0 itself is full (`l0StopTrigger`)
    /// or the immutable queue is, not while a long compaction runs.
    ///
    /// Entered from a thread started in the generic `init`, so the runner's specialization of the
    /// engine does not reach it: `@_specialize` gives the real file system a specialized copy
    /// (unspecialized, every iterator step looked up generic metadata: a quarter of compaction time).
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    func flushLoop() {
        state.lock()
        while true {
            if shuttingDown { break }
            if backgroundPaused || backgroundError != nil || imms.isEmpty { state.wait(); continue }
            flushBusy = true
            busyWorkers += 1
            state.unlock()
            do { try flushOldest() } catch { recordBackgroundError(error) }
            state.lock()
            flushBusy = false
            busyWorkers -= 1
            state.broadcast()
        }
        state.unlock()
    }

    /// A compaction thread (`compaction_threads` of them): runs compactions while any level is over
    /// its target, each on tables no other running compaction holds.
    /// Specialized for the real file system (see `flushLoop`).
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    func compactionLoop() {
        state.lock()
        while true {
            if shuttingDown { break }
            if backgroundPaused || backgroundError != nil { state.wait(); continue }
            guard let c = pickCompaction() else { state.wait(); continue }
            reserve(c)
            busyWorkers += 1
            state.unlock()
            let started = monotonicNanos()
            do { try runCompaction(c) } catch { recordBackgroundError(error) }
            compactionNanos.wrappingAdd(monotonicNanos() - started, ordering: .relaxed)
            state.lock()
            release(c)
            busyWorkers -= 1
            state.broadcast()
        }
        state.unlock()
    }

    private func recordBackgroundError(_ error: any Error) {
        let e = (error as? OrbitError) ?? OrbitError(.io, "lsm background work failed", cause: .library("\(error)"))
        logWarning("lsm: background work stopped: \(e)\n")
        state.withLock { if backgroundError == nil { backgroundError = e } }
    }

    /// Waits until no immutable memtable is left and the flush thread is idle.
    func waitForFlushes() throws {
        try state.withLock {
            while !imms.isEmpty || flushBusy {
                if let e = backgroundError { throw e }
                state.broadcast()
                state.wait(millis: 50)
            }
        }
    }

    /// Seals the memtable (if it holds anything) and waits until it is flushed.
    public func flush() throws {
        try checkWritable("flush")
        try writeLock.withLock { try switchMemtableIfNotEmpty() }
        try waitForFlushes()
    }

    func switchMemtableIfNotEmpty() throws { if !mem.isEmpty { try switchMemtable() } }

    /// Flushes, then compacts until no level is over its target (tests, benchmarks: "settled").
    public func compactUntilSettled() throws {
        try flush()
        try state.withLock {
            while pickCompaction() != nil || busyWorkers > 0 || !imms.isEmpty {
                if let e = backgroundError { throw e }
                state.broadcast()
                state.wait(millis: 50)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

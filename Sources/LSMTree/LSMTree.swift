#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore
import Synchronization

/// The hand-written LSM-tree engine (`lsm`): WAL + skiplist memtable + leveled SSTables, on any
/// `FileSystem` (the real one, or a fault injector for crash experiments).
///
/// ## Thread safety
/// Every method may be called from any thread. Writers are serialized by `writeLock` (append to the
/// WAL, insert into the memtable); in `group` mode the fdatasync happens outside it, shared by
/// whichever writers wait (leader/follower). Readers take no lock but a brief one to pick up the
/// current memtables and `Version`, then read without locks; they see writes up to `visibleSeq`,
/// which in the syncing modes only moves past a write once it is synced. Background threads: one
/// flushes immutable memtables to level 0 (so a long compaction never holds up a flush);
/// `compaction_threads` compact, concurrently on disjoint tables, a level-0 compaction split by key
/// range across threads. Writers are delayed gradually from `l0_slowdown_writes_trigger` level-0
/// tables and stop at `l0_stop_writes_trigger` (or while the immutable memtable queue is full).
///
/// ## Files (in the store directory)
/// `<n>.log` WAL (docs/formats/lsm-log.md), `<n>.sst` tables (lsm-sstable.md), `MANIFEST-<n>`
/// and `CURRENT` (lsm-manifest.md), `snapshots/<name>` (lsm-snapshot.md), `LOCK` (held with
/// `FileSystem.lock` while the store is open; holds "pid N" of the holder).
public final class LSMTree<FS: FileSystem>: StorageEngine, @unchecked Sendable {
    public let backendName = "lsm"
    public let durability: DurabilityMode
    public var dataDirectory: String? { directory }
    let fs: FS
    let directory: String
    let options: LSMOptions
    let cache: BlockCache
    /// The store's LOCK file, held while open: a second open (this process or another) is refused.
    let storeLock: FileLock

    // Guarded by `state`.
    let state = Monitor()
    var mem: Memtable
    var imms: [Memtable] = []
    var version: Version<FS.File> {
        didSet { level0Files.store(version.levels[0].count, ordering: .relaxed) }
    }
    var protectedFiles: Set<UInt64> = []
    var shuttingDown = false
    /// Background workers (flush, compaction) running a job; `restoreSnapshot` waits for 0.
    var busyWorkers = 0
    var flushBusy = false
    var backgroundPaused = false
    var backgroundError: OrbitError?
    var compactPointer: [[UInt8]]
    /// Levels whose compaction (out of them, into the next) is running: at most one per level, and
    /// no two jobs share a table. Guarded by `state`.
    var compactingLevels: Set<Int> = []
    /// Tables taken by running compactions. Guarded by `state`.
    var compactingFiles: Set<UInt64> = []
    /// Level-0 table count of the current version, for the writers' slowdown check without a lock.
    let level0Files = Atomic<Int>(0)

    // Guarded by `writeLock`.
    let writeLock = Monitor()
    var log: LogWriter<FS.File>
    var lastSequence: UInt64
    private var payload: [UInt8] = []
    /// When the delayed writes may next proceed (monotonic ns), in the slowdown zone.
    private var delayUntil: UInt64 = 0

    let manifestLock = Monitor()
    var manifest: Manifest<FS>
    let commit = GroupCommit()
    let visibleSeq = Atomic<UInt64>(0)
    let syncedSeq = Atomic<UInt64>(0)
    let nextFileNumber: Atomic<UInt64>
    let closed = Atomic<Bool>(false)
    private var flusher: BackgroundThread?
    private var compactors: [BackgroundThread] = []
    private var periodic: PeriodicTask?

    // Counters for stats.
    let userBytesWritten = Atomic<UInt64>(0)
    let gets = Atomic<UInt64>(0)
    let tablesProbed = Atomic<UInt64>(0)
    let filterChecks = Atomic<UInt64>(0)
    let filterNegatives = Atomic<UInt64>(0)
    let stallNanos = Atomic<UInt64>(0)
    /// Longest single write stop (ns), and how many writes were stopped or delayed.
    let stallMaxNanos = Atomic<UInt64>(0)
    let stalls = Atomic<UInt64>(0)
    let slowdownNanos = Atomic<UInt64>(0)
    let delayedWrites = Atomic<UInt64>(0)
    let flushes = Atomic<UInt64>(0)
    let compactions = Atomic<UInt64>(0)
    let compactionBytesWritten = Atomic<UInt64>(0)
    /// Key ranges merged by level-0 compactions split across threads.
    let subcompactions = Atomic<UInt64>(0)
    /// Time compaction threads spent running compactions (summed over threads).
    let compactionNanos = Atomic<UInt64>(0)
    var walSkippedRegions = 0
    let ioBaseline: FileIOStatistics

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none: DurabilityPromise(.processCrash, "WAL written (no sync) before the ack; tables and manifest synced")
        case .everyWrite: DurabilityPromise(.powerLoss, "WAL fdatasync by each writer before its ack")
        case .group: DurabilityPromise(.powerLoss, "WAL fdatasync shared by waiting writers (leader/follower) before each ack")
        case .periodic(let ms): DurabilityPromise(.powerLossBoundedWindow, "WAL fdatasync every \(ms) ms by a background thread")
        }
    }

    /// Opens (creating if needed) the store in `directory`.
    public init(fs: FS, directory: String, options: LSMOptions = LSMOptions(), durability: DurabilityMode = .none,
                access: StoreAccess = .readWrite) throws {
        try options.validate()
        self.fs = fs
        self.directory = directory
        self.options = options
        self.durability = durability
        cache = BlockCache(capacityBytes: options.blockCacheMB << 20)
        compactPointer = Array(repeating: [], count: options.maxLevels)
        try fs.createDirectory(directory, intermediates: true)
        // Taken before anything is read: released when the engine closes, or when init throws
        // (the token is freed with the partly initialized engine).
        storeLock = try fs.lock(joinPath(directory, "LOCK"))
        try fs.createDirectory(joinPath(directory, "snapshots"), intermediates: true)
        ioBaseline = fs.ioStatistics()

        let recovered = try Manifest.recover(fs: fs, directory: directory, levels: options.maxLevels) ?? Manifest<FS>.Recovered()
        var next = max(recovered.nextFileNumber, 2)
        var seq = recovered.lastSequence
        // Open every live table (checks footer, index and filter).
        var levels = Array(repeating: [TableFile<FS.File>](), count: options.maxLevels)
        for (level, meta) in recovered.files {
            let file = try fs.open(tablePath(directory, meta.number), .read)
            let reader = try TableReader(file: file, number: meta.number, size: meta.size, cache: cache)
            levels[level].append(TableFile(meta: meta, reader: reader))
            next = max(next, meta.number + 1)
        }
        var v = Version(levels: levels)
        v = v.applying(VersionEdit(), [:])  // sorts each level

        // Replay the WALs the manifest still needs, oldest first, into one memtable.
        let names = try fs.list(directory: directory)
        var logs: [UInt64] = []
        for name in names where name.hasSuffix(".log") {
            if let n = UInt64(name.dropLast(4)) {
                if n >= recovered.logNumber { logs.append(n) }
                next = max(next, n + 1)
            }
        }
        logs.sort()
        let replay = Memtable(logNumber: 0)
        var skipped = 0
        for n in logs {
            let path = logPath(directory, n)
            let file = try fs.open(path, .readWrite)
            let reader = LogReader(file: file, magic: LogFormat.walMagic, paranoid: options.paranoid, lastLog: n == logs.last)
            // The payload header's size depends on the file's version, known once its header is read.
            var payloadHeader = 0
            let outcome = try reader.read { record, offset in
                if payloadHeader == 0 {
                    let v = try file.read(count: 12, at: 0)
                    payloadHeader = LogFormat.walPayloadHeader(version: v.count == 12 ? v.withUnsafeBytes { loadFixed32($0, 8) } : 1)
                }
                seq = max(seq, try Self.applyRecord(record, to: replay, headerSize: payloadHeader, path: path, offset: offset))
            }
            skipped += outcome.skippedRegions
            if outcome.skippedRegions > 0 {
                logWarning("lsm: paranoid=false: skipped \(outcome.skippedRegions) damaged region(s) of \(path)\n")
            }
            if outcome.tornTail {
                // The write in flight at a crash was never acknowledged as durable: cut it off.
                try file.truncate(to: outcome.validEnd)
                try file.fsync()
            }
            try file.close()
        }
        walSkippedRegions = skipped

        // Flush what was replayed to a level-0 table so the old logs can go.
        var snapshotEdit = VersionEdit()
        if !replay.isEmpty {
            let number = next; next += 1
            let meta = try Self.writeTable(fs: fs, directory: directory, number: number, options: options,
                                           source: MergingIterator<FS.File>(mems: [replay], tables: [], levels: []),
                                           dropTombstones: { _ in false })
            if let meta {
                let reader = try TableReader(file: try fs.open(tablePath(directory, number), .read), number: number, size: meta.size, cache: cache)
                var e = VersionEdit(); e.added = [(0, meta)]
                v = v.applying(e, [number: TableFile(meta: meta, reader: reader)])
            }
            try fs.syncDirectory(directory)
        }
        let logNumber = next; next += 1
        let manifestNumber = next; next += 1
        let logFile = try fs.open(logPath(directory, logNumber), .truncate)
        log = try LogWriter(newFile: logFile, magic: LogFormat.walMagic)
        try logFile.fdatasync()
        snapshotEdit.logNumber = logNumber
        snapshotEdit.nextFileNumber = next
        snapshotEdit.lastSequence = seq
        snapshotEdit.added = v.allFiles.map { ($0.level, $0.file.meta) }
        manifest = try Manifest(fs: fs, directory: directory, number: manifestNumber, snapshot: snapshotEdit)
        nextFileNumber = Atomic(next)
        lastSequence = seq
        visibleSeq.store(seq, ordering: .releasing)
        syncedSeq.store(seq, ordering: .releasing)
        mem = Memtable(logNumber: logNumber)
        version = v
        level0Files.store(v.levels[0].count, ordering: .relaxed)

        // Snapshots keep their tables; anything else not in the manifest is left over from a crash.
        protectedFiles = try Set(listSnapshotFiles().flatMap { try readSnapshot($0).map(\.meta.number) })
        for name in try fs.list(directory: directory) {
            if name.hasPrefix("MANIFEST-"), name != Manifest<FS>.name(manifestNumber) { try fs.remove(joinPath(directory, name)) }
            if name.hasSuffix(".log"), let n = UInt64(name.dropLast(4)), n != logNumber { try fs.remove(joinPath(directory, name)) }
            if name.hasSuffix(".sst"), let n = UInt64(name.dropLast(4)), !v.contains(n), !protectedFiles.contains(n) {
                try fs.remove(joinPath(directory, name))
            }
        }
        try fs.syncDirectory(directory)

        // Both threads hold the engine until close() stops them.
        flusher = BackgroundThread { self.flushLoop() }
        compactors = (0..<options.compactionThreads).map { _ in BackgroundThread { self.compactionLoop() } }
        if case .periodic(let ms) = durability {
            periodic = try PeriodicTask(periodMillis: ms, name: "lsm-wal-sync") { try self.syncWAL() }
        }
    }

    /// Applies one WAL record (docs/formats/lsm-log.md, payload) to `table`; returns its last sequence.
    /// A record with no entries (a sync marker, written at close) returns the sequence before it.
    static func applyRecord(_ p: UnsafeRawBufferPointer, to table: Memtable, headerSize: Int, path: String, offset: Int64) throws -> UInt64 {
        guard p.count >= headerSize else { throw corruption("WAL record of \(p.count) bytes is shorter than its header", path, offset) }
        var seq = loadFixed64(p, 0)
        let count = Int(loadFixed32(p, 8))
        var r = ByteReader(p)
        r.pos = headerSize
        for _ in 0..<count {
            guard let t = r.byte(), let type = ValueType(rawValue: t), let key = r.lengthPrefixed() else {
                throw corruption("malformed WAL batch entry", path, offset)
            }
            var value = UnsafeRawBufferPointer(start: nil, count: 0)
            if type == .put {
                guard let v = r.lengthPrefixed() else { throw corruption("malformed WAL batch entry", path, offset) }
                value = v
            }
            table.add(key, seq, type, value)
            seq += 1
        }
        return seq - 1
    }

    @inline(__always) func checkOpen() throws {
        if closed.load(ordering: .relaxed) { throw OrbitError(.closed, "lsm: the engine is closed", at: directory) }
    }

    // MARK: Writes

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try checkLimits(key, value)
        try writeEntries(1, UInt64(key.count + value.count)) { out in
            out.append(ValueType.put.rawValue)
            putVarint(&out, UInt64(key.count)); out.append(contentsOf: key)
            putVarint(&out, UInt64(value.count)); out.append(contentsOf: value)
        } apply: { mem, seq in
            mem.add(key, seq, .put, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try checkLimits(key, UnsafeRawBufferPointer(start: nil, count: 0))
        try writeEntries(1, UInt64(key.count)) { out in
            out.append(ValueType.delete.rawValue)
            putVarint(&out, UInt64(key.count)); out.append(contentsOf: key)
        } apply: { mem, seq in
            mem.add(key, seq, .delete, UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    public func write(_ batch: WriteBatch) throws {
        guard !batch.isEmpty else { try checkOpen(); return }
        try writeEntries(batch.count, UInt64(batch.byteCount)) { out in
            batch.forEach { op, k, v in
                out.append(op == .put ? ValueType.put.rawValue : ValueType.delete.rawValue)
                putVarint(&out, UInt64(k.count)); out.append(contentsOf: k)
                if op == .put { putVarint(&out, UInt64(v.count)); out.append(contentsOf: v) }
            }
        } apply: { mem, seq in
            var s = seq
            batch.forEach { op, k, v in
                mem.add(k, s, op == .put ? .put : .delete, v)
                s += 1
            }
        }
    }

    private func checkLimits(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        guard key.count < 1 << 30, value.count < 1 << 30 else {
            throw OrbitError(.invalidArgument, "lsm: key (\(key.count) bytes) or value (\(value.count) bytes) too large",
                             hint: "keys and values are below 1 GiB")
        }
    }

    /// The write path: under `writeLock`, make room, append one WAL record, add to the memtable;
    /// then, in the syncing modes, wait for an fdatasync that covers it.
    @inline(__always)
    private func writeEntries(_ count: Int, _ bytes: UInt64, encode: (inout [UInt8]) -> Void,
                              apply: (Memtable, UInt64) -> Void) throws {
        try checkOpen()
        let group = durability == .group
        if group { commit.enter() }
        defer { if group { commit.leave() } }
        writeLock.lock()
        let last: UInt64
        let writer: LogWriter<FS.File>
        do {
            try commit.check()
            try makeRoomForWrite(bytes: bytes)
            let seq = lastSequence + 1
            payload.removeAll(keepingCapacity: true)
            putFixed64(&payload, seq)
            putFixed32(&payload, UInt32(count))
            putFixed64(&payload, UInt64(log.syncedSize))
            encode(&payload)
            // A failed append may leave part of the record in the log: no later record may follow
            // it (replay would stop at the damage, or call it corruption), so the store turns
            // read-only until it is reopened (replay then cuts the torn tail off).
            do { try payload.withUnsafeBytes { try log.addRecord($0) } } catch { throw commit.fail(error) }
            try fs.crashPoint("lsm.wal.after-append")
            apply(mem, seq)
            last = seq + UInt64(count) - 1
            lastSequence = last
            writer = log
            if !durability.syncsBeforeAck { visibleSeq.store(last, ordering: .releasing) }
        } catch {
            writeLock.unlock()
            throw error
        }
        writeLock.unlock()
        userBytesWritten.wrappingAdd(bytes, ordering: .relaxed)
        if group {
            try commit.waitDurable(last, synced: { syncedSeq.load(ordering: .acquiring) }, sync: { try syncWAL() })
        } else if durability.syncsBeforeAck {
            // every-write: this writer's own fdatasync. It covers every record appended before it
            // (older WALs were synced when their memtable was sealed).
            do {
                try writer.sync()
                try fs.crashPoint("lsm.wal.after-sync")
            } catch { throw commit.fail(error) }
            atomicMax(syncedSeq, last)
            atomicMax(visibleSeq, last)
        }
    }

    /// Syncs the WAL up to everything appended so far (group commit leaders, `sync()`, `close()`
    /// and the periodic task); returns the last sequence it covers. A failure is sticky.
    @discardableResult
    func syncWAL() throws -> UInt64 {
        // After a failed append or sync nothing may be reported durable again (fsyncgate).
        try commit.check()
        writeLock.lock()
        let writer = log
        let upTo = lastSequence
        writeLock.unlock()
        do {
            try writer.sync()
            try fs.crashPoint("lsm.wal.after-sync")
        } catch { throw commit.fail(error) }
        atomicMax(syncedSeq, upTo)
        atomicMax(visibleSeq, upTo)
        return upTo
    }

    /// Delays writes gradually while level 0 holds `l0SlowdownTrigger` tables or more (a token
    /// bucket at `delayedWriteRate`), then switches to a new memtable when the current one is full,
    /// stopping writes while the immutable queue or level 0 (`l0StopTrigger`) is full.
    /// Caller holds `writeLock`; delayed writers sleep holding it, so all writers are paced.
    private func makeRoomForWrite(bytes: UInt64 = 0, force: Bool = false) throws {
        let l0 = level0Files.load(ordering: .relaxed)
        if !force && l0 >= options.l0SlowdownTrigger && l0 < options.l0StopTrigger {
            let now = monotonicNanos()
            if delayUntil < now { delayUntil = now }
            delayUntil += UInt64(Double(max(bytes, 1)) * 1e9 / options.delayedWriteRate(l0Files: l0))
            // Sleep in slices of at least 1 ms (shorter sleeps cost more than they pace).
            if delayUntil > now + 1_000_000 {
                let wait = delayUntil - now
                usleep(UInt32(min(wait / 1000, 1_000_000)))
                slowdownNanos.wrappingAdd(monotonicNanos() - now, ordering: .relaxed)
                delayedWrites.wrappingAdd(1, ordering: .relaxed)
            }
        }
        var stallStart: UInt64 = 0
        defer {
            if stallStart != 0 {
                let d = monotonicNanos() - stallStart
                stallNanos.wrappingAdd(d, ordering: .relaxed)
                atomicMax(stallMaxNanos, d)
                stalls.wrappingAdd(1, ordering: .relaxed)
            }
        }
        while true {
            if !force && mem.approximateSize < options.memtableBytes { return }
            if force && mem.isEmpty { return }
            state.lock()
            if let e = backgroundError { state.unlock(); throw e }
            if imms.count >= options.maxMemtables - 1 || version.levels[0].count >= options.l0StopTrigger {
                if stallStart == 0 { stallStart = monotonicNanos() }
                state.broadcast()
                state.wait(millis: 100)
                state.unlock()
                continue
            }
            state.unlock()
            try switchMemtable()
            return
        }
    }

    /// Seals the memtable and starts a new WAL. Caller holds `writeLock`.
    func switchMemtable() throws {
        // Every write in a sealed memtable must be visible, so a flush never drops a version a
        // reader could still need. And the sealed log is synced whole in every mode, before any
        // record goes to the next one: otherwise a power loss could keep later records (the next
        // log, synced by `sync()` or the periodic task) while losing earlier ones (this log's
        // unsynced tail) — not a prefix. Recovery relies on it: only the newest log may be torn.
        do { try log.sync() } catch { throw commit.fail(error) }
        atomicMax(syncedSeq, lastSequence)
        atomicMax(visibleSeq, lastSequence)
        let number = nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue
        let file = try fs.open(logPath(directory, number), .truncate)
        let writer = try LogWriter(newFile: file, magic: LogFormat.walMagic)
        // Its header is synced before any record (a torn header would make the log unreadable).
        try file.fdatasync()
        try fs.syncDirectory(directory)
        try fs.crashPoint("lsm.memtable.after-switch")
        log = writer
        state.withLock {
            imms.append(mem)
            mem = Memtable(logNumber: number)
            state.broadcast()
        }
    }

    /// Appends a record with no entries saying the whole log is synced, and syncs it (at close):
    /// after it, damage anywhere in the log is corruption, not a torn tail (docs/formats/lsm-log.md).
    private func writeSyncMarker() throws {
        try writeLock.withLock {
            try commit.check()
            payload.removeAll(keepingCapacity: true)
            putFixed64(&payload, lastSequence + 1)
            putFixed32(&payload, 0)
            putFixed64(&payload, UInt64(log.syncedSize))
            try payload.withUnsafeBytes { try log.addRecord($0) }
            try log.sync()
        }
    }

    public func sync() throws {
        try checkOpen()
        try syncWAL()
        if let e = periodic?.firstError.withLock({ $0 }) { throw e }
    }

    // MARK: Reads

    /// The memtables (newest first) and version a reader uses.
    @inline(__always) func readView() -> (Memtable, [Memtable], Version<FS.File>) {
        state.lock()
        defer { state.unlock() }
        return (mem, imms, version)
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try checkOpen()
        let seq = visibleSeq.load(ordering: .acquiring)
        let (m, ims, v) = readView()
        gets.wrappingAdd(1, ordering: .relaxed)
        if let (t, value) = m.get(key, seq: seq) { return try body(t == .put ? value : nil) }
        for imm in ims.reversed() {
            if let (t, value) = imm.get(key, seq: seq) { return try body(t == .put ? value : nil) }
        }
        return try withUnsafeTemporaryAllocation(byteCount: key.count + trailerSize, alignment: 8) { buf in
            if key.count > 0 { buf.baseAddress!.copyMemory(from: key.baseAddress!, byteCount: key.count) }
            buf.storeBytes(of: packTrailer(seq, .put).littleEndian, toByteOffset: key.count, as: UInt64.self)
            let ikey = UnsafeRawBufferPointer(buf)
            let hash = BloomFilter.hash(key)
            var probed: UInt64 = 0
            defer { tablesProbed.wrappingAdd(probed, ordering: .relaxed) }
            func probe(_ f: TableFile<FS.File>) throws -> R?? {
                if f.reader.filter != nil {
                    filterChecks.wrappingAdd(1, ordering: .relaxed)
                    if !f.reader.mayContain(hash) { filterNegatives.wrappingAdd(1, ordering: .relaxed); return nil }
                }
                probed += 1
                return try f.reader.get(ikey) { t, value in try body(t == .put ? value : nil) }
            }
            for f in v.levels[0].reversed() where f.covers(key) {
                if let r = try probe(f) { return r! }
            }
            for l in 1..<v.levels.count where !v.levels[l].isEmpty {
                let i = v.findFile(l, key)
                guard i < v.levels[l].count, v.levels[l][i].covers(key) else { continue }
                if let r = try probe(v.levels[l][i]) { return r! }
            }
            return try body(nil)
        }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try checkOpen()
        let seq = visibleSeq.load(ordering: .acquiring)
        let (m, ims, v) = readView()
        var it = MergingIterator<FS.File>(mems: [m] + ims.reversed(), tables: v.levels[0].reversed().map(\.reader),
                                          levels: Array(v.levels.dropFirst()))
        if let start {
            let target = KeyBuffer(capacity: start.count + trailerSize)
            target.set(start)
            withUnsafeBytes(of: packTrailer(maxSequence, .put).littleEndian) { target.append($0) }
            try it.seek(target.bytes)
        } else {
            try it.seekToFirst()
        }
        let last = KeyBuffer()
        var hasLast = false
        var count = 0
        while it.valid {
            let ik = it.key
            let uk = userKey(ik)
            if hasLast && compareBytes(uk, last.bytes) == 0 { try it.next(); continue }
            if let end, compareBytes(uk, end) >= 0 { break }
            let t = trailer(ik)
            if t >> 8 > seq { try it.next(); continue }
            last.set(uk)
            hasLast = true
            if t & 0xff == UInt64(ValueType.put.rawValue) {
                count += 1
                if try !visit(uk, it.value) { break }
                if limit > 0 && count >= limit { break }
            }
            try it.next()
        }
        return count
    }

    // MARK: Close

    public func close() throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        periodic?.stop()
        state.withLock { shuttingDown = true; state.broadcast() }
        flusher?.join()
        for c in compactors { c.join() }
        var failure: (any Error)?
        do {
            try syncWAL()
            try writeSyncMarker()
        } catch { failure = error }
        try? log.file.close()
        manifestLock.withLock { manifest.close() }
        if let e = periodic?.firstError.withLock({ $0 }) { failure = failure ?? e }
        if let e = state.withLock({ backgroundError }) { failure = failure ?? e }
        storeLock.release()
        if let failure { throw failure }
    }

    deinit {
        if !closed.load(ordering: .relaxed) { try? close() }
    }
}

@inline(__always) func atomicMax(_ a: borrowing Atomic<UInt64>, _ v: UInt64) {
    var cur = a.load(ordering: .relaxed)
    while cur < v {
        let (ok, orig) = a.compareExchange(expected: cur, desired: v, ordering: .acquiringAndReleasing)
        if ok { return }
        cur = orig
    }
}

func tablePath(_ dir: String, _ n: UInt64) -> String { joinPath(dir, padded(n) + ".sst") }
func logPath(_ dir: String, _ n: UInt64) -> String { joinPath(dir, padded(n) + ".log") }

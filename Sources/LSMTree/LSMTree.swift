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
/// tables and stop at `l0_stop_writes_trigger` (or while the immutable memtable queue is full);
/// they wait without `writeLock`, so syncs and `stats()` go on during a stall.
///
/// ## After a failed WAL write or sync
/// The store turns *read-only until reopened* (not poisoned: reads go on). Every WAL fdatasync runs
/// through `syncLog` under one lock, and the first failed append or sync is recorded there before
/// any later sync may acknowledge anything: no write is acknowledged after it, in any mode and with
/// any number of writers, and `visibleSeq` (what readers see) never moves past the failed record.
/// Every later write throws the original error; `stats()` reports `read_only` 1. A reopen replays
/// the WAL (a record whose sync failed may or may not be there: it was never acknowledged).
///
/// ## Access
/// A read-only open (`StoreAccess.readOnly`) recovers the WALs into memory and changes nothing on
/// disk; every write call throws `OrbitError.Code.readOnly`; no background thread runs.
///
/// ## Files (in the store directory)
/// `<n>.log` WAL (docs/formats/lsm-log.md), `<n>.sst` tables (lsm-sstable.md), `MANIFEST-<n>`
/// and `CURRENT` (lsm-manifest.md), `snapshots/<name>` (lsm-snapshot.md), `LOCK` (held with
/// `FileSystem.lock` while the store is open; holds "pid N" of the holder).
public final class LSMTree<FS: FileSystem>: StorageEngine, @unchecked Sendable {
    public let backendName = LSMDescriptor.name
    public let durability: DurabilityMode
    public var dataDirectory: String? { directory }
    let fs: FS
    let directory: String
    let options: LSMOptions
    let cache: BlockCache
    /// The store's LOCK file, held while open: a second open (this process or another) is refused.
    /// Shared on a read-only open (nil there when the store has no LOCK file: none is created).
    let storeLock: FileLock?
    public let access: StoreAccess
    /// `access == .readOnly`: every write call throws `OrbitError.Code.readOnly`, nothing on disk changes.
    let readOnly: Bool
    /// Open table handles, bounded by `lsm.max_open_files`.
    let tableCache: TableCache<FS.File>
    /// The table objects alive (in some version, a reader or a job), so a table leaving the store
    /// is removed only once the last of them lets go (`retire`). Guarded by `state`.
    var liveTables: [UInt64: WeakTable<FS.File>] = [:]
    /// Test hook: called where a reader takes its sequence and read view (between the two with
    /// the planted read race), so a test can force a flush exactly there.
    var readHook: (() -> Void)?

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
    /// The current WAL (nil only on a read-only open).
    var log: LogWriter<FS.File>!
    var lastSequence: UInt64
    private var payload: [UInt8] = []
    /// When the delayed writes may next proceed (monotonic ns), in the slowdown zone.
    private var delayUntil: UInt64 = 0

    let manifestLock = Monitor()
    /// The manifest being appended to (nil only on a read-only open). Guarded by `manifestLock`,
    /// as are the manifest's own view of the state below (what a rolled manifest starts with).
    var manifest: Manifest<FS>!
    var manifestFiles: [UInt64: (level: Int, meta: FileMeta)] = [:]
    var manifestLogNumber: UInt64 = 0
    var manifestLastSequence: UInt64 = 0
    /// The live WALs the manifest records (restated by a rolled manifest's first edit).
    var manifestLogs = LiveLogs()
    /// A failed manifest roll: CURRENT may name either manifest, so no edit is written again.
    var manifestFailure: OrbitError?
    /// Every WAL fdatasync runs under this lock (`syncLog`), so a failed one is recorded before any
    /// later one can acknowledge a write.
    let syncLock = Monitor()
    /// Sizes of the current WAL and manifest, for stats() without their locks.
    let walSize = Atomic<Int64>(0)
    let manifestSize = Atomic<Int64>(0)
    let commit = GroupCommit()
    let visibleSeq = Atomic<UInt64>(0)
    let syncedSeq = Atomic<UInt64>(0)
    let nextFileNumber: Atomic<UInt64>
    let closed = Atomic<Bool>(false)
    private var flusher: OrbitThread?
    private var compactors: [OrbitThread] = []
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
    /// Bytes of the input tables compactions merged (trivial moves read nothing).
    let compactionBytesRead = Atomic<UInt64>(0)
    /// Bytes of the level-0 tables flushes wrote.
    let flushBytesWritten = Atomic<UInt64>(0)
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

    /// Opens the store in `directory` (read-write: creating one if the directory is missing or
    /// empty). Recovery runs in named steps (`LSMTree+Recovery.swift`): recognise the directory,
    /// lock it, read CURRENT and the manifest, open the tables, recover the WALs, and — read-write
    /// only — install the recovered state (a level-0 table, a new WAL and manifest) and only then
    /// remove obsolete files. A read-only open (`access: .readOnly`) stops after the WAL recovery,
    /// in memory: it creates, writes, renames, truncates and removes nothing, and takes a shared
    /// lock on an existing LOCK file (a writer holding it refuses the open).
    ///
    /// Not optimized (it runs once per open): with cross-module optimization, Swift 6.3.1's
    /// CopyPropagation pass crashes on this initializer's specialization in the Runner module.
    @_optimize(none)
    public init(fs: FS, directory: String, options: LSMOptions = LSMOptions(), durability: DurabilityMode = .none,
                access: StoreAccess = .readWrite) throws {
        try options.check(durability: durability, ranges: false)
        self.fs = fs
        self.directory = directory
        self.options = options
        self.durability = durability
        self.access = access
        readOnly = access == .readOnly
        cache = BlockCache(capacityBytes: options.blockCacheMB << 20)
        tableCache = TableCache(capacity: options.tableCacheCapacity, open: Self.tableOpener(fs))
        compactPointer = Array(repeating: [], count: options.maxLevels)
        ioBaseline = fs.ioStatistics()
        let opened = try Self.openStore(fs: fs, directory: directory, options: options, readOnly: access == .readOnly,
                                        cache: cache, tableCache: tableCache)
        // Held from before anything was read: released when the engine closes, or when init
        // throws, with the partly initialized engine.
        storeLock = opened.lock
        let recovered = opened.state
        walSkippedRegions = recovered.skippedRegions
        nextFileNumber = Atomic(recovered.nextFileNumber)
        lastSequence = recovered.lastSequence
        visibleSeq.store(recovered.lastSequence, ordering: .releasing)
        syncedSeq.store(recovered.lastSequence, ordering: .releasing)
        version = recovered.version
        level0Files.store(recovered.version.levels[0].count, ordering: .relaxed)
        mem = recovered.mem
        log = recovered.log
        manifest = recovered.manifest
        walSize.store(recovered.log?.size ?? 0, ordering: .relaxed)
        manifestSize.store(recovered.manifest?.size ?? 0, ordering: .relaxed)
        manifestLogNumber = recovered.manifestLogNumber
        manifestLastSequence = recovered.lastSequence
        manifestLogs = recovered.liveLogs
        for (l, f) in recovered.version.allFiles {
            manifestFiles[f.meta.number] = (l, f.meta)
            liveTables[f.meta.number] = WeakTable(f)
        }
        protectedFiles = recovered.protectedFiles
        if readOnly { return }

        // Last step, now that the store is known sound and the recovered state is durable.
        try removeObsoleteFiles()

        // Both threads hold the engine until close() stops them.
        do {
            flusher = try OrbitThread(name: "lsm-flush") { self.flushLoop() }
            for i in 0..<options.compactionThreads {
                compactors.append(try OrbitThread(name: "lsm-compact-\(i)") { self.compactionLoop() })
            }
            if case .periodic(let ms) = durability {
                periodic = try PeriodicTask(periodMillis: ms, name: "lsm-wal-sync") { try self.syncWAL() }
            }
        } catch {
            // The threads that started hold the engine: stop them before the open fails.
            stopBackgroundThreads()
            throw error
        }
    }

    /// Applies one WAL record (`WALPayload`) to `table`; returns its last sequence (for a sync
    /// marker, written at close, the sequence before it).
    static func applyRecord(_ p: UnsafeRawBufferPointer, to table: Memtable, headerSize: Int = WALPayload.headerSize,
                            path: String, offset: Int64) throws -> UInt64 {
        try WALPayload.decode(p, headerSize: headerSize, path: path, offset: offset) { key, seq, type, value in
            table.add(key, seq, type, value)
        }
    }

    @inline(__always) func checkOpen() throws {
        if closed.load(ordering: .relaxed) { throw OrbitError(.closed, "lsm: the engine is closed", at: directory) }
    }

    /// Open and writable: a read-only open refuses every call that would change the store.
    @inline(__always) func checkWritable(_ what: StaticString) throws {
        try checkOpen()
        if readOnly {
            throw OrbitError(.readOnly, "lsm: \(what) refused: the store is open read-only", at: directory,
                             hint: "open it read-write to change it")
        }
    }

    // MARK: Writes

    // The runner's entry points are specialized for the real file system here, in this module
    // (docs/architecture.md, "Build settings"): a caller in another module reaches the generic
    // entry, which dispatches to the specialized copy after one type check.
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try checkLimits(key, value)
        try writeEntries(1, UInt64(key.count + value.count)) { out in
            WALPayload.appendPut(&out, key, value)
        } apply: { mem, seq in
            mem.add(key, seq, .put, value)
        }
    }

    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try checkLimits(key, UnsafeRawBufferPointer(start: nil, count: 0))
        try writeEntries(1, UInt64(key.count)) { out in
            WALPayload.appendDelete(&out, key)
        } apply: { mem, seq in
            mem.add(key, seq, .delete, UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    public func write(_ batch: WriteBatch) throws {
        guard !batch.isEmpty else { try checkWritable("write"); return }
        var tooLarge: OrbitError?
        batch.forEach { _, k, v in
            if tooLarge == nil { do { try checkLimits(k, v) } catch { tooLarge = error as? OrbitError } }
        }
        if let tooLarge { throw tooLarge }
        try writeEntries(batch.count, UInt64(batch.byteCount)) { out in
            batch.forEach { op, k, v in
                if op == .put { WALPayload.appendPut(&out, k, v) } else { WALPayload.appendDelete(&out, k) }
            }
        } apply: { mem, seq in
            var s = seq
            batch.forEach { op, k, v in
                mem.add(k, s, op == .put ? .put : .delete, v)
                s += 1
            }
        }
    }

    func checkLimits(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        guard key.count < 1 << 30, value.count < 1 << 30 else {
            throw OrbitError(.invalidArgument, "lsm: key (\(key.count) bytes) or value (\(value.count) bytes) too large",
                             hint: "keys and values are below 1 GiB")
        }
    }

    /// The write path: under `writeLock`, make room, append one WAL record, add to the memtable;
    /// then, in the syncing modes, wait for an fdatasync that covers it. A writer that must be
    /// delayed (slowdown) or stopped (stall) waits without `writeLock`, so group-commit leaders
    /// (`syncWAL`), other writers' syncs and `stats()` go on meanwhile.
    @inline(__always)
    private func writeEntries(_ count: Int, _ bytes: UInt64, encode: (inout [UInt8]) -> Void,
                              apply: (Memtable, UInt64) -> Void) throws {
        try checkWritable("write")
        let group = durability == .group
        if group { commit.enter() }
        defer { if group { commit.leave() } }
        writeLock.lock()
        let last: UInt64
        let writer: LogWriter<FS.File>
        do {
            var paced = false
            var stallStart: UInt64 = 0
            room: while true {
                try commit.check()
                switch try makeRoomForWrite(bytes: bytes, paced: &paced) {
                case .ready:
                    break room
                case .delay(let micros, let since):
                    writeLock.unlock()
                    usleep(micros)
                    slowdownNanos.wrappingAdd(monotonicNanos() - since, ordering: .relaxed)
                    delayedWrites.wrappingAdd(1, ordering: .relaxed)
                    writeLock.lock()
                case .stall:
                    if stallStart == 0 { stallStart = monotonicNanos() }
                    writeLock.unlock()
                    waitForRoom()
                    writeLock.lock()
                }
            }
            if stallStart != 0 {
                let d = monotonicNanos() - stallStart
                stallNanos.wrappingAdd(d, ordering: .relaxed)
                atomicMax(stallMaxNanos, d)
                stalls.wrappingAdd(1, ordering: .relaxed)
            }
            let seq = lastSequence + 1
            WALPayload.begin(&payload, sequence: seq, count: count, syncedThrough: log.syncedSize)
            encode(&payload)
            // A failed append may leave part of the record in the log: no later record may follow
            // it (replay would stop at the damage, or call it corruption), so the store turns
            // read-only until it is reopened (replay then cuts the torn tail off).
            do { try payload.withUnsafeBytes { try log.addRecord($0) } } catch { throw commit.fail(error) }
            walSize.store(log.size, ordering: .relaxed)
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
            // every-write: this writer's own fdatasync (skipped when another writer's sync already
            // covered its record). It covers every record appended before it (older WALs were
            // synced when their memtable was sealed).
            try syncLog(writer, upTo: last)
        }
    }

    /// fdatasyncs `writer` (the current WAL, or one being sealed) and then lets readers see, and
    /// writers acknowledge, everything up to `upTo` (appended to it before the call).
    ///
    /// Every WAL sync goes through here, one at a time under `syncLock`, and the first failure is
    /// recorded (sticky, `GroupCommit.fail`) before the lock is released: Linux reports a writeback
    /// error once, so a later fdatasync of the same file returns 0 although the pages the failed one
    /// covered — other writers' records among them — may be gone. After a failed sync no write is
    /// acknowledged and `visibleSeq` never moves again: the store is read-only until reopened (reads
    /// still see what was synced before). `force` syncs even when `upTo` is already covered.
    func syncLog(_ writer: LogWriter<FS.File>, upTo: UInt64, force: Bool = false) throws {
        syncLock.lock()
        defer { syncLock.unlock() }
        try commit.check()
        if !force && syncedSeq.load(ordering: .acquiring) >= upTo { return }
        do {
            try writer.sync()
            try fs.crashPoint("lsm.wal.after-sync")
        } catch { throw commit.fail(error) }
        // Visible first, then synced: a waiter is acknowledged once `syncedSeq` covers it, and a
        // read that begins after its acknowledgement must see it (the crash lab's
        // concurrent-history caught a scan missing a write acknowledged 14 µs before, in group
        // mode, when the syncing thread was descheduled between the two stores).
        atomicMax(visibleSeq, upTo)
        atomicMax(syncedSeq, upTo)
    }

    /// Syncs the WAL up to everything appended so far (group commit leaders, `sync()`, `close()`
    /// and the periodic task); returns the last sequence it covers. A failure is sticky.
    @discardableResult
    func syncWAL() throws -> UInt64 {
        // After a failed append or sync nothing may be reported durable again (fsyncgate).
        try commit.check()
        writeLock.lock()
        let writer = log!
        let upTo = lastSequence
        writeLock.unlock()
        try syncLog(writer, upTo: upTo, force: true)
        return upTo
    }

    /// What a writer must do before it may append.
    enum Room {
        case ready
        /// Sleep this long (µs) without the write lock (slowdown pacing started at `since`).
        case delay(UInt32, since: UInt64)
        /// Wait (without the write lock) for a flush or compaction to make room.
        case stall
    }

    /// Paces writes while level 0 holds `l0SlowdownTrigger` tables or more (a token bucket at
    /// `delayedWriteRate`, charged once per write: `paced`), then switches to a new memtable when
    /// the current one is full, stalling while the immutable queue or level 0 (`l0StopTrigger`) is
    /// full. Caller holds `writeLock`; the caller sleeps or waits after releasing it.
    private func makeRoomForWrite(bytes: UInt64, paced: inout Bool) throws -> Room {
        let l0 = level0Files.load(ordering: .relaxed)
        if !paced && l0 >= options.l0SlowdownTrigger && l0 < options.l0StopTrigger {
            paced = true
            let now = monotonicNanos()
            if delayUntil < now { delayUntil = now }
            delayUntil += UInt64(Double(max(bytes, 1)) * 1e9 / options.delayedWriteRate(l0Files: l0))
            // Sleep in slices of at least 1 ms (shorter sleeps cost more than they pace).
            if delayUntil > now + 1_000_000 {
                return .delay(UInt32(min((delayUntil - now) / 1000, 1_000_000)), since: now)
            }
        }
        if mem.approximateSize < options.memtableBytes { return .ready }
        let full: Bool = try state.withLock {
            if let e = backgroundError { throw e }
            return imms.count >= options.maxMemtables - 1 || version.levels[0].count >= options.l0StopTrigger
        }
        if full { return .stall }
        try switchMemtable()
        return .ready
    }

    /// A stalled writer's wait (no write lock held): until a flush or compaction changes the state,
    /// at most 100 ms before it checks again.
    private func waitForRoom() {
        state.lock()
        if backgroundError == nil && (imms.count >= options.maxMemtables - 1 || version.levels[0].count >= options.l0StopTrigger) {
            state.broadcast()
            state.wait(millis: 100)
        }
        state.unlock()
    }

    /// Seals the memtable and starts a new WAL. Caller holds `writeLock`.
    func switchMemtable() throws {
        // Every write in a sealed memtable must be visible, so a flush never drops a version a
        // reader could still need. And the sealed log is synced whole in every mode, before any
        // record goes to the next one: otherwise a power loss could keep later records (the next
        // log, synced by `sync()` or the periodic task) while losing earlier ones (this log's
        // unsynced tail) — not a prefix. Recovery relies on it: only the newest log may be torn.
        try syncLog(log, upTo: lastSequence, force: true)
        let sealedLength = UInt64(log.size)
        let sealedNumber = mem.logNumber
        let number = nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue
        let file = try fs.open(logPath(directory, number), .truncate)
        let writer: LogWriter<FS.File>
        do {
            writer = try LogWriter(newFile: file, magic: LogFormat.walMagic, number: number)
            // Its header is synced before any record (a torn header would make the log unreadable),
            // and its directory entry, before the manifest records it opened.
            try file.fdatasync()
            try fs.syncDirectory(directory)
            try fs.crashPoint("lsm.memtable.after-switch")
            // The manifest knows the new log before any record goes into it (and the old one's exact
            // length, synced whole above): at open a live log that is missing, header-less or of
            // another length is corruption (docs/formats/lsm-manifest.md, "Logs"). Once per memtable.
            var edit = VersionEdit()
            edit.sealedLogs = [(sealedNumber, sealedLength)]
            edit.openedLogs = [number]
            try manifestLock.withLock {
                edit.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
                try appendEditLocked(edit)
            }
        } catch {
            // The new log never gets a record (it is unknown to the manifest, removed at the next
            // open); no write may go on without a log the manifest knows: read-only until reopened.
            try? file.close()
            throw commit.fail(error)
        }
        log = writer
        walSize.store(writer.size, ordering: .relaxed)
        state.withLock {
            TSan.acquire(address: TSan.address(of: imms))   // readers' copies of the array let go (see `readView`)
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
            WALPayload.begin(&payload, sequence: lastSequence + 1, count: 0, syncedThrough: log.syncedSize)
            try payload.withUnsafeBytes { try log.addRecord($0) }
            try syncLog(log, upTo: lastSequence, force: true)
        }
    }

    /// Makes every acknowledged write durable (nothing to do on a read-only open: nothing is written).
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    public func sync() throws {
        try checkOpen()
        if readOnly { return }
        try syncWAL()
        if let e = periodic?.firstError.withLock({ $0 }) { throw e }
    }

    // MARK: Reads

    /// The sequence a reader reads at and the memtables and version it reads, taken together under
    /// `state`. Taking them apart (the sequence first) was a race (issue 14, bug 5): a flush in
    /// between could write K@seq+1 to a table and drop the K@≤seq it shadowed from the same
    /// memtable, so the reader skipped K@seq+1 and found an older K below, or none. Under the lock
    /// the sequence covers every write in the view's immutable memtables and tables (a memtable is
    /// sealed only once all its writes are visible), so no version the reader needs was dropped.
    ///
    /// The immutable memtables come as a copy of `imms` that shares its storage; the state's next
    /// change to the array (under `state`) is made in place once no reader holds a copy, ordered by
    /// the storage's reference count, which ThreadSanitizer cannot see. So every caller releases
    /// the storage (`TSan.release`) when it is done with the copy, and every change to `imms`
    /// acquires it first (empty in builds without `-DORBIT_TSAN`).
    @inline(__always) func readView() -> (UInt64, Memtable, [Memtable], Version<FS.File>) {
        if options.plantedBug == .readRace { return racyReadView() }
        if let readHook { readHook() }
        state.lock()
        defer { state.unlock() }
        return (visibleSeq.load(ordering: .acquiring), mem, imms, version)
    }

    /// The planted bug (`LSMPlantedBug.readRace`, tests only): the old order, sequence first, with
    /// the window between the two loads widened so a concurrent history checker catches it.
    @inline(never) func racyReadView() -> (UInt64, Memtable, [Memtable], Version<FS.File>) {
        let seq = visibleSeq.load(ordering: .acquiring)
        if let readHook { readHook() } else { sched_yield(); usleep(20) }
        state.lock()
        defer { state.unlock() }
        return (seq, mem, imms, version)
    }

    // The runner's gets return Int (a value's length); `get(_:into:)` returns Bool.
    @_specialize(where FS == POSIXFileSystem, R == Int)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>, R == Int)
    @_specialize(where FS == POSIXFileSystem, R == Bool)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>, R == Bool)
    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try checkOpen()
        let (seq, m, ims, v) = readView()
        defer { TSan.release(address: TSan.address(of: ims)) }   // see `readView`
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
    @_specialize(where FS == POSIXFileSystem)
    @_specialize(where FS == EncryptingFileSystem<POSIXFileSystem>)
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try checkOpen()
        let (seq, m, ims, v) = readView()
        defer { TSan.release(address: TSan.address(of: ims)) }   // see `readView`
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

    /// Stops the periodic sync, the flush thread and the compaction threads, and waits for them.
    private func stopBackgroundThreads() {
        periodic?.stop()
        state.withLock { shuttingDown = true; state.broadcast() }
        flusher?.join()
        flusher = nil
        for c in compactors { c.join() }
        compactors = []
    }

    public func close() throws {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        stopBackgroundThreads()
        if readOnly {
            // Nothing was written: nothing to sync, no sync marker.
            tableCache.closeAll()
            storeLock?.release()
            return
        }
        var failure: (any Error)?
        do {
            try syncWAL()
            try writeSyncMarker()
            // The clean close's final edit: the live log's exact length after its close marker
            // (at open it must have that length and end with the marker, or it is corruption).
            var edit = VersionEdit()
            edit.sealedLogs = [(mem.logNumber, UInt64(log.size))]
            try manifestLock.withLock { try appendEditLocked(edit) }
        } catch { failure = error }
        try? log.file.close()
        manifestLock.withLock { manifest.close() }
        tableCache.closeAll()
        if let e = periodic?.firstError.withLock({ $0 }) { failure = failure ?? e }
        if let e = state.withLock({ backgroundError }) { failure = failure ?? e }
        storeLock?.release()
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

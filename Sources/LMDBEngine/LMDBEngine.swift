#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLMDB
import OrbitCore
import Synchronization

/// The `lmdb` backend: LMDB (the system's liblmdb, through its C API) behind `StorageEngine`, the
/// reference peer of the hand-written copy-on-write B+tree.
///
/// **Layout.** `path` is the LMDB environment directory (`data.mdb`, `lock.mdb`; `mdb_dump <path>`
/// reads it). Every user key is stored with a one-byte prefix `0x00`, because LMDB rejects
/// zero-length keys and the empty key is a valid key here; the prefix keeps memcmp order, and
/// `mdb_dump` shows it as a leading `00`. Snapshots are compacted copies (`mdb_env_copy2`,
/// `MDB_CP_COMPACT`) in `<path>/orbit-snapshots/<name>/data.mdb`. See docs/formats/lmdb.md.
///
/// **Thread safety.** Every method may be called from any number of threads. LMDB serializes write
/// transactions itself; reads run concurrently in read-only transactions (`MDB_NOTLS`, taken from a
/// pool of reset transactions and cursors, so a read allocates nothing). `close()` and
/// `restoreSnapshot` take the engine's lock alone and wait for operations in flight.
///
/// **Durability.** `none` → `MDB_NOSYNC` (commits reach the OS through pwrite, no sync);
/// `every-write` and `group` → synced commits (LMDB fdatasyncs the data file, then writes and syncs
/// the meta page, per commit; it has no group commit, so concurrent writers each pay their own
/// syncs); `periodic(ms)` → `MDB_NOSYNC` plus a background `mdb_env_sync(force)` every `ms`.
///
/// **Stats.** `mdb_stat` (entries, depth, pages) and `mdb_env_info` (last page, map size); exact
/// key and value bytes are kept by the engine: a put first tries `MDB_NOOVERWRITE`, which hands back
/// the old value when the key exists (a second descent only for overwrites); the totals are counted
/// by one scan when the store opens.
///
/// **Disk bytes per operation.** LMDB reads through its memory map and writes from inside the
/// library, so per-operation disk bytes are not observable: reads and writes report 0.
public final class LMDBEngine: StorageEngine, @unchecked Sendable {
    public let backendName = LMDBDescriptor.name
    public let durability: DurabilityMode
    public let options: LMDBOptions
    public let path: String
    public var dataDirectory: String? { path }
    /// `.readOnly`: the environment is opened `MDB_RDONLY` (LMDB still updates its reader table in
    /// lock.mdb); every write throws `.readOnly`.
    public let access: StoreAccess

    // Replaced only by restoreSnapshot and close, under lock.withWriteLock.
    var env: OpaquePointer?
    var dbi: MDB_dbi = 0
    var closed = false
    var syncer: PeriodicTask?
    let lock = EngineRWLock()
    let readers = Lock<[Reader]>([])
    let totals = Lock<Totals>(Totals())
    let fs = POSIXFileSystem()

    struct Totals { var keys: Int64 = 0; var keyBytes: Int64 = 0; var valueBytes: Int64 = 0 }
    /// A reset read transaction and a cursor bound to it, reused across reads.
    struct Reader: @unchecked Sendable { var txn: OpaquePointer; var cursor: OpaquePointer }

    public static let snapshotDirName = "orbit-snapshots"
    public var snapshotDirectory: String { joinPath(path, Self.snapshotDirName) }
    static let keyPrefix: UInt8 = 0

    /// Opens (creating if missing) the LMDB environment in `path`; `access: .readOnly` opens an
    /// existing one with `MDB_RDONLY` and changes nothing but LMDB's reader table (lock.mdb).
    ///
    /// A failed open is an error and leaves the engine closed: nothing later calls into a
    /// half-open environment (`close()` and `deinit` see `closed`).
    public init(path: String, options: LMDBOptions, durability: DurabilityMode, access: StoreAccess = .readWrite) throws {
        self.path = path
        self.options = options
        self.durability = durability
        self.access = access
        do {
            try options.check(durability: durability, ranges: false)
            // LMDB forbids a second environment of one store in a process (it breaks the first's
            // reader slots: MDB_BAD_RSLOT), and a second read-write process would share the store's
            // writes: refuse both before LMDB opens anything. Read-only opens from other processes
            // run beside a writer, as LMDB allows.
            storeLocks.append(try LMDBEngine.inProcessLock(path))
            if access == .readWrite {
                try fs.createDirectory(path, intermediates: true)
                storeLocks.append(try POSIXFileSystem().lockWithoutNote(joinPath(path, "lock.mdb")))
                // A restore interrupted before its rename leaves this behind; the data file is intact.
                let leftover = joinPath(path, "data.mdb.restore")
                if try fs.exists(leftover) { try fs.remove(leftover) }
            }
            try openEnvironment()
            try startSyncer()
        } catch {
            // Never leave a half-open engine behind: deinit would otherwise sync and close it.
            closed = true
            closeEnvironment()
            for l in storeLocks { l.release() }
            throw error
        }
    }

    /// The locks this open holds (see init), released when the engine is freed.
    var storeLocks: [FileLock] = []

    /// One open per store in this process, read-only ones included, keyed by the real path.
    static func inProcessLock(_ path: String) throws -> FileLock {
        let key = path.withCString { p -> String in
            guard let r = realpath(p, nil) else { return path }
            defer { free(r) }
            return String(cString: r)
        }
        return try openStores.acquire(joinPath(path, "lock.mdb"), key: key, shared: false,
                                      holder: "another open of this LMDB store in this process")
    }
    static let openStores = LockCounts()

    @inline(__always)
    func refuseWriteIfReadOnly(_ what: @autoclosure () -> String) throws {
        if _slowPath(access == .readOnly) {
            throw OrbitError(.readOnly, "\(what()): the lmdb store is open read-only", at: path)
        }
    }

    deinit {
        if !closed { try? close() }
    }

    var envFlags: UInt32 {
        var f = UInt32(MDB_NOTLS)
        if access == .readOnly { f |= UInt32(MDB_RDONLY) }
        if !durability.syncsBeforeAck { f |= UInt32(MDB_NOSYNC) }
        if options.noReadahead { f |= UInt32(MDB_NORDAHEAD) }
        if options.writeMap { f |= UInt32(MDB_WRITEMAP) }
        return f
    }

    func openEnvironment() throws {
        var e: OpaquePointer? = nil
        try check(mdb_env_create(&e), "mdb_env_create")
        do {
            try check(mdb_env_set_mapsize(e, options.mapSizeMB << 20), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxreaders(e, UInt32(options.maxReaders)), "mdb_env_set_maxreaders")
            let openRC = mdb_env_open(e, path, envFlags, 0o644)
            if openRC == EACCES {
                throw OrbitError(.invalidArgument, "mdb_env_open: no permission to open the LMDB environment", at: path,
                                 hint: access == .readOnly
                                     ? "LMDB writes its reader table (lock.mdb) even to read: give write permission on lock.mdb and its directory"
                                     : "give write permission on the store directory, data.mdb and lock.mdb",
                                 cause: .library(String(cString: mdb_strerror(openRC))))
            }
            try check(openRC, "mdb_env_open")
            var txn: OpaquePointer? = nil
            try check(mdb_txn_begin(e, nil, access == .readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin")
            var d: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, nil, 0, &d)
            if rc != 0 { mdb_txn_abort(txn); try check(rc, "mdb_dbi_open") }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
            env = e
            dbi = d
        } catch {
            mdb_env_close(e)
            throw error
        }
        do { try countTotals() } catch { closeEnvironment(); throw error }
    }

    /// One scan to learn the exact key and value bytes of an existing store.
    func countTotals() throws {
        var t = Totals()
        try withReader { txn, cursor in
            var k = MDB_val(), v = MDB_val()
            var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
            while rc == 0 {
                t.keys += 1
                t.keyBytes += Int64(k.mv_size) - 1
                t.valueBytes += Int64(v.mv_size)
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
        }
        totals.withLock { $0 = t }
    }

    func startSyncer() throws {
        guard access == .readWrite, case .periodic(let ms) = durability else { return }
        syncer = try PeriodicTask(periodMillis: ms, name: "lmdb periodic sync") { [unowned self] in
            try lock.withReadLock {
                guard !closed, let env else { return }
                try check(mdb_env_sync(env, 1), "periodic mdb_env_sync")
            }
        }
    }

    func closeEnvironment() {
        readers.withLock { pool in
            for r in pool { mdb_cursor_close(r.cursor); mdb_txn_abort(r.txn) }
            pool.removeAll()
        }
        if let env { mdb_env_close(env) }
        env = nil
    }

    // MARK: Errors

    /// The bytes LMDB returned, checked first: LMDB keeps no checksums, and a damaged page can
    /// hand back a size with no data, which must be an error rather than a trap.
    @inline(__always)
    func storedBytes(_ v: MDB_val, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard _fastPath(v.mv_data != nil || v.mv_size == 0), _fastPath(v.mv_size >= 0) else {
            throw OrbitError(.corruption, "\(what()): LMDB returned \(v.mv_size) bytes at a null address", at: path,
                             hint: "the LMDB environment is damaged (LMDB keeps no checksums); restore it from a copy")
        }
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The user key of a stored key (`0x00 ‖ key`, docs/formats/lmdb.md).
    @inline(__always)
    func userKey(_ k: MDB_val) throws -> UnsafeRawBufferPointer {
        let stored = try storedBytes(k, "mdb_cursor_get: key")
        guard _fastPath(stored.count >= 1 && stored[0] == 0) else {
            throw OrbitError(.corruption, "LMDB returned a stored key of \(stored.count) bytes without the 0x00 prefix every key has",
                             at: path, hint: "the LMDB environment is damaged (LMDB keeps no checksums); restore it from a copy")
        }
        return UnsafeRawBufferPointer(rebasing: stored[1...])
    }

    @inline(__always)
    func check(_ rc: Int32, _ what: @autoclosure () -> String) throws {
        if _slowPath(rc != 0) { throw lmdbError(rc, what()) }
    }

    func lmdbError(_ rc: Int32, _ what: String) -> OrbitError {
        let text = String(cString: mdb_strerror(rc))
        switch rc {
        case MDB_MAP_FULL:
            let knob = LMDBOptions.optionTable.knob(\.mapSizeMB)
            return OrbitError(.engine, "\(what): the LMDB map is full (\(options.mapSizeMB) MiB)", at: path,
                              hint: "raise \(knob.name) (\(knob.environment))", cause: .library(text))
        case MDB_READERS_FULL:
            return OrbitError(.engine, "\(what): every LMDB reader slot is taken (\(options.maxReaders))", at: path,
                              hint: "raise \(LMDBOptions.optionTable.name(\.maxReaders))", cause: .library(text))
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH:
            return OrbitError(.corruption, "\(what) failed", at: path, cause: .library(text))
        case MDB_BAD_VALSIZE:
            return OrbitError(.invalidArgument, "\(what): key too long for LMDB", at: path,
                              hint: "LMDB keys are at most \(maxKeySize) bytes here", cause: .library(text))
        case _ where rc > 0:
            return OrbitError(.io, "\(what) failed", at: path, cause: .library(text))
        default:
            return OrbitError(.engine, "\(what) failed", at: path, cause: .library(text))
        }
    }

    /// The longest user key LMDB accepts (its limit less the one-byte prefix).
    public var maxKeySize: Int { env.map { Int(mdb_env_get_maxkeysize($0)) - 1 } ?? 510 }

    // MARK: Entry

    @inline(__always)
    func entered<R>(_ body: () throws -> R) throws -> R {
        try lock.withReadLock {
            guard !closed else { throw OrbitError(.closed, "lmdb engine is closed", at: path) }
            return try body()
        }
    }

    /// Calls `body` with `key` behind the one-byte prefix, as an `MDB_val`.
    @inline(__always)
    func withStoredKey<R>(_ key: UnsafeRawBufferPointer, _ body: (inout MDB_val) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: key.count + 1, alignment: 1) { buf in
            buf[0] = Self.keyPrefix
            if key.count > 0 { buf.baseAddress!.advanced(by: 1).copyMemory(from: key.baseAddress!, byteCount: key.count) }
            var v = MDB_val(mv_size: key.count + 1, mv_data: buf.baseAddress!)
            return try body(&v)
        }
    }

    /// Runs `body` in a read-only transaction from the pool (renewed on entry, reset on exit).
    @inline(__always)
    func withReader<R>(_ body: (OpaquePointer, OpaquePointer) throws -> R) throws -> R {
        var reader: Reader
        if let r = readers.withLock({ $0.popLast() }) {
            reader = r
            try check(mdb_txn_renew(reader.txn), "mdb_txn_renew")
            let rc = mdb_cursor_renew(reader.txn, reader.cursor)
            if rc != 0 { mdb_txn_reset(reader.txn); readers.withLock { $0.append(reader) }; try check(rc, "mdb_cursor_renew") }
        } else {
            var txn: OpaquePointer? = nil
            try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
            var cursor: OpaquePointer? = nil
            let rc = mdb_cursor_open(txn, dbi, &cursor)
            if rc != 0 { mdb_txn_abort(txn); try check(rc, "mdb_cursor_open") }
            reader = Reader(txn: txn!, cursor: cursor!)
        }
        defer {
            mdb_txn_reset(reader.txn)
            readers.withLock { $0.append(reader) }
        }
        return try body(reader.txn, reader.cursor)
    }

    // MARK: Reads

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try entered {
            try withReader { txn, _ in
                try withStoredKey(key) { k in
                    var v = MDB_val()
                    let rc = mdb_get(txn, dbi, &k, &v)
                    if rc == MDB_NOTFOUND { return try body(nil) }
                    try check(rc, "mdb_get")
                    return try body(try storedBytes(v, "mdb_get: value"))
                }
            }
        }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try entered {
            try withReader { _, cursor in
                var k = MDB_val(), v = MDB_val()
                var rc: Int32
                if let start {
                    rc = withStoredKey(start) { sk in
                        k = sk
                        return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
                    }
                } else {
                    rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                }
                var n = 0
                while rc == 0 {
                    let key = try userKey(k)
                    if let end, compareBytes(key, end) >= 0 { return n }
                    n += 1
                    if try !visit(key, try storedBytes(v, "mdb_cursor_get: value")) { return n }
                    if limit > 0 && n >= limit { return n }
                    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
                }
                if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get") }
                return n
            }
        }
    }

    // MARK: Writes

    /// One write transaction; `body` applies the changes and returns the change in totals.
    func writeTransaction(_ body: (OpaquePointer) throws -> Totals) throws {
        try entered {
            try refuseWriteIfReadOnly("write")
            var txn: OpaquePointer? = nil
            try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin (write)")
            let delta: Totals
            do { delta = try body(txn!) } catch { mdb_txn_abort(txn); throw error }
            try check(mdb_txn_commit(txn), "mdb_txn_commit")
            if delta.keys != 0 || delta.keyBytes != 0 || delta.valueBytes != 0 {
                totals.withLock { t in
                    t.keys += delta.keys; t.keyBytes += delta.keyBytes; t.valueBytes += delta.valueBytes
                }
            }
        }
    }

    @inline(__always)
    func putIn(_ txn: OpaquePointer, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ d: inout Totals) throws {
        try withStoredKey(key) { k in
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress ?? UnsafeRawBufferPointer.emptyNonNull.baseAddress!))
            let rc = mdb_put(txn, dbi, &k, &v, UInt32(MDB_NOOVERWRITE))
            if rc == 0 {
                d.keys += 1; d.keyBytes += Int64(key.count); d.valueBytes += Int64(value.count)
                return
            }
            guard rc == MDB_KEYEXIST else { try check(rc, "mdb_put"); return }
            // v now holds the existing value.
            d.valueBytes -= Int64(v.mv_size)
            var nv = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress ?? UnsafeRawBufferPointer.emptyNonNull.baseAddress!))
            try check(mdb_put(txn, dbi, &k, &nv, 0), "mdb_put")
            d.valueBytes += Int64(value.count)
        }
    }

    @inline(__always)
    func deleteIn(_ txn: OpaquePointer, _ key: UnsafeRawBufferPointer, _ d: inout Totals) throws {
        try withStoredKey(key) { k in
            var v = MDB_val()
            let rc = mdb_get(txn, dbi, &k, &v)
            if rc == MDB_NOTFOUND { return }
            try check(rc, "mdb_get")
            let size = Int64(v.mv_size)
            try check(mdb_del(txn, dbi, &k, nil), "mdb_del")
            d.keys -= 1; d.keyBytes -= Int64(key.count); d.valueBytes -= size
        }
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try writeTransaction { txn in
            var d = Totals()
            try putIn(txn, key, value, &d)
            return d
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try writeTransaction { txn in
            var d = Totals()
            try deleteIn(txn, key, &d)
            return d
        }
    }

    public func write(_ batch: WriteBatch) throws {
        try writeTransaction { txn in
            var d = Totals()
            try batch.forEach { op, k, v in
                switch op {
                case .put: try putIn(txn, k, v, &d)
                case .delete: try deleteIn(txn, k, &d)
                }
            }
            return d
        }
    }

    public func sync() throws {
        try entered {
            if let e = syncer?.firstError.withLock({ $0 }) { throw e }
            guard access == .readWrite else { return }  // nothing written, nothing to sync
            try check(mdb_env_sync(env, 1), "mdb_env_sync")
        }
    }

    // MARK: Durability

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none:
            DurabilityPromise(.processCrash, "MDB_NOSYNC: each commit is written with pwrite(2), never synced")
        case .everyWrite:
            DurabilityPromise(.powerLoss, "synced commits: LMDB fdatasyncs the data pages, then the meta page, before the ack")
        case .group:
            DurabilityPromise(.powerLoss, "synced commits; LMDB has no group commit, so each writer pays its own syncs")
        case .periodic(let ms):
            DurabilityPromise(.powerLossBoundedWindow, "MDB_NOSYNC plus mdb_env_sync(force) every \(ms) ms")
        }
    }

    // MARK: Stats

    public func stats() throws -> StorageStats {
        try entered {
            if let e = syncer?.firstError.withLock({ $0 }) { throw e }
            var st = MDB_stat()
            try withReader { txn, _ in try check(mdb_stat(txn, dbi, &st), "mdb_stat") }
            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info), "mdb_env_info")
            let t = totals.withLock { $0 }
            var s = StorageStats()
            s.totalKeys = UInt64(max(0, t.keys))
            s.totalSizeBytes = UInt64(max(0, t.keyBytes + t.valueBytes))
            s.averageKeySize = t.keys > 0 ? UInt64(t.keyBytes / t.keys) : 0
            s.averageValueSize = t.keys > 0 ? UInt64(t.valueBytes / t.keys) : 0
            let pageSize = UInt64(st.ms_psize)
            let dataFile = (try? fs.fileSize(joinPath(path, "data.mdb"))) ?? 0
            s.diskUsageBytes = UInt64(max(0, dataFile))
            s.treeHeight = UInt64(st.ms_depth)
            let usedPages = UInt64(info.me_last_pgno) + 1
            let treePages = UInt64(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages)
            s.spaceAmplification = s.totalSizeBytes > 0 ? Double(usedPages * pageSize) / Double(s.totalSizeBytes) : nil
            s.extra = [
                .init("page_size", Double(pageSize)),
                .init("branch_pages", Double(st.ms_branch_pages)),
                .init("leaf_pages", Double(st.ms_leaf_pages)),
                .init("overflow_pages", Double(st.ms_overflow_pages)),
                .init("used_pages", Double(usedPages)),
                .init("map_size_bytes", Double(info.me_mapsize)),
                .init("last_txn_id", Double(info.me_last_txnid)),
                .init("readers_in_use", Double(info.me_numreaders)),
            ]
            // Pages allocated but not in the main tree: LMDB's free list and its own bookkeeping.
            s.freePages = usedPages > treePages + 2 ? usedPages - treePages - 2 : 0
            return s
        }
    }

    // MARK: Close

    public func close() throws {
        let task: PeriodicTask? = lock.withWriteLock {
            let t = syncer
            syncer = nil
            return t
        }
        task?.stop()
        try lock.withWriteLock {
            guard !closed else { return }
            closed = true
            defer { closeEnvironment(); for l in storeLocks { l.release() } }
            if let e = task?.firstError.withLock({ $0 }) { throw e }
            guard access == .readWrite, env != nil else { return }
            try check(mdb_env_sync(env, 1), "mdb_env_sync (close)")
        }
    }

    /// The LMDB library version ("0.9.31").
    public static func libraryVersion() -> String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        _ = mdb_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}

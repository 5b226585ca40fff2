#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRocksDB
import OrbitCore
import Synchronization

/// The `rocksdb` backend: RocksDB (the system's librocksdb, through its C API) behind `StorageEngine`.
///
/// **Layout.** `path` is the RocksDB database directory itself (`ldb --db=<path> scan` reads it);
/// snapshots are RocksDB checkpoints under `<path>/orbit-snapshots/<name>`, a directory RocksDB ignores.
/// See docs/formats/rocksdb.md.
///
/// **Thread safety.** Every method may be called from any number of threads at once. Reads, writes,
/// scans, `sync`, `stats` and snapshot creation run concurrently (RocksDB itself is thread-safe; the
/// engine shares one `rocksdb_writeoptions_t`/`rocksdb_readoptions_t`, which RocksDB only reads).
/// `close()` and `restoreSnapshot` are exclusive: they stop admitting operations, wait for those in
/// flight to finish, then run alone; operations arriving meanwhile wait for a restore and throw
/// `.closed` after a close. Snapshot create/drop/restore are serialized among themselves. The cost
/// on the hot path is one atomic increment and decrement per call (no lock). Closures passed to
/// `get`/`scan` run inside the operation and must not call `close` or `restoreSnapshot` (deadlock).
///
/// **Durability** (`durabilityPromise(for:)`): `none` — WAL written with write(2), no sync;
/// `every-write` and `group` — `WriteOptions.sync = true` (fdatasync of the WAL before the ack; for
/// concurrent writers RocksDB's write-group leader appends the whole group to the WAL and syncs once,
/// so `group` needs no machinery of ours and is identical to `every-write` with one writer);
/// `periodic(ms)` — no sync per write, a background thread calls `rocksdb_flush_wal(db, sync: 1)`
/// every `ms`. `rocksdb.wal=false` is refused unless the mode is `none`.
///
/// **Disk bytes per operation** (`ThreadIO`): a write adds what it appends to the WAL — the
/// write-batch representation (12-byte header; per entry a tag byte, varint lengths, key, value) plus
/// the 7-byte log-record header (one per 32 KiB log block a record spans); nothing when the WAL is
/// off. With `rocksdb.count_read_bytes` (off by default: ~5% per cached read), gets and scans add
/// the SST block bytes RocksDB read from files for the call (perf context `block_read_byte`;
/// block-cache and memtable hits read 0); otherwise reads report 0. Flushes and compactions run on
/// RocksDB's threads and show in `stats()`, not per operation.
///
/// **Hot path.** put/delete fill a per-thread reusable `rocksdb_writebatch_t` and call
/// `rocksdb_write` (as db_bench does; `rocksdb_put` would build and free a batch per call), get uses
/// `rocksdb_get_pinned` and hands the pinned bytes to the closure without copying (the C API
/// allocates one small PinnableSlice wrapper per get; there is no way around it). The calling
/// thread's RocksDB perf level is set to `disable` (see `ThreadPerf`).
public final class RocksDBEngine: StorageEngine, @unchecked Sendable {
    public let backendName = RocksDBDescriptor.name
    public let durability: DurabilityMode
    public let options: RocksDBOptions
    /// The RocksDB database directory.
    public let path: String
    public var dataDirectory: String? { path }

    // Replaced only by restoreSnapshot, under gate.exclusive; read by operations inside the gate.
    var db: OpaquePointer
    /// Durability `periodic(ms)`: `rocksdb_flush_wal(db, sync: 1)` every ms on a background thread.
    var syncer: PeriodicTask?

    let dbOptions: OpaquePointer
    let cache: OpaquePointer?
    let writeOptions: OpaquePointer
    let readOptions: OpaquePointer
    let gate: Gate
    let snapshotLock = Lock<Void>(())
    /// One byte, so empty keys and values reach RocksDB with a non-NULL pointer.
    let emptyBytes: UnsafeMutablePointer<CChar>
    let walOn: Bool
    let countReads: Bool
    /// Perf level for reads: `enable_count` when counting read bytes, else `disable` (see ThreadPerf).
    let readPerfLevel: Int32
    /// `.readOnly`: opened with `rocksdb_open_for_read_only`; writes throw `.readOnly`.
    public let access: StoreAccess
    /// A read-write open's flock on RocksDB's LOCK, taken before `rocksdb_open`: RocksDB rotates its
    /// info LOG before it finds its own (fcntl) lock held, so without this a refused second open
    /// would still change the store. Read-only opens run beside a writer (as RocksDB allows).
    let storeLock: FileLock?
    /// Read-only opens: RocksDB's info LOG goes to this private directory (removed at close), so the
    /// store directory gains no LOG and loses no LOG.old rotation (see `openReadOnly`).
    let privateLogDirectory: String?
    /// Directory under `path` that holds snapshots (checkpoints).
    public var snapshotDirectory: String { path + "/" + Self.snapshotDirName }
    public static let snapshotDirName = "orbit-snapshots"

    /// Opens (creating if missing) the RocksDB store in `path`.
    ///
    /// `access: .readOnly` opens an existing store with `rocksdb_open_for_read_only` (as `ldb` does):
    /// the WAL is replayed into memory, nothing is flushed, no OPTIONS file is written, no snapshot
    /// leftovers are cleaned up and the info LOG goes to a private temporary directory, so no byte of
    /// the store changes and a store in a directory the user cannot write can be read.
    ///
    /// Throws `.invalidConfig` for `rocksdb.wal=false` with any durability other than `none`, and the
    /// RocksDB error (`.io`, `.corruption`, `.engine`) when the store cannot be opened.
    public init(path: String, options: RocksDBOptions, durability: DurabilityMode, access: StoreAccess = .readWrite) throws {
        try options.check(durability: durability, ranges: false)
        self.access = access
        self.path = path
        self.options = options
        self.durability = durability
        self.walOn = options.wal
        self.countReads = options.countReadBytes
        self.readPerfLevel = options.countReadBytes ? ThreadPerf.counting : ThreadPerf.disabled
        self.gate = Gate(path: path)

        if access == .readWrite {
            try disk.createDirectory(path, intermediates: true)
            storeLock = try POSIXFileSystem().lockWithoutNote(path + "/LOCK")
            try Self.recoverInterruptedSnapshotWork(path: path)
        } else {
            storeLock = nil
        }
        let (opts, cache) = Self.makeOptions(options)
        var logDirectory: String? = nil
        if access == .readOnly {
            rocksdb_options_set_create_if_missing(opts, 0)
            logDirectory = Self.makePrivateLogDirectory()
            if let logDirectory { rocksdb_options_set_db_log_dir(opts, logDirectory) }
        }
        self.privateLogDirectory = logDirectory
        let wo = rocksdb_writeoptions_create()!
        rocksdb_writeoptions_set_sync(wo, durability.syncsBeforeAck ? 1 : 0)
        if !options.wal { rocksdb_writeoptions_disable_WAL(wo, 1) }
        let ro = rocksdb_readoptions_create()!
        let empty = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        empty.initialize(to: 0)

        let opened: OpaquePointer
        do {
            opened = access == .readOnly ? try Self.openReadOnly(opts, path) : try Self.openDB(opts, path)
        } catch {
            if let logDirectory { try? disk.removeTree(logDirectory) }
            rocksdb_writeoptions_destroy(wo); rocksdb_readoptions_destroy(ro)
            rocksdb_options_destroy(opts); if let cache { rocksdb_cache_destroy(cache) }
            empty.deallocate()
            throw error
        }
        self.db = opened
        self.dbOptions = opts
        self.cache = cache
        self.writeOptions = wo
        self.readOptions = ro
        self.emptyBytes = empty
        do {
            try startSyncer()
        } catch {
            rocksdb_close(opened)
            gate.markClosed()
            releaseOptions()
            throw error
        }
    }

    deinit {
        // A store that was never closed: close it (best effort) so nothing leaks and the WAL is synced.
        if !gate.isClosed { try? close() }
    }

    // MARK: Options

    /// Builds the RocksDB options from the knobs. Every knob lands here.
    static func makeOptions(_ o: RocksDBOptions) -> (OpaquePointer, OpaquePointer?) {
        let opts = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(opts, 1)
        rocksdb_options_set_write_buffer_size(opts, o.writeBufferMB << 20)
        rocksdb_options_set_max_background_jobs(opts, Int32(o.maxBackgroundJobs))
        rocksdb_options_set_max_open_files(opts, Int32(o.maxOpenFiles))
        rocksdb_options_set_wal_recovery_mode(opts, Int32(RocksDBOptions.walRecoveryModes.firstIndex(of: o.walRecoveryMode) ?? 2))
        rocksdb_options_set_compression(opts, Int32(o.compression ? rocksdb_lz4_compression : rocksdb_no_compression))
        if o.statistics { rocksdb_options_enable_statistics(opts) }

        let table = rocksdb_block_based_options_create()!
        var cache: OpaquePointer? = nil
        if o.blockCacheMB > 0 {
            cache = rocksdb_cache_create_lru(o.blockCacheMB << 20)
            rocksdb_block_based_options_set_block_cache(table, cache)
        } else {
            rocksdb_block_based_options_set_no_block_cache(table, 1)
        }
        if o.bloomBitsPerKey > 0 {
            // The table options take ownership of the policy.
            rocksdb_block_based_options_set_filter_policy(
                table, rocksdb_filterpolicy_create_bloom_full(Double(o.bloomBitsPerKey)))
        }
        // The factory copies the table options (and shares the cache and policy): free ours.
        rocksdb_options_set_block_based_table_factory(opts, table)
        rocksdb_block_based_options_destroy(table)
        return (opts, cache)
    }

    static func openDB(_ opts: OpaquePointer, _ path: String) throws -> OpaquePointer {
        try checked("open", at: path) { err in rocksdb_open(opts, path, err) }!
    }

    /// `rocksdb_open_for_read_only` (error_if_wal_file_exists 0: the WAL is replayed into memory).
    static func openReadOnly(_ opts: OpaquePointer, _ path: String) throws -> OpaquePointer {
        try checked("open read-only", at: path) { err in rocksdb_open_for_read_only(opts, path, 0, err) }!
    }

    /// A fresh directory under /tmp for a read-only open's info LOG: with `db_log_dir` set, RocksDB
    /// writes (and rotates) its LOG there instead of in the store. Nil if none can be made (then
    /// RocksDB's default applies).
    static func makePrivateLogDirectory() -> String? {
        var template = Array("/tmp/orbit-rocksdb-ro-log-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) }
    }

    @inline(__always)
    func refuseWriteIfReadOnly(_ what: @autoclosure () -> String) throws {
        if _slowPath(access == .readOnly) {
            throw OrbitError(.readOnly, "\(what()): the rocksdb store is open read-only", at: path)
        }
    }

    func startSyncer() throws {
        guard access == .readWrite else { return }
        if case .periodic(let ms) = durability {
            nonisolated(unsafe) let handle = db  // RocksDB's DB handle is thread-safe; stopped before close
            let path = self.path
            syncer = try PeriodicTask(periodMillis: ms, name: "rocksdb-wal-sync") {
                var err: UnsafeMutablePointer<CChar>? = nil
                rocksdb_flush_wal(handle, 1, &err)
                if let err { throw takeRocksError(err, "periodic WAL sync", at: path) }
            }
        }
    }

    /// Stops the syncer, makes everything durable and closes the DB handle. Returns the first error.
    func shutDownDB() -> OrbitError? {
        var first: OrbitError? = nil
        if let syncer {
            syncer.stop()
            first = syncer.firstError.withLock { $0 }
            self.syncer = nil
        }
        if access == .readWrite {
            do { try syncLocked() } catch let e as OrbitError { first = first ?? e } catch {}
        }
        rocksdb_close(db)
        return first
    }

    func releaseOptions() {
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_options_destroy(dbOptions)
        if let cache { rocksdb_cache_destroy(cache) }
        emptyBytes.deallocate()
        if let privateLogDirectory { try? disk.removeTree(privateLogDirectory) }
    }

    // MARK: Durability

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none:
            DurabilityPromise(.processCrash,
                "each write is appended to the WAL with write(2) before the ack, not synced; "
                    + "with rocksdb.wal=false writes since the last memtable flush are lost even on a process kill")
        case .everyWrite:
            DurabilityPromise(.powerLoss, "WriteOptions.sync: the WAL is fdatasync'd before each write is acknowledged")
        case .group:
            DurabilityPromise(.powerLoss,
                "WriteOptions.sync with RocksDB's group commit: the write-group leader appends concurrent "
                    + "writers' batches to the WAL and syncs once; each writer is acknowledged after that sync")
        case .periodic(let ms):
            DurabilityPromise(.powerLossBoundedWindow,
                "WAL appended with write(2) before the ack; a background thread syncs it every \(ms) ms, "
                    + "so a power loss loses at most the last ~\(ms) ms (plus one sync) of acknowledged writes")
        }
    }

    /// The promise of this instance, which also knows about `rocksdb.wal`.
    public var durabilityPromise: DurabilityPromise {
        if !walOn {
            return DurabilityPromise(.processCrash,
                "WAL off: acknowledged writes are only in the memtable until a flush (sync(), close(), "
                    + "a full memtable); a process kill loses them, flushed data survives")
        }
        return Self.durabilityPromise(for: durability)
    }

    // MARK: Hot path

    @inline(__always)
    func bytes(_ b: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        if let p = b.baseAddress { return p.assumingMemoryBound(to: CChar.self) }
        return UnsafePointer(emptyBytes)
    }

    /// What a write batch of `repBytes` adds to the WAL: the batch plus a 7-byte record header per
    /// 32 KiB log block it spans.
    @inline(__always)
    static func walBytes(batchRep repBytes: Int) -> Int {
        repBytes &+ 7 &* (1 &+ repBytes / (32_768 - 7))
    }

    @inline(__always)
    static func varintSize(_ n: Int) -> Int {
        n < 1 << 7 ? 1 : n < 1 << 14 ? 2 : n < 1 << 21 ? 3 : n < 1 << 28 ? 4 : 5
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try gate.enter()
        defer { gate.leave() }
        try refuseWriteIfReadOnly("put")
        ThreadPerf.use(ThreadPerf.disabled)
        var err: UnsafeMutablePointer<CChar>? = nil
        let wb = ThreadBatch.get()
        rocksdb_writebatch_clear(wb)
        rocksdb_writebatch_put(wb, bytes(key), key.count, bytes(value), value.count)
        rocksdb_write(db, writeOptions, wb, &err)
        if let err { throw takeRocksError(err, "put", at: path) }
        if walOn {
            let rep = 12 &+ 1 &+ Self.varintSize(key.count) &+ key.count &+ Self.varintSize(value.count) &+ value.count
            ThreadIO.addWritten(Self.walBytes(batchRep: rep))
        }
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        try gate.enter()
        defer { gate.leave() }
        var err: UnsafeMutablePointer<CChar>? = nil
        let perf = ThreadPerf.use(readPerfLevel)
        let slice = rocksdb_get_pinned(db, readOptions, bytes(key), key.count, &err)
        if countReads { ThreadPerf.accountRead(perf) }
        if let err {
            if let slice { rocksdb_pinnableslice_destroy(slice) }
            throw takeRocksError(err, "get", at: path)
        }
        guard let slice else { return try body(nil) }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var len = 0
        let p = rocksdb_pinnableslice_value(slice, &len)
        return try body(UnsafeRawBufferPointer(start: p, count: len))
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try gate.enter()
        defer { gate.leave() }
        try refuseWriteIfReadOnly("delete")
        ThreadPerf.use(ThreadPerf.disabled)
        var err: UnsafeMutablePointer<CChar>? = nil
        let wb = ThreadBatch.get()
        rocksdb_writebatch_clear(wb)
        rocksdb_writebatch_delete(wb, bytes(key), key.count)
        rocksdb_write(db, writeOptions, wb, &err)
        if let err { throw takeRocksError(err, "delete", at: path) }
        if walOn { ThreadIO.addWritten(Self.walBytes(batchRep: 12 &+ 1 &+ Self.varintSize(key.count) &+ key.count)) }
    }

    public func write(_ batch: WriteBatch) throws {
        if batch.isEmpty {
            // Nothing to apply; still refuse a closed engine.
            try gate.enter()
            gate.leave()
            return
        }
        try gate.enter()
        defer { gate.leave() }
        try refuseWriteIfReadOnly("write batch")
        let wb = ThreadBatch.get()
        rocksdb_writebatch_clear(wb)
        batch.forEach { op, k, v in
            switch op {
            case .put: rocksdb_writebatch_put(wb, bytes(k), k.count, bytes(v), v.count)
            case .delete: rocksdb_writebatch_delete(wb, bytes(k), k.count)
            }
        }
        ThreadPerf.use(ThreadPerf.disabled)
        var err: UnsafeMutablePointer<CChar>? = nil
        rocksdb_write(db, writeOptions, wb, &err)
        if walOn {
            var size = 0
            _ = rocksdb_writebatch_data(wb, &size)
            if err == nil { ThreadIO.addWritten(Self.walBytes(batchRep: size)) }
        }
        // Do not keep a huge batch's buffer alive on this thread.
        if batch.byteCount > 1 << 20 { ThreadBatch.reset() }
        if let err { throw takeRocksError(err, "write batch", at: path) }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        try gate.enter()
        defer { gate.leave() }
        if let start, let end, compareBytes(start, end) >= 0 { return 0 }
        // The upper bound lives in the read options, so a bounded scan needs its own (the shared one
        // is used concurrently). `end`'s bytes stay valid for the whole call, as RocksDB requires.
        var own: OpaquePointer? = nil
        if let end {
            own = rocksdb_readoptions_create()
            rocksdb_readoptions_set_iterate_upper_bound(own, bytes(end), end.count)
        }
        defer { if let own { rocksdb_readoptions_destroy(own) } }
        let perf = ThreadPerf.use(readPerfLevel)
        guard let it = rocksdb_create_iterator(db, own ?? readOptions) else {
            throw OrbitError(.engine, "rocksdb could not create an iterator", at: path)
        }
        defer {
            rocksdb_iter_destroy(it)
            if countReads { ThreadPerf.accountRead(perf) }
        }
        if let start { rocksdb_iter_seek(it, bytes(start), start.count) } else { rocksdb_iter_seek_to_first(it) }
        var visited = 0
        while rocksdb_iter_valid(it) != 0 {
            if limit > 0 && visited >= limit { break }
            var kl = 0, vl = 0
            let k = rocksdb_iter_key(it, &kl)
            let v = rocksdb_iter_value(it, &vl)
            visited += 1
            if try !visit(UnsafeRawBufferPointer(start: k, count: kl), UnsafeRawBufferPointer(start: v, count: vl)) {
                break
            }
            rocksdb_iter_next(it)
        }
        try checked("scan", at: path) { err in rocksdb_iter_get_error(it, err) }
        return visited
    }

    // MARK: Sync and close

    public func sync() throws {
        try gate.enter()
        defer { gate.leave() }
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }
        guard access == .readWrite else { return }  // nothing written, nothing to sync
        try syncLocked()
    }

    /// WAL on: write out and fdatasync the WAL (RocksDB also syncs the WAL directory when a new log
    /// was created since). WAL off: flush the memtables to SST files and wait (RocksDB syncs them and
    /// the MANIFEST).
    func syncLocked() throws {
        if walOn {
            try checked("WAL sync", at: path) { err in rocksdb_flush_wal(db, 1, err) }
        } else {
            let fo = rocksdb_flushoptions_create()
            defer { rocksdb_flushoptions_destroy(fo) }
            rocksdb_flushoptions_set_wait(fo, 1)
            try checked("memtable flush", at: path) { err in rocksdb_flush(db, fo, err) }
        }
    }

    /// Syncs (see `sync()`), closes the database and frees every RocksDB object. Later calls throw
    /// `.closed`. The handle is released even when the final sync fails (that error is thrown).
    public func close() throws {
        var failure: OrbitError? = nil
        try gate.exclusive {
            failure = shutDownDB()
            releaseOptions()
            storeLock?.release()
            return ((), false)
        }
        if let failure { throw failure }
    }

    // MARK: Version

    /// The version of the librocksdb this process runs, e.g. "7.8.3".
    ///
    /// The C API has no version call. We find the librocksdb shared object mapped into this process
    /// (`/proc/self/maps`), follow its symlinks and read the version from its file name
    /// (`librocksdb.so.7.8.3`). When that fails (a static or oddly named library), we open a
    /// throw-away store in a temporary directory and read the `rocksdb_version` line RocksDB writes
    /// into its OPTIONS file. Computed once.
    public static func libraryVersion() -> String { cachedLibraryVersion }

    private static let cachedLibraryVersion: String = {
        if let v = versionFromLoadedLibrary() { return v }
        if let v = versionFromScratchStore() { return v }
        return "unknown"
    }()

    static func versionFromLoadedLibrary() -> String? {
        // The mapping that holds librocksdb, from /proc/self/maps (Glibc's module has no dladdr).
        guard let maps = try? disk.readFile("/proc/self/maps", limit: 16 << 20) else { return nil }
        var mapped: String? = nil
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let file = line[slash...]
            if file.split(separator: "/").last?.hasPrefix("librocksdb.so") == true { mapped = String(file); break }
        }
        guard let mapped, let real = realpath(mapped, nil) else { return nil }
        defer { free(real) }
        let file = String(cString: real).split(separator: "/").last.map(String.init) ?? ""
        let prefix = "librocksdb.so."
        guard file.hasPrefix(prefix) else { return nil }
        let v = file.dropFirst(prefix.count)
        let parts = v.split(separator: ".")
        guard parts.count == 3, parts.allSatisfy({ p in !p.isEmpty && p.allSatisfy { $0.isNumber } }) else { return nil }
        return String(v)
    }

    static func versionFromScratchStore() -> String? {
        var template = Array("/tmp/orbit-rocksdb-version-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) })
        else { return nil }
        defer { try? disk.removeTree(dir) }
        let opts = rocksdb_options_create()!
        defer { rocksdb_options_destroy(opts) }
        rocksdb_options_set_create_if_missing(opts, 1)
        guard let db = try? openDB(opts, dir) else { return nil }
        rocksdb_close(db)
        return optionsFileValue(in: dir, key: "rocksdb_version")
    }

    /// The newest OPTIONS-<n> file RocksDB wrote in `dir`.
    static func latestOptionsFile(in dir: String) -> String? {
        guard let entries = try? disk.list(directory: dir) else { return nil }
        let best = entries.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("OPTIONS-"), !name.hasSuffix(".dbtmp"),
                  let n = Int(name.dropFirst("OPTIONS-".count)) else { return nil }
            return (n, name)
        }.max { $0.0 < $1.0 }
        return best.map { dir + "/" + $0.1 }
    }

    /// `key=value` from the newest OPTIONS file in `dir` (first occurrence, any section).
    static func optionsFileValue(in dir: String, key: String) -> String? {
        guard let file = latestOptionsFile(in: dir), let bytes = try? disk.readFile(file) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let t = String(line).trimmingWhitespace()
            if t.hasPrefix(key + "=") { return String(t.dropFirst(key.count + 1)) }
        }
        return nil
    }

    /// The newest OPTIONS file of this store (RocksDB rewrites it at every open): the options
    /// RocksDB actually runs with, for checking that every knob landed.
    public func optionsFilePath() -> String? { Self.latestOptionsFile(in: path) }
}

// MARK: - Per-thread helpers

/// One reusable `rocksdb_writebatch_t` per thread (process-wide key, not per engine: a batch is not
/// tied to a database), so `write(_:)` allocates nothing per call once warmed up.
enum ThreadBatch {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { p in
            #if canImport(Darwin)
            rocksdb_writebatch_destroy(OpaquePointer(p))
            #else
            if let p { rocksdb_writebatch_destroy(OpaquePointer(p)) }
            #endif
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return k
    }()

    @inline(__always)
    static func get() -> OpaquePointer {
        if let p = pthread_getspecific(key) { return OpaquePointer(p) }
        let wb = rocksdb_writebatch_create()!
        pthread_setspecific(key, UnsafeRawPointer(wb))
        return wb
    }

    static func reset() {
        if let p = pthread_getspecific(key) {
            rocksdb_writebatch_destroy(OpaquePointer(p))
            pthread_setspecific(key, nil)
        }
    }
}

/// Per-thread RocksDB perf state: the thread's perf level and, for read-byte counting, its perf
/// context and the last `block_read_byte` reading.
///
/// RocksDB's perf level is thread-local and defaults to `enable_count`, which makes every key
/// comparison, block read, etc. bump a thread-local counter: about 30% more instructions per
/// memtable insert than `db_bench`, which runs at `disable` (its `--perf_level=1`). So the engine sets
/// the level on each calling thread, per operation kind: `disable` for writes, and for reads
/// `enable_count` when `rocksdb.count_read_bytes` is on (the counter we read needs it), `disable`
/// otherwise. Changing it is one C call, made only when the thread's level differs.
enum ThreadPerf {
    struct Slot {
        var level: Int32 = -1
        var context: OpaquePointer? = nil
        var last: UInt64 = 0
    }

    static let disabled = Int32(rocksdb_disable)
    static let counting = Int32(rocksdb_enable_count)

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { p in
            #if canImport(Darwin)
            let slot = p.assumingMemoryBound(to: Slot.self)
            #else
            guard let slot = p?.assumingMemoryBound(to: Slot.self) else { return }
            #endif
            if let c = slot.pointee.context { rocksdb_perfcontext_destroy(c) }
            slot.deallocate()
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return k
    }()

    /// The calling thread's slot, created on first use.
    @inline(__always)
    static func slot() -> UnsafeMutablePointer<Slot> {
        if let raw = pthread_getspecific(key) { return raw.assumingMemoryBound(to: Slot.self) }
        return makeSlot()
    }

    @inline(never)
    static func makeSlot() -> UnsafeMutablePointer<Slot> {
        let slot = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
        slot.initialize(to: Slot())
        pthread_setspecific(key, slot)
        return slot
    }

    /// Sets the thread's perf level to `level` (a C call only when it changes). Returns the slot.
    @inline(__always)
    @discardableResult
    static func use(_ level: Int32) -> UnsafeMutablePointer<Slot> {
        let s = slot()
        if _slowPath(s.pointee.level != level) { change(s, level) }
        return s
    }

    @inline(never)
    static func change(_ s: UnsafeMutablePointer<Slot>, _ level: Int32) {
        rocksdb_set_perf_level(level)
        s.pointee.level = level
        if level == counting && s.pointee.context == nil {
            let c = rocksdb_perfcontext_create()!
            s.pointee.context = c
            s.pointee.last = rocksdb_perfcontext_metric(c, Int32(rocksdb_block_read_byte))
        }
    }

    /// After a counted read: adds the SST block bytes read since the last reading to `ThreadIO`.
    @inline(__always)
    static func accountRead(_ s: UnsafeMutablePointer<Slot>) {
        guard let c = s.pointee.context else { return }
        let now = rocksdb_perfcontext_metric(c, Int32(rocksdb_block_read_byte))
        let last = s.pointee.last
        s.pointee.last = now
        // Someone may have reset the perf context (now < last): count nothing for that call.
        if now > last { ThreadIO.addRead(Int(truncatingIfNeeded: now &- last)) }
    }
}

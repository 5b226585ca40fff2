import OrbitCore
import Synchronization

/// A published, immutable view of the tree: what readers see.
final class Version: Sendable {
    let root: Page?
    let height: Int
    let keys: Int64
    let keyBytes: Int64
    let valueBytes: Int64
    let txid: UInt64
    let closed: Bool

    init(root: Page?, height: Int, keys: Int64, keyBytes: Int64, valueBytes: Int64, txid: UInt64, closed: Bool = false) {
        self.root = root; self.height = height; self.keys = keys; self.keyBytes = keyBytes
        self.valueBytes = valueBytes; self.txid = txid; self.closed = closed
    }
}

/// The `cow` backend: a hand-written copy-on-write B+tree, paged on disk through the file layer.
///
/// **Files** (docs/formats/): `cow.db`, the page file — two meta pages (cow-meta-page.md) then tree,
/// overflow, free-list and snapshot-list pages (btree-page.md) — and `cow.wal`, the write-ahead log
/// (cow-wal.md).
///
/// **Two designs.** With `cow.wal=true` (default) a commit appends one checksummed record to the
/// WAL and syncs it per the durability mode; the changed pages stay in memory and a checkpoint
/// (every `cow.snapshot_interval` commits or `cow.checkpoint_bytes` of WAL) writes them, syncs,
/// writes the other meta page, syncs, and trims the WAL. With `cow.wal=false` every commit is a
/// checkpoint (LMDB's and bbolt's design): pages, sync, meta, sync. Open = newest valid meta page
/// + WAL replay.
///
/// **Commit protocol** (`checkpoint`): write every dirty page (all at page numbers the durable meta
/// does not reference), fdatasync, write the meta page that is *not* the durable one, fdatasync.
/// The first sync orders the pages before the meta: a meta page that reaches the disk never points
/// at pages that did not. The second makes the commit durable before it is acknowledged (and
/// before the WAL is trimmed). A torn meta write fails its checksum and the other meta wins.
///
/// **Memory.** Every live page is held in memory (the store must fit in RAM): pages are read and
/// verified once at open, and reads never touch the disk, as with LMDB's map of a store that fits.
///
/// **Thread safety.** One writer at a time (a mutex); any number of readers, which take the
/// published root (one short mutex hold) and walk immutable pages with no lock, so readers never
/// block the writer and see one consistent commit for a whole get or scan. Checkpoints run on the
/// committing writer's thread. Closures passed to `get`/`scan` must not call back into the engine.
///
/// **Durability.** WAL mode: `none` — the record is written with write(2), no sync; `every-write`
/// — fdatasync of the WAL before the ack, inside the commit; `group` — writers queue their records
/// and the first to sync covers every record written so far (one fdatasync per group);
/// `periodic(ms)` — a background fdatasync every `ms`. Checkpoints sync unless the mode is `none`.
/// Pure copy-on-write mode: `none` writes pages and meta with no sync; `every-write`, `group` and
/// `periodic` sync twice per commit (a pure copy-on-write commit cannot defer its syncs without
/// risking a durable meta page ahead of its pages, so `periodic` gets the stronger promise).
public final class CowBTree<FS: FileSystem>: StorageEngine, @unchecked Sendable {
    public let backendName = "cow"
    public let durability: DurabilityMode
    public let options: CowOptions
    public let path: String
    public var dataDirectory: String? { path }
    let fs: FS

    public static var pageFileName: String { "cow.db" }
    public static var walFileName: String { "cow.wal" }

    // Published view.
    let current: Mutex<Version>

    // Writer state: everything below is used only under `writeLock`.
    let writeLock = Mutex<Void>(())
    let tree: TreeWriter
    let dataFile: FS.File
    var walFile: FS.File?
    var meta: MetaPage
    var metaSlot: Int
    var freeListPages: [UInt64] = []
    var snapshotListPages: [UInt64] = []
    var snapshots: [SnapshotRecord] = []
    var snapshotRoots: [String: Page] = [:]
    var snapshotsChanged = false
    var walBuffer: [UInt8] = []
    var walBytes = 0
    var commitsSinceCheckpoint = 0
    var failure: OrbitError?
    var ioBuffer: UnsafeMutableRawPointer
    static var ioBufferPages: Int { 64 }

    // Counters for stats.
    var checkpointCount: UInt64 = 0
    var checkpointNanos: UInt64 = 0
    var commitCount: UInt64 = 0
    var pagesWritten: UInt64 = 0

    // Group commit.
    let syncLock = Mutex<Void>(())
    let walWrittenLSN = Atomic<UInt64>(0)
    let walSyncedLSN = Atomic<UInt64>(0)
    var syncer: PeriodicTask?

    /// Opens (creating if missing) the store in `path`.
    public init(path: String, options: CowOptions, durability: DurabilityMode, fileSystem: FS) throws {
        try options.validate(durability: durability)
        self.path = path
        self.options = options
        self.durability = durability
        self.fs = fileSystem
        try fs.createDirectory(path, intermediates: true)
        let dataPath = joinPath(path, Self.pageFileName)
        let existed = try fs.exists(dataPath)
        let file = try fs.open(dataPath, .create)
        let fileSize = try file.size()
        if !existed || fileSize == 0 {
            var m = MetaPage(pageSize: options.pageSize, maxKeysPerNode: options.maxKeysPerNode)
            m.txid = 0
            try m.encode().withUnsafeBytes { try file.write($0, at: 0) }
            try file.truncate(to: Int64(options.pageSize) * 2)
            try file.fsync()
            try fs.syncDirectory(path)
        }
        self.dataFile = file
        self.ioBuffer = UnsafeMutableRawPointer.allocate(byteCount: options.pageSize * Self.ioBufferPages, alignment: 4096)
        do {
            let (m, slot) = try Self.chooseMeta(file, options: options)
            self.meta = m
            self.metaSlot = slot
            self.tree = TreeWriter(pageSize: m.pageSize, maxKeysPerNode: options.maxKeysPerNode)
            self.current = Mutex(Version(root: nil, height: 0, keys: 0, keyBytes: 0, valueBytes: 0, txid: m.txid))
            try load()
            try openWAL()
            if case .periodic(let ms) = durability, options.wal {
                syncer = try PeriodicTask(periodMillis: ms, name: "cow periodic WAL sync") { [unowned self] in
                    try self.syncWAL(upTo: self.walWrittenLSN.load(ordering: .acquiring))
                }
            }
        } catch {
            try? file.close()
            try? walFile?.close()
            ioBuffer.deallocate()
            throw error
        }
    }

    deinit {
        if !current.withLock({ $0.closed }) { try? close() }
        ioBuffer.deallocate()
    }

    // MARK: Open

    static func chooseMeta(_ file: FS.File, options: CowOptions) throws -> (MetaPage, Int) {
        let metas = try readMetaPages(file, preferredPageSize: options.pageSize)
        var best: (MetaPage, Int)? = nil
        var problems: [String] = []
        for (slot, r) in metas {
            switch r {
            case .success(let m): if best == nil || m.txid > best!.0.txid { best = (m, slot) }
            case .failure(let e): problems.append("meta page \(slot): \(e)")
            }
        }
        guard let best else {
            throw OrbitError(.corruption, "no valid meta page: " + problems.joined(separator: "; "), at: file.path,
                             hint: "this is not a cow store or both meta pages are damaged; restore it from a copy")
        }
        if best.0.pageSize != options.pageSize {
            throw OrbitError(.invalidConfig, "the store was created with page size \(best.0.pageSize), cow.page_size is \(options.pageSize)",
                             at: file.path, hint: "set cow.page_size=\(best.0.pageSize), or use an empty directory")
        }
        return best
    }

    /// Loads the tree, free list and snapshots of the chosen meta page.
    func load() throws {
        let pf = PageFile(file: dataFile, pageSize: meta.pageSize, maxTxid: meta.txid, pageCount: meta.pageCount)
        var loaded: [UInt64: Page] = [:]
        if meta.root != 0 { tree.root = try pf.loadTree(meta.root, loaded: &loaded) }
        tree.height = Int(meta.height)
        tree.keys = Int64(meta.keys); tree.keyBytes = Int64(meta.keyBytes); tree.valueBytes = Int64(meta.valueBytes)
        tree.pageCount = meta.pageCount
        tree.txn = meta.txid
        let freePages = try pf.loadChain(meta.freeListPage, type: .freeList)
        freeListPages = freePages.map(\.pageNo)
        tree.free = PageFile<FS.File>.freeListEntries(freePages)
        let snapPages = try pf.loadChain(meta.snapshotPage, type: .snapshotList)
        snapshotListPages = snapPages.map(\.pageNo)
        snapshots = try pf.snapshotRecords(snapPages)
        for s in snapshots {
            let root = s.root == 0 ? nil : try pf.loadTree(s.root, loaded: &loaded)
            if let root { snapshotRoots[s.name] = root }
            TreeWriter.pageNumbers(of: root, into: &tree.pinned)
        }
        checkpointCount = meta.checkpoints
        publish()
    }

    func openWAL() throws {
        let walPath = joinPath(path, Self.walFileName)
        let existed = try fs.exists(walPath)
        if !options.wal && !existed { return }
        let wal = try fs.open(walPath, .create)
        walFile = wal
        let size = try wal.size()
        if !existed || size < Int64(WALFormat.headerSize) {
            try wal.truncate(to: 0)
            try WALFormat.header().withUnsafeBytes { _ = try wal.append($0) }
            try wal.fsync()
            try fs.syncDirectory(path)
            return
        }
        // Replay the records after the meta page's txid.
        let bytes = try fs.readFile(walPath)
        let (records, validEnd) = try WALFormat.records(bytes, path: walPath)
        var replayed = 0
        try bytes.withUnsafeBytes { raw in
            for r in records where r.txid > meta.txid {
                tree.txn = r.txid
                try WALFormat.forEachOperation(UnsafeRawBufferPointer(rebasing: raw[r.payload])) { put, k, v in
                    if put { tree.put(k, v) } else { tree.delete(k) }
                }
                replayed += 1
            }
        }
        if Int64(validEnd) < size {
            // A torn tail: cut it so new records follow the last good one.
            try wal.truncate(to: Int64(validEnd))
            try wal.fdatasync()
        }
        walBytes = validEnd - WALFormat.headerSize
        commitsSinceCheckpoint = replayed
        publish()
        if replayed > 0 && !options.wal {
            try checkpoint(sync: true)
        }
    }

    // MARK: Publishing

    func publish(closed: Bool = false) {
        let v = Version(root: tree.root, height: tree.height, keys: tree.keys, keyBytes: tree.keyBytes,
                        valueBytes: tree.valueBytes, txid: tree.txn, closed: closed)
        current.withLock { $0 = v }
    }

    @inline(__always)
    func view() throws -> Version {
        let v = current.withLock { $0 }
        if _slowPath(v.closed) { throw OrbitError(.closed, "cow engine is closed", at: path) }
        return v
    }

    // MARK: Reads

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let v = try view()
        guard var p = v.root else { return try body(nil) }
        while !p.isLeaf { p = p.child(p.branchSearch(key)) }
        let (i, found) = p.leafSearch(key)
        guard found else { return try body(nil) }
        return try p.withLeafValue(i) { try body($0) }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let v = try view()
        guard let root = v.root else { return 0 }
        var stack: [(Page, Int)] = []
        stack.reserveCapacity(v.height)
        var p = root
        while !p.isLeaf {
            let c = start.map { p.branchSearch($0) } ?? 0
            stack.append((p, c))
            p = p.child(c)
        }
        var i = start.map { p.leafSearch($0).index } ?? 0
        var n = 0
        while true {
            while i < p.count {
                let k = p.leafKey(i)
                if let end, compareBytes(k, end) >= 0 { return n }
                n += 1
                let more = try p.withLeafValue(i) { try visit(k, $0) }
                if !more || (limit > 0 && n >= limit) { return n }
                i += 1
            }
            // Next leaf: climb to the first ancestor with a child to the right, then go leftmost.
            while let (b, c) = stack.last, c + 1 >= b.count { _ = stack.popLast() }
            guard let (b, c) = stack.popLast() else { return n }
            stack.append((b, c + 1))
            p = b.child(c + 1)
            while !p.isLeaf {
                stack.append((p, 0))
                p = p.child(0)
            }
            i = 0
        }
    }

    // MARK: Writes

    /// The crash points of the commit and checkpoint protocols, in the order they are reached.
    public static var crashPoints: [StaticString] {
        ["cow.commit.before-wal-append", "cow.commit.after-wal-append", "cow.commit.after-wal-sync",
         "cow.checkpoint.after-page-writes", "cow.checkpoint.after-page-sync", "cow.checkpoint.after-meta-write",
         "cow.checkpoint.after-meta-sync", "cow.checkpoint.before-wal-trim"]
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        try tree.checkKey(key)
        try commit { w in
            WALFormat.appendPut(&w.walBuffer, key, value)
        } apply: { t in
            t.put(key, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        try commit { w in
            WALFormat.appendDelete(&w.walBuffer, key)
        } apply: { t in
            t.delete(key)
        }
    }

    public func write(_ batch: WriteBatch) throws {
        if batch.isEmpty { _ = try view(); return }
        try batch.forEach { op, k, _ in if op == .put { try tree.checkKey(k) } }
        try commit { w in
            batch.forEach { op, k, v in
                if op == .put { WALFormat.appendPut(&w.walBuffer, k, v) } else { WALFormat.appendDelete(&w.walBuffer, k) }
            }
        } apply: { t in
            batch.forEach { op, k, v in if op == .put { t.put(k, v) } else { t.delete(k) } }
        }
    }

    /// One write transaction: log it (WAL mode), apply it to the tree, publish it, and make it as
    /// durable as the mode promises before returning.
    @inline(__always)
    func commit(log: (CowBTree) -> Void, apply: (TreeWriter) -> Void) throws {
        let lsn: UInt64 = try writeLock.withLock { _ in
            _ = try view()
            if let failure { throw failure }
            let txid = tree.txn + 1
            var lsn: UInt64 = 0
            if let wal = walFile, options.wal {
                WALFormat.begin(&walBuffer, txid: txid)
                log(self)
                WALFormat.finish(&walBuffer)
                do {
                    try fs.crashPoint("cow.commit.before-wal-append")
                    try walBuffer.withUnsafeBytes { _ = try wal.append($0) }
                    try fs.crashPoint("cow.commit.after-wal-append")
                } catch { failure = poisoned(error); throw error }
                walBytes += walBuffer.count
                lsn = walWrittenLSN.add(UInt64(walBuffer.count), ordering: .releasing).newValue
                if walBuffer.capacity > options.walBufferSize * 2 {
                    walBuffer = []
                    walBuffer.reserveCapacity(options.walBufferSize)
                }
                if durability == .everyWrite {
                    do {
                        try wal.fdatasync()
                        try fs.crashPoint("cow.commit.after-wal-sync")
                    } catch { failure = poisoned(error); throw error }
                    walSyncedLSN.store(lsn, ordering: .releasing)
                }
            }
            tree.txn = txid
            apply(tree)
            commitCount += 1
            commitsSinceCheckpoint += 1
            if !options.wal {
                do { try checkpoint(sync: durability != .none) } catch { failure = poisoned(error); throw error }
            } else {
                publish()
                if (options.snapshotInterval > 0 && commitsSinceCheckpoint >= options.snapshotInterval)
                    || walBytes >= options.checkpointBytes {
                    do { try checkpoint(sync: durability != .none) } catch { failure = poisoned(error); throw error }
                }
            }
            return lsn
        }
        if durability == .group && options.wal && lsn > 0 { try syncWAL(upTo: lsn) }
    }

    func poisoned(_ error: any Error) -> OrbitError {
        let e = (error as? OrbitError) ?? OrbitError(.io, "\(error)")
        return OrbitError(e.code, "an earlier write failed, the store refuses further writes: \(e.message)", at: e.location ?? path,
                          hint: "close and reopen the store: it recovers to the last durable commit", underlying: e.underlying)
    }

    /// Group commit: returns once a WAL sync that began after `lsn` was written has finished. The
    /// first waiter syncs for everyone queued behind it.
    func syncWAL(upTo lsn: UInt64) throws {
        if walSyncedLSN.load(ordering: .acquiring) >= lsn { return }
        try syncLock.withLock { _ in
            if walSyncedLSN.load(ordering: .acquiring) >= lsn { return }
            let target = walWrittenLSN.load(ordering: .acquiring)
            guard let wal = walFile else { return }
            try wal.fdatasync()
            walSyncedLSN.store(max(target, walSyncedLSN.load(ordering: .relaxed)), ordering: .releasing)
        }
    }

    public func sync() throws {
        _ = try view()
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }
        if options.wal {
            try syncWAL(upTo: walWrittenLSN.load(ordering: .acquiring))
        } else {
            try writeLock.withLock { _ in
                if let failure { throw failure }
                try dataFile.fdatasync()
            }
        }
    }

    // MARK: Durability

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none:
            DurabilityPromise(.processCrash, "WAL record (or, with cow.wal=false, pages and meta) written with write(2), no sync")
        case .everyWrite:
            DurabilityPromise(.powerLoss, "fdatasync of the WAL before the ack (cow.wal=false: pages, sync, meta, sync)")
        case .group:
            DurabilityPromise(.powerLoss, "acked after a shared WAL fdatasync that covers the record (cow.wal=false: as every-write)")
        case .periodic(let ms):
            DurabilityPromise(.powerLossBoundedWindow, "WAL fdatasync'd every \(ms) ms by a background thread (WAL mode only)")
        }
    }

    // MARK: Close

    public func close() throws {
        syncer?.stop()
        try writeLock.withLock { _ in
            if current.withLock({ $0.closed }) { return }
            defer {
                publish(closed: true)
                try? dataFile.close()
                try? walFile?.close()
            }
            if let e = syncer?.firstError.withLock({ $0 }) { throw e }
            if failure == nil && (!tree.dirty.isEmpty || walBytes > 0 || snapshotsChanged) {
                try checkpoint(sync: true)
            } else if failure == nil {
                try dataFile.fdatasync()
            }
        }
    }
}

/// The `cow` engine on the real file system.
public typealias CowEngine = CowBTree<POSIXFileSystem>

extension CowBTree where FS == POSIXFileSystem {
    public convenience init(path: String, options: CowOptions, durability: DurabilityMode) throws {
        try self.init(path: path, options: options, durability: durability, fileSystem: POSIXFileSystem())
    }
}

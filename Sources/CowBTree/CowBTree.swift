import OrbitCore
import Synchronization

/// A published, immutable view of the tree: what readers see. While one is alive its txid is in
/// the reader table, and no page it may reach by number is reused (`TreeWriter.retired`).
final class Version: Sendable {
    let root: Page?
    let height: Int
    let keys: Int64
    let keyBytes: Int64
    let valueBytes: Int64
    let txid: UInt64
    let closed: Bool
    let readers: ReaderTable?

    init(root: Page?, height: Int, keys: Int64, keyBytes: Int64, valueBytes: Int64, txid: UInt64, closed: Bool = false,
         readers: ReaderTable? = nil) {
        self.root = root; self.height = height; self.keys = keys; self.keyBytes = keyBytes
        self.valueBytes = valueBytes; self.txid = txid; self.closed = closed
        self.readers = readers
        readers?.register(txid)
    }

    deinit { readers?.unregister(txid) }
}

/// The `cow` backend: a hand-written copy-on-write B+tree, paged on disk through the file layer.
///
/// **Files** (docs/formats/): `cow.db`, the page file — two meta pages (cow-meta-page.md) then tree,
/// overflow, free-list and snapshot-list pages (btree-page.md) — the write-ahead log, recycled
/// segment files `cow.wal.<n>` (cow-wal.md), and `cow.lock`, the store lock (flock, "pid N" of the
/// holder inside): exclusive for a read-write open, shared for a read-only one, held until close.
///
/// **Opens.** Read-write creates a store only in a missing or empty directory and refuses one that
/// holds anything but cow files; read-only (`access: .readOnly`) replays the WAL into memory and
/// writes, renames, truncates and removes nothing. Either decides the store is sound (meta page,
/// free list, snapshot list, root page, the whole tree when the page file is short, WAL replay and
/// its checks) before anything is changed; other pages are verified when they are first read.
///
/// **Two designs.** With `cow.wal=true` (default) a commit writes one checksummed record into the
/// current WAL segment and syncs it per the durability mode; the changed pages stay in memory and a
/// checkpoint (every `cow.snapshot_interval` commits or `cow.checkpoint_bytes` of WAL) writes them,
/// syncs, writes the other meta page, syncs, and recycles the WAL segments it covers. With
/// `cow.wal=false` every commit is a checkpoint (LMDB's and bbolt's design): pages, sync, meta, sync.
/// Open = newest valid meta page + WAL replay.
///
/// **The WAL is overwritten in place.** Segments are pre-allocated: in the syncing modes each is
/// written full of zeros and fsynced before its first use, and a used one is recycled rather than
/// deleted, so a commit's fdatasync writes data blocks only — never the file's size or extents (on
/// ext4, no journal commit). Every record carries its segment's sequence number under its checksum,
/// so replay stops at the stale records of an older generation as it does at a torn tail.
///
/// **Background checkpoints** (WAL mode). The writer freezes a checkpoint under its lock — takes the
/// dirty pages (from then on it copies any of them before a change, under a new page number), lays
/// out the free list, switches the WAL to a new segment — and a background thread writes it while
/// commits go on to the WAL and the in-memory tree. One checkpoint is in flight at a time: when the
/// next one is due and the last has not finished, the writer waits (backpressure; the live WAL stays
/// under about two checkpoint intervals). The writer finishes a completed checkpoint (its pages freed,
/// its segments recycled) at its next commit. Snapshot operations, `checkpoint()`, `close()` and
/// pure copy-on-write commits checkpoint synchronously.
///
/// **Commit protocol** (`writeCheckpoint`): write every dirty page (all at page numbers the durable
/// meta does not reference), fdatasync, write the meta page that is *not* the durable one, fdatasync.
/// The first sync orders the pages before the meta: a meta page that reaches the disk never points
/// at pages that did not. The second makes the checkpoint durable before it is acknowledged (and
/// before the WAL segments it covers are reused). A torn meta write fails its checksum and the
/// other meta wins.
///
/// **Memory.** Pages are read on demand through a bounded cache of clean pages (`PageCache`,
/// `cow.cache_mb` or `cow.cache_pages`; CLOCK eviction, pages in use pinned), verified at every
/// read from disk. Branch pages refer to children by page number; pages written since the last
/// checkpoint are linked in memory and pinned until the checkpoint that writes them completes (a
/// checkpoint is also due when they reach the cache's size). Open reads the meta pages, the free
/// list, the snapshot list and the root, and replays the WAL: its time does not grow with the
/// store. A read error or checksum failure during a get or scan is an error naming the page.
///
/// **Thread safety.** One writer at a time (a mutex); any number of readers, which take the
/// published root (one short mutex hold) and walk immutable pages (the cache's mutex held for each
/// lookup by number), so readers never block the writer and see one consistent commit for a whole
/// get or scan; a page a version refers to by number is reused only once no reader of a version
/// older than the transaction that freed it is left (`ReaderTable`). A reader's reference to
/// the published `Version` is what keeps its pages immutable: while no reader holds it, a WAL-mode
/// commit changes the pages it created since then in place, holding the publish mutex until it has
/// published (a reader arriving meanwhile waits that long); otherwise it copies the changed path
/// (`applyAndPublish`, `TreeWriter.epoch`). The background thread
/// reads only frozen pages and never takes the writer's lock. Closures passed to `get`/`scan` must
/// not call back into the engine.
///
/// **Durability.** WAL mode: `none` — the record is written with pwrite(2), no sync; `every-write`
/// — fdatasync of the WAL segment before the ack, inside the commit; `group` — writers queue their
/// records and the first to sync covers every record written so far (one fdatasync per group), and
/// a group commit is published to readers only once that sync has returned (`syncWAL`);
/// `periodic(ms)` — a background fdatasync every `ms`. Checkpoints sync in every mode (`none` too:
/// an unsynced one could undo what an earlier `sync()` made durable; see `checkpointsSync`).
/// Pure copy-on-write mode: `none` writes pages and meta with no sync; `every-write`, `group` and
/// `periodic` sync twice per commit (a pure copy-on-write commit cannot defer its syncs without
/// risking a durable meta page ahead of its pages, so `periodic` gets the stronger promise).
public final class CowBTree<FS: FileSystem>: StorageEngine, @unchecked Sendable {
    public let backendName = CowDescriptor.name
    public let durability: DurabilityMode
    public let options: CowOptions
    public let path: String
    public var dataDirectory: String? { path }
    let fs: FS

    public static var pageFileName: String { "cow.db" }
    /// The version-1 WAL of development builds: recognised as cow's, refused at open (its reader was removed).
    public static var walFileName: String { "cow.wal" }

    // Published view.
    let current: Lock<Version>
    /// Clean pages by number (readers and writer).
    let cache: PageCache
    /// The live versions' txids: what page reuse waits for.
    let readers = ReaderTable()

    // Writer state: everything below is used only under `writeLock`.
    let writeLock = Lock<Void>(())
    /// What `stats()` reports of the writer state, published at the end of each `writeLock` section
    /// (`withWriteLock`): stats never wait for the write lock.
    let figures = PublishedCowFigures()
    let tree: TreeWriter
    let dataFile: FS.File
    var meta: MetaPage
    var metaSlot: Int
    var freeListPages: [UInt64] = []
    var snapshotListPages: [UInt64] = []
    var snapshots: [SnapshotRecord] = []
    var snapshotRoots: [String: Page] = [:]
    var snapshotsChanged = false
    var walBuffer: [UInt8] = []
    /// WAL bytes logged since the last checkpoint froze (its trigger).
    var walBytes = 0
    var commitsSinceCheckpoint = 0
    var failure: OrbitError?
    /// The checkpoint's page buffer: used by one checkpoint at a time (background or synchronous).
    var ioBuffer: UnsafeMutableRawPointer
    static var ioBufferPages: Int { 64 }

    // WAL segments (WAL mode; Store/WALSegments.swift). Writer state, under `writeLock`.
    var walCurrent: WALSegment<FS.File>?
    var walLive: [WALSegment<FS.File>] = []
    var walNextSeq: UInt64 = 1
    var lastLoggedTxid: UInt64 = 0
    /// Segments the writer had to create itself (no spare ready): in the syncing modes a pre-zeroing stall.
    var walSegmentsCreatedByWriter: UInt64 = 0
    /// Spares, shared with the background thread.
    let walSpares = Lock<SpareSegments<FS.File>>(SpareSegments())

    // Background checkpoints (WAL mode): the job in flight and its queue ticket, under `writeLock`.
    var background: WorkerQueue?
    var inflight: CheckpointJob?
    var inflightTicket: UInt64 = 0
    var checkpointWaitNanos: UInt64 = 0
    /// Set at the end of a successful init: deinit closes only an opened store.
    var opened = false
    /// Why the meta page open did not choose is unusable, when it holds bytes (not a never-written
    /// page of zeros): checked against the pages and the WAL before the store is used.
    var damagedMeta: (slot: Int, problem: String)? = nil

    // Counters for stats.
    var checkpointCount: UInt64 = 0
    var checkpointNanos: UInt64 = 0
    var commitCount: UInt64 = 0
    var pagesWritten: UInt64 = 0

    // Group commit.
    let syncLock = Lock<Void>(())
    let walWrittenLSN = Atomic<UInt64>(0)
    let walSyncedLSN = Atomic<UInt64>(0)
    /// A failed WAL sync (group, periodic, `sync()`), sticky: what it covered may never reach the disk
    /// even if a later sync succeeds (fsyncgate), so no later commit may be acknowledged.
    let walSyncFailure = Lock<OrbitError?>(nil)
    /// The segment `syncWAL` syncs (the current one), under `syncLock`.
    var walSyncFile: FS.File?
    var syncer: PeriodicTask?

    /// The store lock (`cow.lock`), held for the life of a read-write open (exclusive) and of a
    /// read-only open of a store that has one (shared): a second open would truncate the WAL
    /// segments the first is writing and lose its acknowledged commits.
    let storeLock: FileLock?
    /// How the store was opened: a read-only open writes, renames, truncates and deletes nothing.
    public let access: StoreAccess
    @inline(__always) var readOnly: Bool { access == .readOnly }
    /// Unpublished group-mode versions (lsn, version), oldest first: a group commit becomes visible
    /// only once a WAL sync covers it (`syncWAL`, `startSegment`). Under `syncLock` or `writeLock`.
    let pendingVersions = Lock<[(lsn: UInt64, version: Version)]>([])

    /// Opens the store in `path`. Read-write creates a new store only in a missing or empty
    /// directory; read-only opens an existing store and changes no byte on disk (WAL replay happens
    /// in memory). A directory with files no cow store has is refused before anything is written.
    ///
    /// Order (issue 13/14): recognise the directory, create it if new (syncing its parent), take the
    /// store lock, decide whether the store is sound (meta page, free list, snapshot list, root,
    /// WAL replay and its checks; `load`) — and only then write, truncate or remove anything.
    public init(path: String, options: CowOptions, durability: DurabilityMode, fileSystem: FS, access: StoreAccess = .readWrite) throws {
        try options.check(durability: durability, ranges: false)
        self.path = path
        self.options = options
        self.durability = durability
        self.fs = fileSystem
        self.access = access
        let recognition = try Self.recognize(directory: path, fileSystem: fileSystem)
        if case .notOurs(let found) = recognition {
            throw OrbitError(.invalidArgument, "\(path) is not a cow store: it holds \(found.joined(separator: ", "))",
                             at: path, hint: "use the engine that wrote it, or another (empty or missing) directory")
        }
        let lockPath = joinPath(path, Self.lockFileName)
        var lock: FileLock? = nil
        if access == .readOnly {
            guard recognition != .empty else {
                throw OrbitError(.notFound, "no cow store in \(path)", at: path,
                                 hint: "a read-only open needs an existing store; a command that writes creates one")
            }
            // A store from before the lock file existed has none: read-only is safe without it.
            if try fileSystem.exists(lockPath) { lock = try fileSystem.lockShared(lockPath) }
        } else {
            try Self.createStoreDirectory(path, fileSystem)
            if !(try fileSystem.exists(lockPath)) { try fileSystem.open(lockPath, .create).close() }
            lock = try fileSystem.lock(lockPath)
        }
        self.storeLock = lock
        let file: FS.File
        do { file = try Self.openPageFile(path, options: options, fileSystem: fileSystem, access: access) } catch {
            lock?.release()
            throw error
        }
        self.dataFile = file
        self.ioBuffer = UnsafeMutableRawPointer.allocate(byteCount: options.pageSize * Self.ioBufferPages, alignment: 4096)
        let chosen: (MetaPage, Int)
        do { chosen = try Self.chooseMeta(file, options: options) } catch {
            try? file.close()
            ioBuffer.deallocate()
            lock?.release()
            throw error
        }
        self.meta = chosen.0
        self.metaSlot = chosen.1
        do { damagedMeta = try Self.damagedMetaPage(file, chosenSlot: chosen.1, pageSize: chosen.0.pageSize) } catch {
            try? file.close()
            lock?.release()
            throw error   // deinit releases ioBuffer (`opened` is false: it does not close)
        }
        self.tree = TreeWriter(pageSize: chosen.0.pageSize, maxKeysPerNode: options.maxKeysPerNode)
        let pageSize = chosen.0.pageSize
        self.cache = PageCache(pageSize: pageSize, capacity: options.cachePageCount, filePath: file.path,
                               maxTxid: chosen.0.txid, pageCount: chosen.0.pageCount) { no, buffer in
            try file.readExactly(into: buffer, at: Int64(no) * Int64(pageSize))
        }
        tree.cache = cache
        self.current = Lock(Version(root: nil, height: 0, keys: 0, keyBytes: 0, valueBytes: 0, txid: chosen.0.txid))
        do {
            try load()
            try openWAL()
            if options.wal && !readOnly {
                let bg = try WorkerQueue(name: "cow checkpoints")
                background = bg
                if walSyncs { bg.submit { [weak self] in self?.prepareSpareInBackground() } }
            }
            if case .periodic(let ms) = durability, options.wal, !readOnly {
                syncer = try PeriodicTask(periodMillis: ms, name: "cow periodic WAL sync") { [weak self] in
                    guard let self else { return }
                    try self.syncWAL(upTo: self.walWrittenLSN.load(ordering: .acquiring))
                }
            }
        } catch {
            background?.stop()
            try? file.close()
            closeSegments()
            lock?.release()
            throw error   // deinit releases ioBuffer (`opened` is false: it does not close)
        }
        opened = true
        withWriteLock {}
    }

    // MARK: Store recognition

    public static var lockFileName: String { "cow.lock" }

    /// Whether `name` is a file a cow store holds: the page file, the lock file, a WAL segment
    /// `cow.wal.<n>`, or the version-1 WAL `cow.wal` of development builds (refused at open).
    static func isCowFileName(_ name: String) -> Bool {
        if name == pageFileName || name == lockFileName || name == walFileName { return true }
        guard name.hasPrefix(segmentPrefix) else { return false }
        let digits = name.utf8.dropFirst(segmentPrefix.utf8.count)
        return !digits.isEmpty && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// What `directory` holds, from cow's own file names only (nothing is opened or written):
    /// `.empty` when it is missing or holds nothing but a lock file, `.ours` when every entry is a
    /// cow file, `.notOurs` (naming a few entries) when anything else is there — another engine's
    /// store or a user's files, which a cow open must not touch.
    /// Throws when the path exists but cannot be listed (a file, no permission).
    public static func recognize(directory: String, fileSystem fs: FS) throws -> StoreRecognition {
        guard try fs.exists(directory) else { return .empty }
        let names = try fs.list(directory: directory)
        let foreign = names.filter { !isCowFileName($0) }
        if !foreign.isEmpty { return .notOurs(found: Array(foreign.prefix(5))) }
        let markers = names.filter { $0 != lockFileName }
        return markers.isEmpty ? .empty : .ours(markers: markers)
    }

    /// Creates the store directory if it is missing and syncs the parent of every directory it
    /// made: the file layer's contract makes a new directory's entry durable only then, and a
    /// lost entry would take every every-write commit of the first open with it.
    static func createStoreDirectory(_ path: String, _ fs: FS) throws {
        var missing: [String] = []
        var p = path
        while !(try fs.exists(p)) {
            missing.append(p)
            let parent = parentDirectory(of: p)
            if parent == p || parent.isEmpty { break }
            p = parent
        }
        guard !missing.isEmpty else { return }
        try fs.createDirectory(path, intermediates: true)
        for dir in missing.reversed() { try fs.syncDirectory(parentDirectory(of: dir)) }
    }

    /// Opens `cow.db`, creating a new store's (read-write, in a directory with no other cow file).
    /// A missing or empty page file beside WAL segments is corruption naming it: the segments hold
    /// only what followed a checkpoint, so a new store there would silently drop the rest.
    static func openPageFile(_ path: String, options: CowOptions, fileSystem fs: FS, access: StoreAccess) throws -> FS.File {
        let dataPath = joinPath(path, pageFileName)
        let size: Int64? = try fs.exists(dataPath) ? try fs.fileSize(dataPath) : nil
        if let size, size > 0 { return try fs.open(dataPath, access == .readOnly ? .read : .readWrite) }
        let others = try fs.list(directory: path).filter { isCowFileName($0) && $0 != lockFileName && $0 != pageFileName }
        if !others.isEmpty {
            throw OrbitError(.corruption, "the page file is \(size == nil ? "missing" : "empty (0 bytes)"), but the store holds "
                             + others.prefix(5).joined(separator: ", ") + ": its checkpointed data is gone",
                             at: dataPath, hint: "the store is damaged; restore it from a copy (it is not opened as a new store)")
        }
        guard access == .readWrite else {
            throw OrbitError(.notFound, "no cow store in \(path) (\(pageFileName) is \(size == nil ? "missing" : "empty"))", at: dataPath,
                             hint: "a read-only open needs an existing store; a command that writes creates one")
        }
        // A new store (or the remains of a creation that crashed before its first sync: no WAL yet).
        let file = try fs.open(dataPath, .create)
        do {
            var m = MetaPage(pageSize: options.pageSize, maxKeysPerNode: options.maxKeysPerNode)
            m.txid = 0
            try m.encode().withUnsafeBytes { try file.write($0, at: 0) }
            try file.truncate(to: Int64(options.pageSize) * 2)
            try file.fsync()
            try fs.syncDirectory(path)
        } catch {
            try? file.close()
            throw error
        }
        return file
    }

    deinit {
        // The background jobs hold `self` weakly: the close below stops the queue, which runs what
        // is queued, and a job that runs once deinit has begun finds nil and does nothing (a
        // checkpoint job then fails, so its WAL segments are not recycled).
        if opened && !current.withLock({ $0.closed }) { try? close() }
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

    /// The other meta page's problem when it is unusable but not a never-written page of zeros.
    static func damagedMetaPage(_ file: FS.File, chosenSlot: Int, pageSize: Int) throws -> (slot: Int, problem: String)? {
        let other = 1 - chosenSlot
        let bytes = try file.read(count: MetaPage.encodedSize, at: Int64(other * pageSize))
        if bytes.allSatisfy({ $0 == 0 }) { return nil }
        switch MetaPage.decode(bytes) {
        case .success: return nil
        case .failure(let e): return (other, "\(e)")
        }
    }

    /// When the other meta page is damaged, open fell back to the older one. That is right only if
    /// the damaged page was a meta write torn by a crash: its checkpoint never completed, so every
    /// commit it held is in the WAL (recycled only after the meta page is durable) or was never
    /// acknowledged. If the page file holds a page written by a checkpoint newer than everything
    /// the older meta page and the WAL reach (`reached`), that checkpoint's meta page was durable
    /// and the flipped bytes are corruption: falling back would silently drop committed
    /// transactions. A meta page of 128 bytes lies in one sector, which a power loss does not tear.
    /// - Complexity: reads every page of the file, only when a meta page is damaged.
    func checkDamagedMeta(reached: UInt64) throws {
        guard let damaged = damagedMeta else { return }
        let size = try dataFile.size()
        let pageSize = meta.pageSize
        let count = UInt64(size) / UInt64(pageSize)
        guard count > UInt64(Layout.firstDataPage) else { return }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { buf.deallocate() }
        for no in UInt64(Layout.firstDataPage)..<count {
            let n = try dataFile.read(into: UnsafeMutableRawBufferPointer(start: buf, count: pageSize), at: Int64(no) * Int64(pageSize))
            guard n == pageSize, Page.checksumIsValid(buf, pageSize), buf.u64(Layout.pageNoOffset) == no else { continue }
            let txid = buf.u64(Layout.txidOffset)
            if txid > reached {
                throw OrbitError(.corruption,
                                 "meta page \(damaged.slot) is damaged (\(damaged.problem)), and page \(no) was written by checkpoint "
                                 + "txid \(txid), newer than the other meta page (txid \(meta.txid)) and the WAL (txid \(reached)) reach: "
                                 + "a durable checkpoint's meta page is corrupt",
                                 at: "\(dataFile.path) @ offset \(damaged.slot * pageSize)",
                                 hint: "the store is damaged; restore it from a copy (orbit-bench inspect cow <dir>)")
            }
        }
    }

    /// Opens the tree, free list and snapshots of the chosen meta page: reads the root page, the
    /// free-list and snapshot-list chains (and, with snapshots, their trees' page numbers); the
    /// rest is read on demand. A page file shorter than the meta page's page count, with a page
    /// past its end that the free list does not list (checkpoints keep the file that long; older
    /// builds left only never-written free pages past the end), is verified whole first: a
    /// truncated file is refused here, before anything is written, not found page by page later.
    func load() throws {
        let pf = PageFile(file: dataFile, pageSize: meta.pageSize, maxTxid: meta.txid, pageCount: meta.pageCount)
        let freePages = try pf.loadChain(meta.freeListPage, type: .freeList)
        freeListPages = freePages.map(\.pageNo)
        tree.free = try pf.freeListEntries(freePages)
        let filePages = UInt64(max(0, try dataFile.size())) / UInt64(meta.pageSize)
        if filePages < meta.pageCount {
            let free = Set(tree.free)
            if (max(filePages, Layout.firstDataPage)..<meta.pageCount).contains(where: { !free.contains($0) }) {
                var visited: Set<UInt64> = []
                if meta.root != 0 { try pf.verifyTree(meta.root, visited: &visited) }
                for s in try pf.snapshotRecords(try pf.loadChain(meta.snapshotPage, type: .snapshotList)) where s.root != 0 {
                    try pf.verifyTree(s.root, visited: &visited)
                }
            }
        }
        if meta.root != 0 { tree.root = try cache.page(meta.root) }
        tree.height = Int(meta.height)
        tree.keys = Int64(meta.keys); tree.keyBytes = Int64(meta.keyBytes); tree.valueBytes = Int64(meta.valueBytes)
        tree.pageCount = meta.pageCount
        tree.txn = meta.txid
        let snapPages = try pf.loadChain(meta.snapshotPage, type: .snapshotList)
        snapshotListPages = snapPages.map(\.pageNo)
        snapshots = try pf.snapshotRecords(snapPages)
        for s in snapshots {
            let root = s.root == 0 ? nil : try cache.page(s.root)
            if let root { snapshotRoots[s.name] = root }
            try tree.pageNumbers(of: root, into: &tree.pinned)
        }
        checkpointCount = meta.checkpoints
        publish()
    }

    // MARK: Publishing

    func publish(closed: Bool = false) {
        let v = makeVersion(closed: closed)
        current.withLock { $0 = v }
    }

    @inline(__always)
    func makeVersion(closed: Bool = false) -> Version {
        Version(root: tree.root, height: tree.height, keys: tree.keys, keyBytes: tree.keyBytes,
                valueBytes: tree.valueBytes, txid: tree.txn, closed: closed, readers: readers)
    }

    /// Applies a WAL-mode transaction to the tree and publishes it.
    ///
    /// **In place when no reader can see it.** If the published version is held by nothing but
    /// `current` (no reader is inside `get`/`scan` with it, and none can take it while the writer
    /// holds `current`'s lock), the transaction changes the pages of the current epoch in place and
    /// publishes under that same lock hold: those pages are reachable only from versions published
    /// in this epoch, each superseded while no reader held it. Otherwise a reader may be walking the
    /// published pages: a new epoch starts, and the transaction copies every page it changes (the
    /// path from the root) before publishing without holding the lock. A fill with no concurrent
    /// reader thus copies each page once per epoch (checkpoint) instead of once per commit.
    ///
    /// `inPlace: false` (a batch of several operations): always a new epoch. An operation that
    /// throws (a page it needed could not be read) has changed nothing, but a batch's earlier
    /// operations have: a batch is never applied to pages a published version shows.
    @inline(__always)
    func applyAndPublish(inPlace: Bool = true, _ apply: (TreeWriter) throws -> Void) throws {
        let done = try inPlace && current.withLock { v throws -> Bool in
            guard isKnownUniquelyReferenced(&v) else { return false }
            // Every reader that held `v` has let go of it (an uninstrumented reference count says
            // so): their walks happen before these in-place changes. Stated for ThreadSanitizer.
            TSan.acquire(v)
            try apply(tree)
            v = makeVersion()
            return true
        }
        if !done {
            tree.epoch &+= 1
            try apply(tree)
            publish()
        }
    }

    /// Child `i` of branch `p` for a reader: its link, or the page found by number through the
    /// cache (read from disk on a miss; a read error or corruption throws, naming the page).
    @inline(__always)
    func child(_ p: Page, _ i: Int) throws -> Page {
        if let c = p.link(i) { return c }
        return try cache.page(p.branchChildNo(i))
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
        // The reference to `v` is what tells the writer a reader is here (`applyAndPublish`): hold
        // it for the whole walk.
        return try withExtendedLifetime(v) {
            // The reader's end of the hand-off `applyAndPublish` takes in place (see `TSan`).
            defer { TSan.release(v) }
            guard var p = v.root else { return try body(nil) }
            while !p.isLeaf { p = try child(p, p.branchSearch(key)) }
            let (i, found) = p.leafSearch(key)
            guard found else { return try body(nil) }
            return try p.withLeafValue(i, cache: cache) { try body($0) }
        }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let v = try view()
        defer { TSan.release(v) }   // held for the whole scan (see `get`); the reader's end of the hand-off
        guard let root = v.root else { return 0 }
        var stack: [(Page, Int)] = []
        stack.reserveCapacity(v.height)
        var p = root
        while !p.isLeaf {
            let c = start.map { p.branchSearch($0) } ?? 0
            stack.append((p, c))
            p = try child(p, c)
        }
        var i = start.map { p.leafSearch($0).index } ?? 0
        var n = 0
        while true {
            while i < p.count {
                let k = p.leafKey(i)
                if let end, compareBytes(k, end) >= 0 { return n }
                n += 1
                let more = try p.withLeafValue(i, cache: cache) { try visit(k, $0) }
                if !more || (limit > 0 && n >= limit) { return n }
                i += 1
            }
            // Next leaf: climb to the first ancestor with a child to the right, then go leftmost.
            while let (b, c) = stack.last, c + 1 >= b.count { _ = stack.popLast() }
            guard let (b, c) = stack.popLast() else { return n }
            stack.append((b, c + 1))
            p = try child(b, c + 1)
            while !p.isLeaf {
                stack.append((p, 0))
                p = try child(p, 0)
            }
            i = 0
        }
    }

    // MARK: Writes

    /// The crash points of the commit and checkpoint protocols, in the order they are reached.
    public static var crashPoints: [StaticString] {
        ["cow.commit.before-wal-append", "cow.commit.after-wal-append", "cow.commit.after-wal-sync",
         "cow.wal.after-segment-header",
         "cow.checkpoint.after-page-writes", "cow.checkpoint.after-page-sync", "cow.checkpoint.after-meta-write",
         "cow.checkpoint.after-meta-sync", "cow.checkpoint.before-wal-recycle"]
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        if _slowPath(readOnly) { throw readOnlyError("put") }
        try tree.checkKey(key)
        if _slowPath(value.count > CowOptions.maxValueSize) { throw Self.valueTooLarge(value.count, options) }
        try commit { w in
            WALFormat.appendPut(&w.walBuffer, key, value)
        } apply: { t in
            try t.put(key, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        if _slowPath(readOnly) { throw readOnlyError("delete") }
        try commit { w in
            WALFormat.appendDelete(&w.walBuffer, key)
        } apply: { t in
            try t.delete(key)
        }
    }

    public func write(_ batch: WriteBatch) throws {
        if _slowPath(readOnly) { throw readOnlyError("write") }
        if batch.isEmpty { _ = try view(); return }
        // One WAL record holds the whole batch: its payload length is 32 bits.
        var payload = 0
        try batch.forEach { op, k, v in
            if op == .put { try tree.checkKey(k) }
            if v.count > CowOptions.maxValueSize { throw Self.valueTooLarge(v.count, options) }
            payload += 9 + k.count + v.count
        }
        if payload > Int(UInt32.max) {
            throw OrbitError(.invalidArgument, "a batch of \(payload) bytes is too large for one cow commit",
                             at: path, hint: "a batch's operations (9 bytes each plus keys and values) are at most \(UInt32.max) bytes; split it")
        }
        try commit(single: batch.count == 1) { w in
            batch.forEach { op, k, v in
                if op == .put { WALFormat.appendPut(&w.walBuffer, k, v) } else { WALFormat.appendDelete(&w.walBuffer, k) }
            }
        } apply: { t in
            try batch.forEach { op, k, v in if op == .put { try t.put(k, v) } else { try t.delete(k) } }
        }
    }

    func readOnlyError(_ what: String) -> OrbitError {
        OrbitError(.readOnly, "\(what): the cow store is open read-only", at: path, hint: "open it read-write to change it")
    }

    static func valueTooLarge(_ count: Int, _ options: CowOptions) -> OrbitError {
        OrbitError(.invalidArgument, "value of \(count) bytes is too large for cow",
                   hint: "values are at most \(options.limits.maxValueSize) bytes (a WAL record's length is 32 bits)")
    }

    /// Throws when the store may not be changed (under `writeLock`): read-only, closed, or an
    /// earlier write or WAL sync failed (sticky: what a failed sync covered may never reach the
    /// disk, so nothing may be made durable or visible on top of it).
    func checkWritable(_ what: String) throws {
        if readOnly { throw readOnlyError(what) }
        if current.withLock({ $0.closed }) { throw OrbitError(.closed, "cow engine is closed", at: path) }
        if let failure { throw failure }
        if let f = walSyncFailure.withLock({ $0 }) { failure = f; throw f }
    }

    /// One write transaction: log it (WAL mode), apply it to the tree, publish it, and make it as
    /// durable as the mode promises before returning. In `group` mode the transaction is published
    /// only once the shared sync covers it (`syncWAL`): readers never see a write that is not
    /// durable yet, nor one whose sync failed.
    ///
    /// Applying can fail (a page the transaction needs cannot be read): the record is in the WAL
    /// by then, so the store refuses further writes (poisoned) and publishes nothing of it.
    @inline(__always)
    func commit(single: Bool = true, log: (CowBTree) -> Void, apply: (TreeWriter) throws -> Void) throws {
        let lsn: UInt64 = try withWriteLock {
            // Not `view()`: the writer must not hold a reference to the published version.
            if _slowPath(current.withLock({ $0.closed })) { throw OrbitError(.closed, "cow engine is closed", at: path) }
            if let failure { throw failure }
            if let f = walSyncFailure.withLock({ $0 }) { failure = f; throw f }
            try finishInflightCheckpoint(wait: false)
            if !tree.retired.isEmpty { tree.promote(oldest: readers.oldest()) }
            let txid = tree.txn + 1
            var lsn: UInt64 = 0
            if var seg = walCurrent {
                WALFormat.begin(&walBuffer, txid: txid)
                log(self)
                do {
                    // A record that does not fit goes to the next segment (an empty one takes it whole,
                    // growing past its prepared size).
                    // Room is kept for the switch record that ends the segment.
                    if seg.end > Int64(WALFormat.segmentHeaderSize)
                        && seg.end + Int64(walBuffer.count + WALFormat.switchRecordSize) > Int64(options.walSegmentSize) {
                        try startSegment()
                        seg = walCurrent!
                    }
                    WALFormat.finish(&walBuffer, seq: seg.seq)
                    try fs.crashPoint("cow.commit.before-wal-append")
                    try walBuffer.withUnsafeBytes { try seg.file.write($0, at: seg.end) }
                    try fs.crashPoint("cow.commit.after-wal-append")
                } catch { failure = poisoned(error); throw error }
                seg.end += Int64(walBuffer.count)
                walBytes += walBuffer.count
                lastLoggedTxid = txid
                lsn = walWrittenLSN.add(UInt64(walBuffer.count), ordering: .releasing).newValue
                if walBuffer.capacity > options.walBufferSize * 2 {
                    walBuffer = []
                    walBuffer.reserveCapacity(options.walBufferSize)
                }
                if durability == .everyWrite {
                    do {
                        try seg.file.fdatasync()
                        try fs.crashPoint("cow.commit.after-wal-sync")
                    } catch { failure = poisoned(error); throw error }
                    walSyncedLSN.store(lsn, ordering: .releasing)
                }
            }
            tree.txn = txid
            commitCount += 1
            commitsSinceCheckpoint += 1
            if !options.wal {
                // Every commit is a checkpoint, whose freeze starts a new epoch: the pages this one
                // changes in place were created after the last published version.
                do {
                    try apply(tree)
                    try checkpointNow(sync: durability != .none)
                } catch { failure = poisoned(error); throw error }
            } else {
                if durability == .group {
                    // Visible only after the sync (`syncWAL` publishes it). A new epoch: the pages
                    // of this unpublished version must not change under a later commit.
                    tree.epoch &+= 1
                    do { try apply(tree) } catch { failure = poisoned(error); throw error }
                    let v = makeVersion()
                    pendingVersions.withLock { $0.append((lsn, v)) }
                } else {
                    do { try applyAndPublish(inPlace: single, apply) } catch { failure = poisoned(error); throw error }
                }
                // Dirty pages are pinned in memory until a checkpoint writes them: one is due when
                // they reach the cache's size.
                if (options.snapshotInterval > 0 && commitsSinceCheckpoint >= options.snapshotInterval)
                    || walBytes >= options.checkpointBytes || tree.dirty.count >= cache.capacity {
                    do { try startBackgroundCheckpoint() } catch { failure = poisoned(error); throw error }
                }
            }
            return lsn
        }
        if durability == .group && options.wal && lsn > 0 { try syncWAL(upTo: lsn) }
    }

    func poisoned(_ error: any Error) -> OrbitError {
        let e = (error as? OrbitError) ?? OrbitError(.io, "\(error)")
        return OrbitError(e.code, "an earlier write failed, the store refuses further writes: \(e.message)", at: e.location ?? path,
                          hint: "close and reopen the store: it recovers to the last durable commit", cause: e.cause)
    }

    /// Group commit: returns once a WAL sync that began after `lsn` was written has finished. The
    /// first waiter syncs for everyone queued behind it.
    ///
    /// Group mode also publishes: a sync covering lsn L publishes the newest queued version at or
    /// below L before `walSyncedLSN` says L is synced. A writer still between its WAL write and its
    /// enqueue when the sync began is covered by the sync but not yet published by it, so every
    /// return path publishes what `walSyncedLSN` covers (its own version was queued before it came
    /// here): no writer returns before its write is visible, and none is visible before its sync.
    func syncWAL(upTo lsn: UInt64) throws {
        let group = durability == .group
        if let f = walSyncFailure.withLock({ $0 }) { throw f }
        var synced = walSyncedLSN.load(ordering: .acquiring)
        if synced >= lsn {
            if group { publishPending(upTo: synced) }
            return
        }
        try syncLock.withLock { _ in
            if let f = walSyncFailure.withLock({ $0 }) { throw f }
            synced = walSyncedLSN.load(ordering: .acquiring)
            if synced >= lsn {
                if group { publishPending(upTo: synced) }
                return
            }
            let target = walWrittenLSN.load(ordering: .acquiring)
            guard let wal = walSyncFile else { return }
            do { try wal.fdatasync() } catch {
                failWALSync(error)
                throw walSyncFailure.withLock { $0 }!
            }
            if group { publishPending(upTo: target) }
            walSyncedLSN.store(max(target, walSyncedLSN.load(ordering: .relaxed)), ordering: .releasing)
        }
    }

    /// Records a failed WAL sync, sticky (fsyncgate: the fd's error is consumed, a retry would
    /// succeed without the dropped pages): every later commit, sync and waiter fails.
    func failWALSync(_ error: any Error) {
        let e = poisoned(error)
        walSyncFailure.withLock { if $0 == nil { $0 = e } }
    }

    /// Publishes the newest pending group-mode version with lsn <= `lsn` (after a sync covering it),
    /// unless a newer one is already published (a synchronous checkpoint publishes the whole tree
    /// once its pages are durable).
    func publishPending(upTo lsn: UInt64) {
        let v: Version? = pendingVersions.withLock { q in
            var n = 0
            while n < q.count && q[n].lsn <= lsn { n += 1 }
            guard n > 0 else { return nil }
            let v = q[n - 1].version
            q.removeFirst(n)
            return v
        }
        guard let v else { return }
        current.withLock { if !$0.closed && v.txid > $0.txid { $0 = v } }
    }

    public func sync() throws {
        _ = try view()
        if readOnly { return }   // nothing to make durable, and nothing is written
        if let e = syncer?.firstError.withLock({ $0 }) { throw e }
        if options.wal {
            // Every segment that may hold unsynced records (in `none` mode a switch does not sync).
            try withWriteLock {
                try checkWritable("sync")
                do {
                    if durability == .none {
                        // `none` checkpoints write pages and meta with no sync and recycle the WAL
                        // segments they cover, and new segments' names are not synced: what those
                        // segments held is durable only once the page file and directory are.
                        try finishInflightCheckpoint(wait: true)
                        try dataFile.fdatasync()
                        try fs.syncDirectory(path)
                    }
                    for s in walLive { try s.file.fdatasync() }
                    // Under `none` a new segment's name is not synced when it is made: without this, a
                    // power loss could lose the whole file the fdatasync just made durable.
                    if !walSyncs && durability != .none { try fs.syncDirectory(path) }
                } catch {
                    // Sticky for group waiters and the periodic syncer too (fsyncgate).
                    failure = poisoned(error)
                    failWALSync(error)
                    throw error
                }
            }
            try syncWAL(upTo: walWrittenLSN.load(ordering: .acquiring))
        } else {
            try withWriteLock {
                if let failure { throw failure }
                // After a failed sync the pages it covered may never reach the disk (fsyncgate): a
                // later commit's meta page must not be made durable on top of them.
                do { try dataFile.fdatasync() } catch { failure = poisoned(error); throw error }
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
        try withWriteLock {
            if current.withLock({ $0.closed }) { return }
            defer {
                publish(closed: true)
                background?.stop()
                cache.removeAll()
                try? dataFile.close()
                closeSegments()
                storeLock?.release()
            }
            if readOnly { return }   // writes nothing
            if let e = syncer?.firstError.withLock({ $0 }) { throw e }
            if failure == nil, let f = walSyncFailure.withLock({ $0 }) { failure = f }
            if failure == nil { try finishInflightCheckpoint(wait: true) }
            if failure == nil && (!tree.dirty.isEmpty || walBytes > 0 || snapshotsChanged || !walLive.isEmpty) {
                try checkpointNow(sync: true)
            } else if failure == nil {
                try dataFile.fdatasync()
            }
        }
    }
}

/// The `cow` engine on the real file system.
public typealias CowEngine = CowBTree<POSIXFileSystem>

extension CowBTree where FS == POSIXFileSystem {
    /// `recognize(directory:fileSystem:)` on the real file system (for the CLI's checks before it
    /// opens or deletes anything).
    public static func recognize(directory: String) throws -> StoreRecognition {
        try recognize(directory: directory, fileSystem: POSIXFileSystem())
    }

    public convenience init(path: String, options: CowOptions, durability: DurabilityMode, access: StoreAccess = .readWrite) throws {
        try self.init(path: path, options: options, durability: durability, fileSystem: POSIXFileSystem(), access: access)
    }
}

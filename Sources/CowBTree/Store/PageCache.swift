import OrbitCore
import Synchronization

/// The bounded cache of clean pages (`cow.cache_mb`, or `cow.cache_pages`): the pages a reader or
/// the writer finds by page number, read from the page file on a miss and verified like every page
/// read (`pageProblem`).
///
/// **What it holds.** Only clean pages: pages on disk and referenced by a version some reader or
/// the writer may still walk. Pages written since the last checkpoint are not here: a version
/// reaches them through its branch pages' in-memory links (`Page.link`), and they stay in memory
/// (pinned) until the checkpoint that writes them completes (`CowBTree.finishCheckpoint`), after
/// which copies drop those links and the pages are found through the cache by number.
///
/// **Why numbers stay valid.** A page number a published version refers to keeps its bytes on disk
/// until no reader older than the transaction that freed it exists (`ReaderTable`, the tagged
/// `TreeWriter.retired` list): the cache never serves one number's old bytes for its new use, and
/// a freed number is dropped from the cache (`remove`) when it becomes reusable.
///
/// **Eviction: CLOCK (second chance).** A hit sets the entry's reference bit and nothing else —
/// no list to relink under the lock, as LRU needs on every hit, which matters with many reader
/// threads hitting a small hot set (the tree's upper levels). On a miss with the cache full, the
/// hand clears reference bits until it finds an unreferenced entry whose page no reader holds:
/// a page in use (a reader or the writer holds a strong reference, so it is not uniquely
/// referenced) is pinned and passed over. Evicting a page only drops the cache's reference; a
/// reader still walking it keeps it alive. If every entry is pinned for two sweeps, the next one
/// goes anyway (the cache then briefly holds less than what is in use, never more than capacity).
///
/// Measured against LRU by replaying page traces of gets on a 2M-key tree (4 KiB pages, caches of
/// 2%, 10% and 30% of the leaves): CLOCK's hit rate was within 0.1–1.7 points of LRU's (uniform
/// keys 0.666 vs 0.683 at 2%, 0.756/0.757 at 10%; zipfian 0.99 0.798/0.810, 0.891/0.894), for
/// no work on a hit but setting one bit, where LRU relinks a list entry under the lock on every
/// hit. ARC was not measured (its ghost lists add memory and the same per-hit list work).
///
/// **A hit's cost.** One mutex hold: a probe of an open-addressed index (`PageIndex`: a
/// multiplicative hash, number and slot in one entry — a `[UInt64: Int]` spent most of a hit
/// hashing with SipHash), setting the reference bit, counting the hit, and one retain of the page
/// (the reader's pin). The hit counter is a plain integer under that same mutex, exact, instead of a
/// shared atomic incremented beside the lock on every level of every lookup.
///
/// Thread safety: one mutex around the index, the slots and the hit count; reads from disk happen
/// outside it (two threads missing on one page both read it, the first insert wins).
final class PageCache: @unchecked Sendable {
    /// Reads page `no` into the buffer (exactly one page).
    typealias PageReader = @Sendable (UInt64, UnsafeMutableRawBufferPointer) throws -> Void

    let pageSize: Int
    /// Pages held at most.
    let capacity: Int
    let filePath: String
    private let reader: PageReader
    private let state: Lock<State>

    /// Verification bounds: pages newer than the durable meta page, or past its page count, are
    /// corrupt. Raised by the writer when a checkpoint completes.
    let maxTxid: Atomic<UInt64>
    let pageCount: Atomic<UInt64>

    // Counters for stats (relaxed: each exact, read without the lock; hits are counted under the
    // lock, `hits`).
    let misses = Atomic<UInt64>(0)
    let evictions = Atomic<UInt64>(0)
    let pagesRead = Atomic<UInt64>(0)

    struct Slot {
        var no: UInt64
        var page: Page?
        var referenced: Bool
    }

    struct State {
        var index: PageIndex
        var slots: [Slot] = []
        var hand = 0
        /// Cache hits so far (exact; kept across `removeAll`).
        var hits: UInt64 = 0
        init(capacity: Int, hits: UInt64 = 0) { index = PageIndex(expected: capacity); self.hits = hits }
    }

    init(pageSize: Int, capacity: Int, filePath: String, maxTxid: UInt64, pageCount: UInt64, reader: @escaping PageReader) {
        self.pageSize = pageSize
        self.capacity = max(8, capacity)
        self.filePath = filePath
        self.reader = reader
        self.maxTxid = Atomic(maxTxid)
        self.pageCount = Atomic(pageCount)
        self.state = Lock(State(capacity: self.capacity))
    }

    /// Pages held now.
    var count: Int { state.withLock { $0.slots.count } }

    /// Cache hits so far (exact).
    var hits: UInt64 { state.withLock { $0.hits } }

    var bytesRead: UInt64 { pagesRead.load(ordering: .relaxed) &* UInt64(pageSize) }

    func corruption(_ no: UInt64, _ what: String) -> OrbitError {
        OrbitError(.corruption, "page \(no): \(what)", at: "\(filePath) @ offset \(no &* UInt64(pageSize))",
                   hint: "the store is damaged; restore it from a copy (orbit-bench inspect cow <dir> lists every bad page)")
    }

    /// Page `no` (a tree page: leaf or branch), from the cache or read from disk and verified.
    /// Throws a corruption or I/O error naming the page and its offset; never traps.
    @inline(__always)
    func page(_ no: UInt64) throws -> Page {
        let hit: Page? = state.withLock { s in
            guard let i = s.index.find(no) else { return nil }
            s.slots[i].referenced = true
            s.hits &+= 1
            return s.slots[i].page
        }
        if let hit { return hit }
        return try miss(no)
    }

    private func miss(_ no: UInt64) throws -> Page {
        misses.add(1, ordering: .relaxed)
        let p = try read(no, expect: nil)
        guard p.type == .leaf || p.type == .branch else {
            throw corruption(no, "is a \(p.type.map { "\($0)" } ?? "?") page where a tree page was expected")
        }
        if p.type == .branch && p.count < 1 { throw corruption(no, "branch page with no children") }
        p.clean = true
        return insert(no, p)
    }

    /// Reads and verifies page `no` from disk, not caching it (overflow pages, and misses).
    func read(_ no: UInt64, expect: PageType?) throws -> Page {
        let count = pageCount.load(ordering: .relaxed)
        guard no >= Layout.firstDataPage, no < count else {
            throw corruption(no, "page number out of range (page count \(count))")
        }
        let p = Page(size: pageSize, pageNo: no)
        do {
            try reader(no, UnsafeMutableRawBufferPointer(start: p.bytes, count: pageSize))
        } catch {
            let e = (error as? OrbitError) ?? OrbitError(.io, "\(error)")
            throw OrbitError(e.code, "reading page \(no): \(e.message)", at: "\(filePath) @ offset \(no &* UInt64(pageSize))",
                             hint: e.hint ?? "the page file could not be read; check the disk, then reopen the store", cause: e.cause)
        }
        pagesRead.add(1, ordering: .relaxed)
        if let problem = pageProblem(p, no, expect: expect, pageSize: pageSize, maxTxid: maxTxid.load(ordering: .relaxed)) {
            throw corruption(no, problem)
        }
        return p
    }

    /// The bytes of the overflow value `length` long whose chain starts at `first`, and its pages.
    func overflow(_ first: UInt64, length: Int) throws -> (bytes: [UInt8], pages: [UInt64]) {
        let per = pageSize - Layout.overflowPayloadOffset
        let count = pageCount.load(ordering: .relaxed)
        guard count > Layout.firstDataPage, length <= Int(count - Layout.firstDataPage) * per else {
            throw corruption(first, "overflow value of \(length) bytes is longer than the whole page file holds")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        var pages: [UInt64] = []
        var no = first
        while bytes.count < length || pages.isEmpty {
            guard no != 0, pages.count <= length else { throw corruption(first, "overflow chain ends after \(bytes.count) of \(length) bytes") }
            let p = try read(no, expect: .overflow)
            let n = p.count
            guard n <= per, bytes.count + n <= length else {
                throw corruption(no, "overflow page holds \(n) bytes, more than the value needs")
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: p.bytes + Layout.overflowPayloadOffset, count: n))
            pages.append(no)
            no = p.bytes.u64(Layout.nextOffset)
            if length == 0 { break }
        }
        return (bytes, pages)
    }

    /// Adds `page` as page `no` (or returns the one another thread added first).
    private func insert(_ no: UInt64, _ page: Page) -> Page {
        let cap = capacity
        var evicted = false
        let p: Page = state.withLock { s in
            if let i = s.index.find(no), let existing = s.slots[i].page { s.slots[i].referenced = true; return existing }
            if s.slots.count < cap {
                s.index.insert(no, slot: s.slots.count)
                s.slots.append(Slot(no: no, page: page, referenced: true))
                return page
            }
            let n = s.slots.count
            var steps = 0
            while true {
                let i = s.hand
                s.hand = i + 1 == n ? 0 : i + 1
                steps += 1
                if steps <= 2 * n {
                    if s.slots[i].referenced { s.slots[i].referenced = false; continue }
                    if !isKnownUniquelyReferenced(&s.slots[i].page) { continue }   // pinned: in use
                }
                s.index.remove(s.slots[i].no)
                s.slots[i] = Slot(no: no, page: page, referenced: true)
                s.index.insert(no, slot: i)
                evicted = true
                return page
            }
        }
        if evicted { evictions.add(1, ordering: .relaxed) }
        return p
    }

    /// Drops page numbers that are about to be reused (their bytes will change).
    func remove(_ numbers: some Sequence<UInt64>) {
        state.withLock { s in
            for no in numbers {
                guard let i = s.index.remove(no) else { continue }
                let last = s.slots.count - 1
                if i != last {
                    s.slots[i] = s.slots[last]
                    s.index.update(s.slots[i].no, slot: i)
                }
                s.slots.removeLast()
                if s.hand >= s.slots.count { s.hand = 0 }
            }
        }
    }

    /// Empties the cache (close).
    func removeAll() { state.withLock { $0 = State(capacity: capacity, hits: $0.hits) } }
}

/// The versions that may still be read: every `Version` registers its txid while it is alive
/// (readers hold the version they read for the whole get or scan; the writer's published and
/// queued versions count too). A page freed by transaction T is reused only once no version
/// older than T is alive (`oldest`), LMDB's reader table by reference counting.
final class ReaderTable: @unchecked Sendable {
    private let live = Lock<[UInt64: Int]>([:])

    func register(_ txid: UInt64) { live.withLock { $0[txid, default: 0] += 1 } }

    func unregister(_ txid: UInt64) {
        live.withLock { t in
            if let n = t[txid], n > 1 { t[txid] = n - 1 } else { t.removeValue(forKey: txid) }
        }
    }

    /// The txid of the oldest live version (nil: none).
    func oldest() -> UInt64? { live.withLock { $0.keys.min() } }

    /// Live versions (for stats and tests).
    var versions: Int { live.withLock { $0.values.reduce(0, +) } }
}

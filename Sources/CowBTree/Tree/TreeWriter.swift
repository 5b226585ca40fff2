import OrbitCore

/// What a page number allocated since the last checkpoint holds (not yet on disk).
enum Dirty {
    case page(Page)
    case overflow(OverflowValue, index: Int)
}

/// The write side of the tree: one write transaction at a time, copy-on-write from the root to the
/// changed leaves, and the page allocator. Used only under the engine's writer lock.
///
/// **Page numbers.** A page number is *dirty* when it was allocated since the last checkpoint
/// (it is in `dirty` and not yet on disk): a new version of such a page keeps its number. Any other
/// page is on disk and referenced by the durable meta page, so its new version gets a new number and
/// the old number goes to `pending`, reusable only after the next checkpoint's meta page is durable
/// (a crash before that falls back to the durable meta, whose pages must be intact). Numbers in
/// `pinned` (reachable from a snapshot) are never released.
///
/// **Readers find clean pages by number** (through the page cache), so a number is reused only
/// when no reader can still be walking the version that referred to it: a page the checkpoint has
/// made free goes to `retired`, tagged with the transaction that freed it, and on to `free` once
/// no live version is older than that transaction (`promote`, `ReaderTable`). A dirty page freed
/// before any checkpoint wrote it is reused at once: readers reach such a page only by its link.
///
/// **Page objects** (distinct from numbers): a page is changed in place only when its `owner` is
/// the current `epoch` (see `epoch` and `CowBTree.applyAndPublish`); otherwise `mutable` copies it.
final class TreeWriter {
    let pageSize: Int
    /// Entries per node, at most (max_keys_per_node, or what a page holds when 0).
    let maxEntries: Int
    /// A leaf entry (with its slot) larger than this keeps its value in overflow pages.
    let inlineLimit: Int
    /// The longest key accepted.
    let maxKeySize: Int

    var txn: UInt64 = 0
    /// The ownership epoch: pages whose `owner` equals it were created since no reader could see
    /// them, and the writer changes them in place. The engine starts a new epoch whenever a published
    /// version may be in a reader's hands, and at every checkpoint freeze (see `CowBTree.commit`).
    /// Pages loaded from disk have owner 0; epochs start at 1.
    var epoch: UInt64 = 1
    var root: Page?
    var height = 0
    var keys: Int64 = 0
    var keyBytes: Int64 = 0
    var valueBytes: Int64 = 0

    var pageCount: UInt64 = Layout.firstDataPage
    var free: [UInt64] = []
    /// Pages the durable meta page references and the tree no longer does, with the transaction
    /// that freed each: free once the next checkpoint is durable (and the readers allow).
    var pending: [FreedPage] = []
    /// Pages free on disk, waiting for the readers older than their freeing transaction to go.
    var retired: [FreedPage] = []
    /// Where clean pages are found by number (nil: a tree built in memory only, in tests).
    var cache: PageCache?
    var dirty: [UInt64: Dirty] = [:]
    var pinned: Set<UInt64> = []
    var scratch: [UInt8] = []

    init(pageSize: Int, maxKeysPerNode: Int) {
        self.pageSize = pageSize
        let body = pageSize - Layout.headerSize
        self.inlineLimit = body / 4
        self.maxKeySize = inlineLimit - Layout.leafEntryHeader - 8 - Layout.slotSize
        self.maxEntries = maxKeysPerNode > 0 ? maxKeysPerNode : Int.max
        scratch.reserveCapacity(pageSize)
    }

    // MARK: Allocation

    func allocate() -> UInt64 {
        if let n = free.popLast() { return n }
        pageCount += 1
        return pageCount - 1
    }

    func release(_ no: UInt64) {
        if dirty.removeValue(forKey: no) != nil { free.append(no) }
        else if pinned.isEmpty || !pinned.contains(no) { pending.append(FreedPage(no: no, txid: txn)) }
    }

    /// Moves the retired pages no live version can reach (freed by a transaction no older than
    /// the oldest live version, `oldest`; nil: none live) to `free`, dropping them from the cache.
    func promote(oldest: UInt64?) {
        let limit = oldest ?? UInt64.max
        var n = 0
        while n < retired.count && retired[n].txid <= limit { n += 1 }
        guard n > 0 else { return }
        let moved = retired[0..<n].map(\.no)
        retired.removeFirst(n)
        cache?.remove(moved)
        free.append(contentsOf: moved)
    }

    /// Child `i` of branch `p`: its link, or the page found by number through the cache.
    @inline(__always)
    func child(_ p: Page, _ i: Int) throws -> Page {
        if let c = p.link(i) { return c }
        return try resolve(p.branchChildNo(i))
    }

    func resolve(_ no: UInt64) throws -> Page {
        guard let cache else { throw OrbitError(.corruption, "page \(no) is not in memory and there is no page file") }
        return try cache.page(no)
    }

    /// The page numbers of leaf `p`'s entry `i`'s overflow value (linked, or read from its chain).
    func overflowPages(_ p: Page, _ i: Int) throws -> [UInt64] {
        let v = p.leafValue(i)
        let first = p.bytes.u64(v.offset)
        if let o = p.overflow[first] { return o.pages }
        guard let cache else { return [] }
        return try cache.overflow(first, length: v.length).pages
    }

    func newPage(_ type: PageType) -> Page {
        let no = allocate()
        let p = Page(size: pageSize, type: type, pageNo: no, owner: epoch)
        dirty[no] = .page(p)
        return p
    }

    /// The page itself when the current epoch created it; otherwise a copy it may change.
    @inline(__always)
    func mutable(_ page: Page) -> Page {
        if page.owner == epoch { return page }
        let no: UInt64
        if case .page? = dirty[page.pageNo] { no = page.pageNo } else { no = allocate(); release(page.pageNo) }
        let p = page.copy(pageNo: no, owner: epoch)
        p.dropCleanLinks()
        dirty[no] = .page(p)
        return p
    }

    func makeOverflow(_ value: UnsafeRawBufferPointer) -> OverflowValue {
        let per = pageSize - Layout.overflowPayloadOffset
        let n = max(1, (value.count + per - 1) / per)
        var pages: [UInt64] = []
        pages.reserveCapacity(n)
        for _ in 0..<n { pages.append(allocate()) }
        let ov = OverflowValue(bytes: [UInt8](value), pages: pages)
        for (i, no) in pages.enumerated() { dirty[no] = .overflow(ov, index: i) }
        return ov
    }

    func releaseOverflow(_ ov: OverflowValue) { for no in ov.pages { release(no) } }

    // MARK: Validation

    func checkKey(_ key: UnsafeRawBufferPointer) throws {
        if key.count > maxKeySize {
            throw OrbitError(.invalidArgument, "key of \(key.count) bytes is too long for cow.page_size=\(pageSize)",
                             hint: "keys are at most \(maxKeySize) bytes with this page size; raise cow.page_size")
        }
    }

    // MARK: Put

    /// Every page read (a throw: a read error or corruption) happens on the way down, before the
    /// first change: a put that throws has changed nothing.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        var ov: OverflowValue? = nil
        scratch.removeAll(keepingCapacity: true)
        if Layout.leafEntryHeader + key.count + value.count + Layout.slotSize > inlineLimit {
            let o = makeOverflow(value)
            ov = o
            scratch.append(Layout.flagOverflow)
            scratch.appendU16(key.count)
            scratch.appendU32(UInt32(value.count))
            scratch.append(contentsOf: key)
            scratch.appendU64(o.pages[0])
        } else {
            // The 7-byte entry header in one append.
            var h = (UInt64(UInt16(key.count)) << 8 | UInt64(UInt32(value.count)) << 24).littleEndian
            withUnsafeBytes(of: &h) { scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<Layout.leafEntryHeader])) }
            scratch.append(contentsOf: key)
            scratch.append(contentsOf: value)
        }
        try scratch.withUnsafeBytes { entry in
            guard let r = root else {
                let leaf = newPage(.leaf)
                _ = leaf.insertEntry(entry, at: 0)
                if let ov { leaf.overflow[ov.pages[0]] = ov }
                root = leaf
                height = 1
                keys += 1; keyBytes += Int64(key.count); valueBytes += Int64(value.count)
                return
            }
            let (newRoot, split) = try insert(r, key, entry, Int64(value.count), ov, rightEdge: true)
            if let split { grow(newRoot, split) } else { root = newRoot }
        }
    }

    struct Split { var separator: [UInt8]; var right: Page }

    private func grow(_ left: Page, _ split: Split) {
        let b = newPage(.branch)
        appendBranchEntry(b, child: left, key: UnsafeRawBufferPointer(start: nil, count: 0))
        split.separator.withUnsafeBytes { appendBranchEntry(b, child: split.right, key: $0) }
        root = b
        height += 1
    }

    private func appendBranchEntry(_ b: Page, child: Page?, number: UInt64? = nil, key: UnsafeRawBufferPointer) {
        var e: [UInt8] = []
        e.reserveCapacity(Layout.branchEntryHeader + key.count)
        e.appendU64(child?.pageNo ?? number!)
        e.appendU16(key.count)
        e.append(contentsOf: key)
        let ok = e.withUnsafeBytes { b.insertEntry($0, at: b.count) }
        precondition(ok, "branch entry does not fit a fresh page")
        b.appendChild(child)
    }

    /// `rightEdge`: `page` is the last page of its level (every ancestor's last child).
    private func insert(_ page: Page, _ key: UnsafeRawBufferPointer, _ entry: UnsafeRawBufferPointer,
                        _ valueLength: Int64, _ ov: OverflowValue?, rightEdge: Bool) throws -> (Page, Split?) {
        if page.isLeaf {
            let (i, found) = page.leafSearch(key)
            // The replaced value's pages, read before anything changes.
            let oldPages = found && page.leafValue(i).overflow ? try overflowPages(page, i) : []
            let p = mutable(page)
            if found {
                let old = p.leafValue(i)
                valueBytes -= Int64(old.length)
                if old.overflow {
                    p.overflow.removeValue(forKey: p.bytes.u64(old.offset))
                    for no in oldPages { release(no) }
                }
                p.removeEntry(at: i)
            } else {
                keys += 1
                keyBytes += Int64(key.count)
            }
            valueBytes += valueLength
            if let ov { p.overflow[ov.pages[0]] = ov }
            if p.count < maxEntries && p.insertEntry(entry, at: i) { return (p, nil) }
            return split(p, insertAt: i, entry: entry, child: nil, rightEdge: rightEdge)
        }
        let c = page.branchSearch(key)
        let (child, childSplit) = try insert(try self.child(page, c), key, entry, valueLength, ov, rightEdge: rightEdge && c == page.count - 1)
        let p = mutable(page)
        if p.link(c) !== child { p.setChild(c, child) }
        guard let childSplit else { return (p, nil) }
        var e: [UInt8] = []
        e.reserveCapacity(Layout.branchEntryHeader + childSplit.separator.count)
        e.appendU64(childSplit.right.pageNo)
        e.appendU16(childSplit.separator.count)
        e.append(contentsOf: childSplit.separator)
        return e.withUnsafeBytes { eb in
            if p.count < maxEntries && p.insertEntry(eb, at: c + 1) {
                p.insertChild(childSplit.right, at: c + 1)
                return (p, nil)
            }
            return split(p, insertAt: c + 1, entry: eb, child: childSplit.right, rightEdge: rightEdge)
        }
    }

    /// Splits mutable page `p` in two while inserting `entry` at slot `at`. `p` keeps the left half;
    /// returns the right half and the separator (the right's first key; for a branch the key that
    /// moves up, the right's first entry keeping its child under an empty key).
    ///
    /// An append at the end of the last page of a level (a sequential fill) splits there instead: the
    /// left page stays full and the right one starts with the new entry, so ascending inserts leave
    /// full pages behind rather than half-full ones (LMDB's and SQLite's append split).
    private func split(_ p: Page, insertAt at: Int, entry: UnsafeRawBufferPointer, child: Page?, rightEdge: Bool) -> (Page, Split?) {
        // Children are carried as links (nil: found by number, the number in the entry).
        let leaf = p.isLeaf
        let n = p.count + 1
        // Copy the old page: p is rebuilt in place.
        let old = p.copy(pageNo: p.pageNo, owner: p.owner)
        var entries: [UnsafeRawBufferPointer] = []
        entries.reserveCapacity(n)
        var kids: [Page?] = []
        for i in 0..<p.count {
            if i == at { entries.append(entry); if !leaf { kids.append(child) } }
            entries.append(old.entryBytes(i))
            if !leaf { kids.append(old.children[i]) }
        }
        if at == p.count { entries.append(entry); if !leaf { kids.append(child) } }

        // Split point: balance bytes, respect the entry cap, keep both sides non-empty.
        let total = entries.reduce(0) { $0 + $1.count + Layout.slotSize }
        var m = 0, acc = 0
        while m < n - 1 && acc < total / 2 { acc += entries[m].count + Layout.slotSize; m += 1 }
        if rightEdge && at == n - 1 { m = n - 1 }
        if maxEntries != Int.max { m = min(max(m, n - maxEntries), maxEntries) }
        m = min(max(m, 1), n - 1)

        let right = newPage(leaf ? .leaf : .branch)
        let overflows = old.overflow
        p.reset()
        for i in 0..<m {
            _ = p.insertEntry(entries[i], at: i)
            if !leaf { p.appendChild(kids[i]) }
        }
        var separator: [UInt8]
        if leaf {
            for i in m..<n { _ = right.insertEntry(entries[i], at: i - m) }
            separator = [UInt8](right.leafKey(0))
            if !overflows.isEmpty {
                for (page, side) in [(p, 0..<m), (right, m..<n)] as [(Page, Range<Int>)] {
                    for i in 0..<side.count where page.leafValue(i).overflow {
                        let first = page.bytes.u64(page.leafValue(i).offset)
                        page.overflow[first] = overflows[first]
                    }
                }
            }
        } else {
            // Entry m's key moves up; its child becomes the right page's first child.
            let e = entries[m]
            let klen = Int(e[8]) | Int(e[9]) << 8
            separator = [UInt8](UnsafeRawBufferPointer(rebasing: e[Layout.branchEntryHeader..<(Layout.branchEntryHeader + klen)]))
            appendBranchEntry(right, child: kids[m], number: e.u64(0), key: UnsafeRawBufferPointer(start: nil, count: 0))
            for i in (m + 1)..<n {
                _ = right.insertEntry(entries[i], at: right.count)
                right.appendChild(kids[i])
            }
        }
        withExtendedLifetime(old) {}
        return (p, Split(separator: separator, right: right))
    }

    // MARK: Delete

    /// Removes `key`; returns whether it was there.
    /// Every page the delete needs is read before its first change; the pages read after it
    /// (a sibling to merge with, the only child of a root to collapse) are optional: when one
    /// cannot be read the tree stays as it is, valid (an underfull page, a one-child root).
    @discardableResult
    func delete(_ key: UnsafeRawBufferPointer) throws -> Bool {
        guard let r = root, let newRoot = try remove(r, key) else { return false }
        root = newRoot
        // Collapse: a branch with one child gives way to it; an empty leaf root means an empty tree.
        while let top = root, !top.isLeaf, top.count == 1, let only = try? child(top, 0) {
            root = only
            release(top.pageNo)
            height -= 1
        }
        if let top = root, top.isLeaf, top.count == 0 {
            release(top.pageNo)
            root = nil
            height = 0
        }
        return true
    }

    private var underflowBytes: Int { (pageSize - Layout.headerSize) / 4 }

    private func remove(_ page: Page, _ key: UnsafeRawBufferPointer) throws -> Page? {
        if page.isLeaf {
            let (i, found) = page.leafSearch(key)
            guard found else { return nil }
            let oldPages = page.leafValue(i).overflow ? try overflowPages(page, i) : []
            let p = mutable(page)
            let v = p.leafValue(i)
            keys -= 1
            keyBytes -= Int64(key.count)
            valueBytes -= Int64(v.length)
            if v.overflow {
                p.overflow.removeValue(forKey: p.bytes.u64(v.offset))
                for no in oldPages { release(no) }
            }
            p.removeEntry(at: i)
            return p
        }
        let c = page.branchSearch(key)
        guard let child = try remove(try self.child(page, c), key) else { return nil }
        let p = mutable(page)
        if p.link(c) !== child { p.setChild(c, child) }
        if child.used < underflowBytes && p.count >= 2 { mergeChild(p, c) }
        return p
    }

    /// Merges child `c` of branch `p` with a neighbour when the two fit in one page.
    private func mergeChild(_ p: Page, _ c: Int) {
        let l = c > 0 ? c - 1 : c
        let r = l + 1
        // The sibling may have to be read: if it cannot be, no merge (the tree stays valid).
        guard let left = try? child(p, l), let right = try? child(p, r) else { return }
        let leaf = left.isLeaf
        let sepLen = leaf ? 0 : p.branchKey(r).count
        guard left.used + right.used + sepLen <= pageSize - Layout.headerSize,
              left.count + right.count <= maxEntries else { return }
        // The right page's unlinked overflow values keep their pages (found by number).
        let m = mutable(left)
        if leaf {
            for i in 0..<right.count {
                let ok = m.insertEntry(right.entryBytes(i), at: m.count)
                precondition(ok, "merged leaf overflows its page")
                let v = right.leafValue(i)
                if v.overflow, let o = right.overflow[right.bytes.u64(v.offset)] { m.overflow[o.pages[0]] = o }
            }
        } else {
            // The right page's first child comes under the parent's separator for it.
            var e: [UInt8] = []
            e.appendU64(right.branchChildNo(0))
            let sep = p.branchKey(r)
            e.appendU16(sep.count)
            e.append(contentsOf: sep)
            let ok = e.withUnsafeBytes { m.insertEntry($0, at: m.count) }
            precondition(ok, "merged branch overflows its page")
            m.appendChild(right.link(0))
            for i in 1..<max(1, right.count) {
                _ = m.insertEntry(right.entryBytes(i), at: m.count)
                m.appendChild(right.link(i))
            }
        }
        release(right.pageNo)
        p.removeEntry(at: r)
        p.removeChild(at: r)
        p.setChild(l, m)
    }

    // MARK: Walks

    /// Every page number of the tree under `root` (tree pages and overflow pages), reading the
    /// pages not in memory through the cache.
    /// - Complexity: O(pages of the tree): snapshot operations and an open of a store with snapshots.
    func pageNumbers(of root: Page?, into set: inout Set<UInt64>) throws {
        guard let root else { return }
        set.insert(root.pageNo)
        if root.isLeaf {
            for i in 0..<root.count where root.leafValue(i).overflow {
                for n in try overflowPages(root, i) { set.insert(n) }
            }
        } else {
            for i in 0..<root.count {
                let no = root.branchChildNo(i)
                if set.contains(no) { continue }   // shared with a tree already walked
                try pageNumbers(of: try child(root, i), into: &set)
            }
        }
    }
}

/// A page number freed by transaction `txid` (the first whose tree no longer refers to it).
struct FreedPage: Equatable {
    var no: UInt64
    var txid: UInt64
}

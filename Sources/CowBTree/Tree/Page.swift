#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// A value too large for a leaf, on disk in a chain of overflow pages; held in memory by the leaf
/// that links it until a checkpoint has written it (`clean`), then read on demand.
/// Immutable once created; `pages` are its page numbers in chain order.
final class OverflowValue: @unchecked Sendable {
    let bytes: [UInt8]
    let pages: [UInt64]
    /// Written by a completed checkpoint (writer state): a copy of its leaf drops the link.
    var clean = false
    init(bytes: [UInt8], pages: [UInt64]) { self.bytes = bytes; self.pages = pages }
}

/// One B+tree page in memory: the page's bytes exactly as they are (or will be) on disk, plus the
/// in-memory links a reader follows (a branch's child pages, a leaf's overflow values).
///
/// **Links and numbers.** A branch refers to each child by page number (in its entry); it links
/// the child's `Page` only while that child is not on disk yet (written since the last checkpoint),
/// or was linked then and not dropped since. An unlinked child is found by number through the page
/// cache (`CowBTree.child`). Copies drop links to pages a completed checkpoint wrote (`clean`), so
/// what stays in memory outside the cache is what the last checkpoint intervals changed.
///
/// **Invariant (copy-on-write).** A page is mutable only while `owner` equals the writer's current
/// epoch (`TreeWriter.epoch`): it was created after the last version a reader may hold, and after the
/// last checkpoint freeze. A new epoch starts whenever a published version may be in a reader's
/// hands, so a page a reader can reach is never changed again (the checkpoint seals a copy in its
/// own buffer). Readers therefore walk a published tree with no lock.
final class Page: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    let size: Int
    var pageNo: UInt64
    var owner: UInt64
    /// On disk, written by a completed checkpoint or read from the page file (writer state, and
    /// set before a page read from disk is shared).
    var clean = false
    /// Branch pages: the linked child of each slot (nil: found by number). Holds the strong
    /// references (keeping children alive); change it only through
    /// `setChild`/`appendChild`/`insertChild`/`removeChild`.
    private(set) var children = ChildList()
    /// The same links as unowned pointers in one flat buffer, for readers: one load per level,
    /// no reference counting. Valid while `children` holds them; nil for a page read from disk.
    private var childPointers: UnsafeMutablePointer<Unmanaged<Page>?>?
    /// Leaf pages: the overflow values of entries flagged overflow, by their first page number.
    var overflow: [UInt64: OverflowValue] = [:]

    init(size: Int, type: PageType, pageNo: UInt64, owner: UInt64) {
        self.size = size
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        self.pageNo = pageNo
        self.owner = owner
        memset(bytes, 0, Layout.headerSize)
        bytes.storeBytes(of: type.rawValue, toByteOffset: Layout.typeOffset, as: UInt8.self)
        bytes.setU64(Layout.pageNoOffset, pageNo)
        bytes.setU32(Layout.upperOffset, size)
    }

    /// A page loaded from disk (bytes copied in by the caller).
    init(size: Int, pageNo: UInt64) {
        self.size = size
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        self.pageNo = pageNo
        self.owner = 0
    }

    deinit {
        bytes.deallocate()
        childPointers?.deallocate()
    }

    /// Room for as many children as a branch page can hold (every entry is at least 12 bytes).
    private var childCapacity: Int { (size - Layout.headerSize) / (Layout.branchEntryHeader + Layout.slotSize) + 1 }

    private func ensureChildPointers() -> UnsafeMutablePointer<Unmanaged<Page>?> {
        if let c = childPointers { return c }
        let c = UnsafeMutablePointer<Unmanaged<Page>?>.allocate(capacity: childCapacity)
        c.initialize(repeating: nil, count: childCapacity)
        childPointers = c
        return c
    }

    /// The linked child `i` of a branch page, or nil when it is found by number (no reference
    /// counting: the page keeps it alive).
    @inline(__always)
    func link(_ i: Int) -> Page? {
        guard let c = childPointers else { return nil }
        return c[i]?.takeUnretainedValue()
    }

    /// Child `i` of a branch page built in memory (every child linked; tests).
    func child(_ i: Int) -> Page { link(i)! }

    func appendChild(_ p: Page?) {
        ensureChildPointers()[children.count] = p.map { Unmanaged.passUnretained($0) }
        children.append(p)
    }

    func insertChild(_ p: Page?, at i: Int) {
        let c = ensureChildPointers()
        let n = children.count
        if i < n { (c + i + 1).update(from: c + i, count: n - i) }
        c[i] = p.map { Unmanaged.passUnretained($0) }
        children.insert(p, at: i)
    }

    func removeChild(at i: Int) {
        let c = ensureChildPointers()
        let n = children.count
        if i < n - 1 { (c + i).update(from: c + i + 1, count: n - i - 1) }
        children.remove(at: i)
    }

    /// A mutable copy for transaction `owner`, numbered `pageNo`.
    func copy(pageNo: UInt64, owner: UInt64) -> Page {
        let p = Page(size: size, pageNo: pageNo)
        p.bytes.copyMemory(from: bytes, byteCount: size)
        p.bytes.setU64(Layout.pageNoOffset, pageNo)
        p.owner = owner
        if !isLeaf && children.count != count {
            // Read from disk: no child linked yet.
            p.children = ChildList(unlinked: count)
            _ = p.ensureChildPointers()
        } else {
            p.children = children
            if let src = childPointers, children.count > 0 {
                p.ensureChildPointers().update(from: src, count: children.count)
            }
        }
        p.overflow = overflow
        return p
    }

    /// Drops the links to children and overflow values a completed checkpoint wrote: they are
    /// found by number from here on, and stop being held in memory by this page.
    func dropCleanLinks() {
        if let c = childPointers {
            for i in 0..<children.count where children[i]?.clean == true {
                c[i] = nil
                children[i] = nil
            }
        }
        if !overflow.isEmpty {
            for (k, v) in overflow where v.clean { overflow.removeValue(forKey: k) }
        }
    }

    /// A copy of this clean page's bytes with no links (what a reader finds by number).
    func unlinkedCopy() -> Page {
        let p = Page(size: size, pageNo: pageNo)
        p.bytes.copyMemory(from: bytes, byteCount: size)
        p.clean = true
        return p
    }

    @inline(__always) var type: PageType? { PageType(rawValue: bytes.load(fromByteOffset: Layout.typeOffset, as: UInt8.self)) }
    @inline(__always) var isLeaf: Bool { bytes.load(fromByteOffset: Layout.typeOffset, as: UInt8.self) == PageType.leaf.rawValue }
    @inline(__always) var count: Int { bytes.u16(Layout.countOffset) }
    @inline(__always) var upper: Int { bytes.u32(Layout.upperOffset) }
    @inline(__always) var dead: Int { bytes.u32(Layout.deadOffset) }
    @inline(__always) func slot(_ i: Int) -> Int { bytes.u16(Layout.headerSize + i * Layout.slotSize) }
    /// Bytes free between the slot array and the entry heap.
    @inline(__always) var gap: Int { upper - Layout.headerSize - count * Layout.slotSize }
    /// Bytes the live entries and their slots take.
    var used: Int { size - Layout.headerSize - gap - dead }

    // MARK: Entries

    @inline(__always) func leafKey(_ i: Int) -> UnsafeRawBufferPointer {
        let o = slot(i)
        return UnsafeRawBufferPointer(start: bytes + o + Layout.leafEntryHeader, count: bytes.u16(o + 1))
    }

    @inline(__always) func branchKey(_ i: Int) -> UnsafeRawBufferPointer {
        let o = slot(i)
        return UnsafeRawBufferPointer(start: bytes + o + Layout.branchEntryHeader, count: bytes.u16(o + 8))
    }

    @inline(__always) func branchChildNo(_ i: Int) -> UInt64 { bytes.u64(slot(i)) }

    /// Whether leaf entry `i` keeps its value in overflow pages; its value length; where it is.
    @inline(__always) func leafValue(_ i: Int) -> (overflow: Bool, length: Int, offset: Int) {
        let o = slot(i)
        let klen = bytes.u16(o + 1)
        return (bytes.load(fromByteOffset: o, as: UInt8.self) & Layout.flagOverflow != 0, bytes.u32(o + 3),
                o + Layout.leafEntryHeader + klen)
    }

    /// Calls `body` with leaf entry `i`'s value bytes: inline, a linked overflow value, or one
    /// read from its overflow pages through `cache` (a read error or corruption throws).
    @inline(__always)
    func withLeafValue<R>(_ i: Int, cache: PageCache?, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let v = leafValue(i)
        if !v.overflow { return try body(UnsafeRawBufferPointer(start: bytes + v.offset, count: v.length)) }
        let first = bytes.u64(v.offset)
        if let ov = overflow[first] { return try ov.bytes.withUnsafeBytes { try body($0) } }
        guard let cache else { throw OrbitError(.corruption, "page \(pageNo): overflow value at page \(first) is not in memory") }
        return try cache.overflow(first, length: v.length).bytes.withUnsafeBytes { try body($0) }
    }

    /// The raw bytes of entry `i` (header, key and inline value or overflow reference).
    func entryBytes(_ i: Int) -> UnsafeRawBufferPointer {
        let o = slot(i)
        return UnsafeRawBufferPointer(start: bytes + o, count: entrySize(at: o))
    }

    @inline(__always) func entrySize(at o: Int) -> Int { Page.entrySize(bytes, o, leaf: isLeaf) }

    @inline(__always) static func entrySize(_ p: UnsafeMutableRawPointer, _ o: Int, leaf: Bool) -> Int {
        if leaf {
            let klen = p.u16(o + 1)
            let ov = p.load(fromByteOffset: o, as: UInt8.self) & Layout.flagOverflow != 0
            return Layout.leafEntryHeader + klen + (ov ? 8 : p.u32(o + 3))
        }
        return Layout.branchEntryHeader + p.u16(o + 8)
    }

    /// First slot whose key is >= `key` (leaf), and whether it is equal.
    @inline(__always)
    func leafSearch(_ key: UnsafeRawBufferPointer) -> (index: Int, found: Bool) {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            let c = compareBytes(leafKey(mid), key)
            if c < 0 { lo = mid + 1 } else if c > 0 { hi = mid } else { return (mid, true) }
        }
        return (lo, false)
    }

    /// The child slot whose range holds `key`: the last slot i >= 1 with key_i <= key, else 0.
    @inline(__always)
    func branchSearch(_ key: UnsafeRawBufferPointer) -> Int {
        var lo = 1, hi = count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if compareBytes(branchKey(mid), key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    // MARK: Mutation (owner transaction only)

    /// Inserts raw entry `entry` at slot `i` if it fits (compacting first when dead bytes make room).
    func insertEntry(_ entry: UnsafeRawBufferPointer, at i: Int) -> Bool {
        let need = entry.count + Layout.slotSize
        if gap < need {
            guard gap + dead >= need else { return false }
            compact()
        }
        let n = count
        let newUpper = upper - entry.count
        (bytes + newUpper).copyMemory(from: entry.baseAddress!, byteCount: entry.count)
        let slots = bytes + Layout.headerSize
        if i < n { memmove(slots + (i + 1) * 2, slots + i * 2, (n - i) * 2) }
        bytes.setU16(Layout.headerSize + i * 2, newUpper)
        bytes.setU16(Layout.countOffset, n + 1)
        bytes.setU32(Layout.upperOffset, newUpper)
        return true
    }

    /// Removes slot `i`; its entry's bytes become dead space.
    func removeEntry(at i: Int) {
        let n = count
        let size = entrySize(at: slot(i))
        let slots = bytes + Layout.headerSize
        if i < n - 1 { memmove(slots + i * 2, slots + (i + 1) * 2, (n - i - 1) * 2) }
        bytes.setU16(Layout.countOffset, n - 1)
        bytes.setU32(Layout.deadOffset, dead + size)
    }

    /// Rewrites the heap without dead space, keeping slot order.
    func compact() {
        let n = count
        let leaf = isLeaf
        let temp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { temp.deallocate() }
        temp.copyMemory(from: bytes, byteCount: size)
        var top = size
        for i in 0..<n {
            let o = temp.u16(Layout.headerSize + i * 2)
            let s = Page.entrySize(temp, o, leaf: leaf)
            top -= s
            (bytes + top).copyMemory(from: temp + o, byteCount: s)
            bytes.setU16(Layout.headerSize + i * 2, top)
        }
        bytes.setU32(Layout.upperOffset, top)
        bytes.setU32(Layout.deadOffset, 0)
    }

    /// Points branch slot `i` at `child` (linked).
    func setChild(_ i: Int, _ child: Page) {
        bytes.setU64(slot(i), child.pageNo)
        ensureChildPointers()[i] = Unmanaged.passUnretained(child)
        children[i] = child
    }

    /// Empties the page (keeps its type and number).
    func reset() {
        bytes.setU16(Layout.countOffset, 0)
        bytes.setU32(Layout.upperOffset, size)
        bytes.setU32(Layout.deadOffset, 0)
        children.removeAll(keepingCapacity: true)
        overflow.removeAll()
    }

    /// Stamps the header's txid and checksum: the page as it goes to disk.
    func seal(txid: UInt64) {
        bytes.setU64(Layout.txidOffset, txid)
        Page.sealChecksum(bytes, size)
    }

    static func sealChecksum(_ p: UnsafeMutableRawPointer, _ size: Int) {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p + 4, count: size - 4))
        p.setU32(Layout.checksumOffset, Int(CRC32C.mask(crc)))
    }

    static func checksumIsValid(_ p: UnsafeMutableRawPointer, _ size: Int) -> Bool {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p + 4, count: size - 4))
        return UInt32(p.u32(Layout.checksumOffset)) == CRC32C.mask(crc)
    }
}

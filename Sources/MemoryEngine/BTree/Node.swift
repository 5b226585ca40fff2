#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One entry of a node: where its key (and, in a leaf, its value) lives in the node's arena.
///
/// 24 bytes. The prefix makes most comparisons of a binary search touch only the slots, not the arena.
struct Slot {
    /// The key's first 8 bytes, big-endian, zero-padded (see `keyPrefix`).
    var prefix: UInt64
    /// Offset of the key bytes in the arena; in a leaf the value bytes follow the key.
    var offset: Int
    var keyLength: UInt32
    /// 0 in internal nodes (separators have no value).
    var valueLength: UInt32

    @inline(__always) var entryBytes: Int { Int(keyLength) &+ Int(valueLength) }
}

/// The first 8 bytes of a key as a big-endian integer, zero-padded.
///
/// Invariant used by every search: if `keyPrefix(a) != keyPrefix(b)`, the integers order `a` and
/// `b` exactly as `compareBytes` does (zero padding can only make a shorter key compare equal to a
/// longer one, never reverse an order). When they are equal, the first `min(8, a.count, b.count)`
/// bytes are equal and the rest of the keys decide.
@inline(__always)
func keyPrefix(_ key: UnsafeRawBufferPointer) -> UInt64 {
    if key.count >= 8 { return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) }
    var p: UInt64 = 0
    var shift: UInt64 = 56
    for b in key {
        p |= UInt64(b) &<< shift
        shift &-= 8
    }
    return p
}

/// The fixed part of a node, stored in front of its slots (see `Node`).
struct NodeHeader {
    /// The prefixes of slots 0, 8, 16, ... 56 (`UInt64.max` past the end): `find` narrows its binary
    /// search to about 8 slots with these, which sit in the lines of the node it has already loaded.
    /// In a tree bigger than the caches this saves several cache misses per lookup.
    var fence = SIMD8<UInt64>(repeating: .max)
    let isLeaf: Bool
    /// Slots in use: entries of a leaf, separators of an internal node.
    var count = 0
    /// Children of an internal node: `count + 1`, or 0 once its last child was removed.
    var childCount = 0
    /// Bytes of the arena referenced by slots; the rest of `arenaCount` is garbage.
    var liveBytes = 0
    /// Key and value bytes (malloc'd, grown with realloc; nil until the first byte).
    var arena: UnsafeMutableRawPointer? = nil
    var arenaCount = 0
    var arenaCapacity = 0
    /// Internal nodes: `Node.capacity + 1` retained child references. Nil in leaves.
    var children: UnsafeMutablePointer<Unmanaged<Node>>? = nil

    init(isLeaf: Bool) { self.isLeaf = isLeaf }
}

/// A node of the in-memory B+tree: a leaf (sorted keys with their values) or an internal node
/// (sorted separators and one more child than separators).
///
/// Storage: one allocation holds the header and the sorted slots (tail-allocated, `Node.capacity`
/// of them); all key and value bytes live in one separately allocated arena that slots point into.
/// A put appends to the arena and inserts a 24-byte slot: it allocates nothing unless the arena has
/// to grow or the node splits. Overwrites with a value no longer than the old one write in place;
/// longer overwrites and deletes leave garbage, reclaimed by `compactIfWasteful()`.
///
/// Reads touch only raw memory: no reference counting on the way down (readers on several cores
/// would otherwise contend on the upper nodes' counts), no exclusivity checks.
///
/// Copy-on-write: nodes are shared between the live tree and snapshots. A node is mutated only when
/// every node on the path from the root to it is uniquely referenced: `ByteTree` checks the root,
/// `uniqueChild(at:)` the rest, copying shared nodes (`copy()`).
///
/// Invariants:
/// - `slots[0..<count]` are in strictly ascending key order.
/// - Leaf: no children. Internal: `childCount == count + 1` (or 0 when emptied); every key under
///   child `i` is >= separator `i - 1` and < separator `i`.
/// - `liveBytes` is the sum of `entryBytes` over the slots in use.
/// - Every child reference in `children[0..<childCount]` holds one retain, released in `deinit`.
final class Node: ManagedBuffer<NodeHeader, Slot> {
    /// Leaves split above this many entries, internal nodes above this many children.
    static let maxEntries = 64
    /// Slots allocated per node: one more than `maxEntries`, held for the moment before a split.
    static let capacity = maxEntries + 1
    /// A leaf with more than one entry also splits above this many live key+value bytes. 8 KiB: every
    /// write copies the leaf it changes (MemoryEngine publishes immutable trees), so its size is the
    /// write's main cost.
    static let maxLeafBytes = 8 * 1024
    /// Garbage below this is never worth a compaction.
    static let minCompactionBytes = 4096
    static let fenceStride = 8

    static func make(isLeaf: Bool) -> Node {
        let node = unsafeDowncast(Node.create(minimumCapacity: capacity) { _ in NodeHeader(isLeaf: isLeaf) }, to: Node.self)
        if !isLeaf {
            let c = UnsafeMutablePointer<Unmanaged<Node>>.allocate(capacity: capacity + 1)
            node.header.children = c
        }
        return node
    }

    deinit {
        let h = header
        if let c = h.children {
            for i in 0..<h.childCount { c[i].release() }
            c.deallocate()
        }
        free(h.arena)
        // Slots are trivial: nothing to deinitialize.
    }

    // MARK: Accessors

    @inline(__always) var slots: UnsafeMutablePointer<Slot> { withUnsafeMutablePointerToElements { $0 } }
    @inline(__always) var isLeaf: Bool { header.isLeaf }
    @inline(__always) var count: Int { header.count }
    @inline(__always) var childCount: Int { header.childCount }
    @inline(__always) var liveBytes: Int { header.liveBytes }
    @inline(__always) var arena: UnsafeMutableRawPointer? { header.arena }

    var isEmpty: Bool { isLeaf ? header.count == 0 : header.childCount == 0 }

    /// Too small to keep alone when a sibling has room for it (see `ByteTree.rebalance`).
    var isUnderfull: Bool { isLeaf ? header.count < Node.maxEntries / 4 : header.childCount < Node.maxEntries / 4 }

    var needsSplit: Bool {
        isLeaf
            ? header.count > Node.maxEntries || (header.count > 1 && header.liveBytes > Node.maxLeafBytes)
            : header.childCount > Node.maxEntries
    }

    /// The key bytes of `s` (a slot of this node).
    @inline(__always)
    func keyBytes(_ s: Slot) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: header.arena.map { $0 + s.offset }, count: Int(s.keyLength))
    }

    /// The value bytes of `s` (a slot of this leaf).
    @inline(__always)
    func valueBytes(_ s: Slot) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: header.arena.map { $0 + s.offset + Int(s.keyLength) }, count: Int(s.valueLength))
    }

    /// A copy of the key in slot `i`.
    func key(at i: Int) -> [UInt8] { [UInt8](keyBytes(slots[i])) }

    /// Child `i`, not retained: valid while this node is (see `ByteTree.leaf(for:)`).
    @inline(__always)
    func child(at i: Int) -> Unmanaged<Node> { header.children.unsafelyUnwrapped[i] }

    // MARK: Search

    /// Sign of (key of `slot`) compared with `key`, in `compareBytes` order.
    @inline(__always)
    func compare(_ slot: Slot, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Int {
        if slot.prefix != prefix { return slot.prefix < prefix ? -1 : 1 }
        let kl = Int(slot.keyLength)
        let n = min(kl, key.count)
        if n > 8 {
            // Both keys are longer than 8 bytes, so both base addresses are non-nil.
            let c = memcmp(header.arena.unsafelyUnwrapped + slot.offset + 8, key.baseAddress.unsafelyUnwrapped + 8, n - 8)
            if c != 0 { return c < 0 ? -1 : 1 }
        }
        return kl == key.count ? 0 : (kl < key.count ? -1 : 1)
    }

    /// The first slot whose key is >= `key`, and whether it is equal.
    /// - Complexity: O(log n) comparisons, most of them on the 8-byte prefixes alone.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> (index: Int, found: Bool) {
        let count = header.count
        let fence = header.fence
        let s = slots
        // The answer lies after every fenced slot whose prefix is < `prefix`, and at or before the
        // first one whose prefix is > `prefix` (fences are sorted, as the slots are).
        let fences = min(8, (count &+ Node.fenceStride &- 1) / Node.fenceStride)
        var below = 0
        var atOrBelow = 0
        for j in 0..<fences {
            let f = fence[j]
            below &+= f < prefix ? 1 : 0
            atOrBelow &+= f <= prefix ? 1 : 0
        }
        var lo = below == 0 ? 0 : (below &- 1) &* Node.fenceStride &+ 1
        var hi = atOrBelow == fences ? count : atOrBelow &* Node.fenceStride
        while lo < hi {
            let mid = (lo &+ hi) &>> 1
            let c = compare(s[mid], key, prefix)
            if c < 0 { lo = mid &+ 1 } else if c > 0 { hi = mid } else { return (mid, true) }
        }
        return (lo, false)
    }

    /// The child of an internal node whose range holds `key`: the number of separators <= `key`.
    @inline(__always)
    func childIndex(_ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> Int {
        let (i, found) = find(key, prefix)
        return found ? i &+ 1 : i
    }

    // MARK: Slots and arena (the caller guarantees this node is uniquely referenced)

    @inline(__always)
    private func refreshFence() {
        let s = slots
        let count = header.count
        var fence = SIMD8<UInt64>(repeating: .max)
        for j in 0..<8 {
            let i = j &* Node.fenceStride
            if i < count { fence[j] = s[i].prefix }
        }
        header.fence = fence
    }

    /// Appends `key` then `value` to the arena; returns the key's offset.
    private func append(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Int {
        let n = key.count + value.count
        if n == 0 { return header.arenaCount }
        if header.arenaCount + n > header.arenaCapacity { growArena(to: header.arenaCount + n) }
        let offset = header.arenaCount
        let base = header.arena.unsafelyUnwrapped
        if key.count > 0 { (base + offset).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        if value.count > 0 { (base + offset + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        header.arenaCount += n
        return offset
    }

    private func growArena(to needed: Int) {
        let capacity = max(needed, header.arenaCapacity * 2, 256)
        guard let p = realloc(header.arena, capacity) else { fatalError("MemoryEngine: out of memory (arena of \(capacity) bytes)") }
        header.arena = p
        header.arenaCapacity = capacity
    }

    private func insertSlot(_ slot: Slot, at index: Int) {
        let s = slots
        let count = header.count
        precondition(count < Node.capacity, "Node: slot overflow")
        (s + index + 1).update(from: s + index, count: count - index)
        s[index] = slot
        header.count = count + 1
        header.liveBytes += slot.entryBytes
        refreshFence()
    }

    private func removeSlot(at index: Int) -> Slot {
        let s = slots
        let slot = s[index]
        (s + index).update(from: s + index + 1, count: header.count - index - 1)
        header.count -= 1
        header.liveBytes -= slot.entryBytes
        refreshFence()
        return slot
    }

    /// Rewrites the arena without garbage once garbage outweighs live bytes: the arena stays under
    /// twice the live bytes plus `minCompactionBytes`.
    private func compactIfWasteful() {
        let garbage = header.arenaCount - header.liveBytes
        guard garbage > header.liveBytes, garbage >= Node.minCompactionBytes else { return }
        compact(keeping: header.count, headroom: 0)
    }

    /// Keeps slots `0..<keep` and rewrites their bytes into a fresh arena with `headroom` spare bytes.
    private func compact(keeping keep: Int, headroom: Int) {
        let s = slots
        var live = 0
        for i in 0..<keep { live += s[i].entryBytes }
        let capacity = live + headroom
        let fresh: UnsafeMutableRawPointer? = capacity == 0 ? nil : malloc(capacity)
        var offset = 0
        for i in 0..<keep {
            let n = s[i].entryBytes
            if n > 0 { (fresh! + offset).copyMemory(from: header.arena! + s[i].offset, byteCount: n) }
            s[i].offset = offset
            offset += n
        }
        free(header.arena)
        header.arena = fresh
        header.arenaCount = live
        header.arenaCapacity = capacity
        header.count = keep
        header.liveBytes = live
        refreshFence()
    }

    /// Appends copies of `source`'s slots `range` (with their bytes) to this node's slots.
    private func appendEntries(from source: Node, _ range: Range<Int>) {
        let src = source.slots
        for i in range {
            let s = src[i]
            var copy = s
            copy.offset = append(source.keyBytes(s), source.isLeaf ? source.valueBytes(s) : UnsafeRawBufferPointer(start: nil, count: 0))
            slots[header.count] = copy
            header.count += 1
            header.liveBytes += copy.entryBytes
        }
        refreshFence()
    }

    /// An unshared copy: same entries, same children (retained once more). The slots and the arena
    /// are copied whole (two memcpys: writers copy a node on every write, MemoryEngine's readers
    /// need it), unless the arena holds over `minCompactionBytes` of dead bytes: then it is compacted.
    func copy() -> Node {
        let node = Node.make(isLeaf: isLeaf)
        let h = header
        if h.arenaCount - h.liveBytes <= Node.minCompactionBytes {
            node.reserveArena(h.arenaCount + 512)
            if h.arenaCount > 0 { node.header.arena.unsafelyUnwrapped.copyMemory(from: h.arena.unsafelyUnwrapped, byteCount: h.arenaCount) }
            node.slots.update(from: slots, count: h.count)
            node.header.count = h.count
            node.header.arenaCount = h.arenaCount
            node.header.liveBytes = h.liveBytes
            node.header.fence = h.fence
        } else {
            node.reserveArena(h.liveBytes + 512)
            node.appendEntries(from: self, 0..<h.count)
        }
        if let c = header.children {
            let n = header.childCount
            for i in 0..<n { _ = c[i].retain() }
            node.header.children.unsafelyUnwrapped.update(from: c, count: n)
            node.header.childCount = n
        }
        return node
    }

    private func reserveArena(_ bytes: Int) {
        if header.arenaCapacity < bytes { growArena(to: bytes) }
    }

    // MARK: Leaf mutation (the caller guarantees this node is uniquely referenced)

    /// Inserts or overwrites at `index` (from `find`). Returns the replaced value's length, nil for a new key.
    func leafPut(at index: Int, found: Bool, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                 _ prefix: UInt64) -> Int? {
        if found {
            var s = slots[index]
            let old = Int(s.valueLength)
            if value.count <= old {
                if value.count > 0 {
                    (header.arena! + s.offset + Int(s.keyLength)).copyMemory(from: value.baseAddress!, byteCount: value.count)
                }
            } else {
                s.offset = append(key, value)
            }
            s.valueLength = UInt32(value.count)
            slots[index] = s
            header.liveBytes += value.count - old
            compactIfWasteful()
            return old
        }
        let offset = append(key, value)
        insertSlot(Slot(prefix: prefix, offset: offset, keyLength: UInt32(key.count), valueLength: UInt32(value.count)),
                   at: index)
        return nil
    }

    /// Removes slot `index` of a leaf. Returns the removed key and value lengths.
    func leafRemove(at index: Int) -> (keyLength: Int, valueLength: Int) {
        let s = removeSlot(at: index)
        compactIfWasteful()
        return (Int(s.keyLength), Int(s.valueLength))
    }

    // MARK: Internal-node mutation (the caller guarantees this node is uniquely referenced)

    /// Makes child `i` uniquely referenced, copying it if it is shared, and returns it.
    func uniqueChild(at i: Int) -> Node {
        let c = header.children.unsafelyUnwrapped
        var child = c[i].takeRetainedValue()  // takes over the reference `children` held
        if !isKnownUniquelyReferenced(&child) { child = child.copy() }
        c[i] = Unmanaged.passRetained(child)
        return child
    }

    /// Sets the first child of a new root.
    func setOnlyChild(_ child: Node) {
        precondition(!isLeaf && header.childCount == 0)
        header.children.unsafelyUnwrapped[0] = Unmanaged.passRetained(child)
        header.childCount = 1
    }

    /// Inserts `separator` at slot `index` and `right` as child `index + 1`.
    func insertChild(_ right: Node, separator: [UInt8], at index: Int) {
        separator.withUnsafeBytes { sep in
            let offset = append(sep, UnsafeRawBufferPointer(start: nil, count: 0))
            insertSlot(Slot(prefix: keyPrefix(sep), offset: offset, keyLength: UInt32(sep.count), valueLength: 0), at: index)
        }
        let c = header.children.unsafelyUnwrapped
        let n = header.childCount
        (c + index + 2).update(from: c + index + 1, count: n - index - 1)
        c[index + 1] = Unmanaged.passRetained(right)
        header.childCount = n + 1
    }

    /// Removes (and releases) child `index` and the separator on one side of it (the left one when
    /// there is one).
    func removeChild(at index: Int) {
        let c = header.children.unsafelyUnwrapped
        let n = header.childCount
        c[index].release()
        (c + index).update(from: c + index + 1, count: n - index - 1)
        header.childCount = n - 1
        if header.count > 0 {
            _ = removeSlot(at: index > 0 ? index - 1 : 0)
            compactIfWasteful()
        }
    }

    /// Replaces child `index` with `node` (releasing the old one).
    func replaceChild(at index: Int, with node: Node) {
        let c = header.children.unsafelyUnwrapped
        c[index].release()
        c[index] = Unmanaged.passRetained(node)
    }

    // MARK: Split and merge

    /// Splits an overfull node in two, keeping the lower half. Returns the separator to insert in
    /// the parent and the new upper node.
    func split() -> (separator: [UInt8], right: Node) {
        isLeaf ? splitLeaf() : splitInternal()
    }

    private func splitLeaf() -> (separator: [UInt8], right: Node) {
        // Split where the live bytes are halved (so one huge value does not leave a full half),
        // keeping at least one entry on each side.
        let s = slots
        let count = header.count
        var m = 1
        var acc = s[0].entryBytes
        while m < count - 1 && acc * 2 < header.liveBytes {
            acc += s[m].entryBytes
            m += 1
        }
        let separator = shortestSeparator(after: m - 1, before: m)
        let right = Node.make(isLeaf: true)
        right.reserveArena((header.liveBytes - acc) * 2)
        right.appendEntries(from: self, m..<count)
        compact(keeping: m, headroom: acc)
        return (separator, right)
    }

    /// The shortest key `s` with key(i) < s <= key(j): the common prefix plus the first byte where
    /// they differ (suffix truncation keeps internal nodes small).
    private func shortestSeparator(after i: Int, before j: Int) -> [UInt8] {
        let ka = keyBytes(slots[i])
        let kb = keyBytes(slots[j])
        var common = 0
        while common < ka.count && common < kb.count && ka[common] == kb[common] { common += 1 }
        // kb is longer than the common prefix (ka < kb), so kb[common] exists.
        return [UInt8](UnsafeRawBufferPointer(rebasing: kb[0...common]))
    }

    private func splitInternal() -> (separator: [UInt8], right: Node) {
        // Left keeps children[0..<m] and separators[0..<m-1]; separator m-1 moves up.
        let n = header.childCount
        let m = n / 2
        let up = key(at: m - 1)
        let right = Node.make(isLeaf: false)
        right.appendEntries(from: self, m..<header.count)
        // Move (not copy) the upper children: their references change owner, counts unchanged.
        right.header.children.unsafelyUnwrapped.update(from: header.children.unsafelyUnwrapped + m, count: n - m)
        right.header.childCount = n - m
        header.childCount = m
        compact(keeping: m - 1, headroom: 64)
        return (up, right)
    }

    /// Whether `left` and `right` (adjacent siblings) fit in one node.
    static func canMerge(_ left: Node, _ right: Node) -> Bool {
        if left.isLeaf {
            return left.count + right.count <= maxEntries && left.liveBytes + right.liveBytes <= maxLeafBytes
        }
        return left.childCount + right.childCount <= maxEntries
    }

    /// A new node holding `left`, then `right`; for internal nodes `separator` (the parent's key
    /// between them) comes down between their separators. Neither input is modified.
    static func merged(_ left: Node, separator: [UInt8], _ right: Node) -> Node {
        let node = Node.make(isLeaf: left.isLeaf)
        node.reserveArena(left.liveBytes + right.liveBytes + separator.count)
        node.appendEntries(from: left, 0..<left.count)
        if !left.isLeaf {
            separator.withUnsafeBytes { sep in
                let offset = node.append(sep, UnsafeRawBufferPointer(start: nil, count: 0))
                node.slots[node.header.count] = Slot(prefix: keyPrefix(sep), offset: offset, keyLength: UInt32(sep.count), valueLength: 0)
                node.header.count += 1
                node.header.liveBytes += sep.count
            }
        }
        node.appendEntries(from: right, 0..<right.count)
        if !left.isLeaf {
            let c = node.header.children.unsafelyUnwrapped
            var n = 0
            for source in [left, right] {
                let sc = source.header.children.unsafelyUnwrapped
                for i in 0..<source.childCount {
                    c[n] = sc[i].retain()
                    n += 1
                }
            }
            node.header.childCount = n
        }
        return node
    }

    // MARK: Accounting

    /// Heap bytes of this node alone: the node (object header, `NodeHeader`, slots), its arena's
    /// capacity and its child array. Malloc's per-block overhead and rounding are not included.
    var footprintBytes: Int {
        var total = 16 + MemoryLayout<NodeHeader>.stride + capacity * MemoryLayout<Slot>.stride
        total += header.arenaCapacity
        if header.children != nil { total += (Node.capacity + 1) * MemoryLayout<Unmanaged<Node>>.stride }
        return total
    }
}

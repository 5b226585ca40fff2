/// The page cache's index: page number → slot, an open-addressed table with linear probing under a
/// multiplicative (Fibonacci) hash, at most half full, each entry the number and its slot side by
/// side (one cache line holds the probe). It replaces a `[UInt64: Int]`, whose SipHash of the key
/// and separate key and value arrays were most of a cache hit's cost.
///
/// Not thread-safe: `PageCache` uses it under its mutex. Number 0 marks an empty entry (page 0 is a
/// meta page, never cached; `find(0)` is nil). Removal shifts the following entries of the probe
/// run back into the hole (no tombstones: evictions replace entries all the time, and tombstones
/// would lengthen every probe until a rehash). The table starts small and doubles when it passes
/// half full, so a large `cow.cache_mb` costs memory only as pages are cached.
struct PageIndex {
    struct Entry {
        var no: UInt64
        var slot: Int
    }

    private var entries: [Entry]
    /// 64 − log2(entries.count): the hash's top bits index the table.
    private var shift: UInt64
    private(set) var count = 0

    init(expected: Int) {
        var size = 16
        while size < 2 * min(max(expected, 8), 1 << 16) { size <<= 1 }
        entries = Array(repeating: Entry(no: 0, slot: 0), count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    /// Slots the table has (a power of two, at least twice `count`).
    var tableSize: Int { entries.count }

    @inline(__always)
    private func home(_ no: UInt64) -> Int { Int(truncatingIfNeeded: (no &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The table position holding `no`, or nil.
    @inline(__always)
    private func position(_ no: UInt64) -> Int? {
        entries.withUnsafeBufferPointer { e in
            let mask = e.count - 1
            var i = home(no)
            while true {
                let k = e[i].no
                if k == 0 { return nil }
                if k == no { return i }
                i = (i &+ 1) & mask
            }
        }
    }

    /// The slot of page `no`, or nil.
    @inline(__always)
    func find(_ no: UInt64) -> Int? {
        guard no != 0, let i = position(no) else { return nil }
        return entries[i].slot
    }

    /// Adds `no` (not present; not 0) at `slot`.
    mutating func insert(_ no: UInt64, slot: Int) {
        precondition(no != 0, "page 0 is never cached")
        if (count + 1) * 2 > entries.count { grow() }
        place(no, slot)
        count += 1
    }

    private mutating func place(_ no: UInt64, _ slot: Int) {
        let mask = entries.count - 1
        var i = home(no)
        while entries[i].no != 0 { i = (i &+ 1) & mask }
        entries[i] = Entry(no: no, slot: slot)
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(no: 0, slot: 0), count: old.count * 2)
        shift -= 1
        for e in old where e.no != 0 { place(e.no, e.slot) }
    }

    /// Points present page `no` at `slot`.
    mutating func update(_ no: UInt64, slot: Int) {
        guard let i = position(no) else { preconditionFailure("page \(no) is not in the index") }
        entries[i].slot = slot
    }

    /// Removes `no`; its slot, or nil when it was not present.
    @discardableResult
    mutating func remove(_ no: UInt64) -> Int? {
        guard no != 0, var hole = position(no) else { return nil }
        let slot = entries[hole].slot
        let mask = entries.count - 1
        var j = hole
        while true {
            j = (j &+ 1) & mask
            let e = entries[j]
            if e.no == 0 { break }
            // e may fill the hole unless its home lies cyclically in (hole, j].
            let h = home(e.no)
            let stays = hole < j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !stays {
                entries[hole] = e
                hole = j
            }
        }
        entries[hole] = Entry(no: 0, slot: 0)
        count -= 1
        return slot
    }

    /// Every (number, slot) held, in table order (tests).
    var all: [(no: UInt64, slot: Int)] { entries.filter { $0.no != 0 }.map { ($0.no, $0.slot) } }
}

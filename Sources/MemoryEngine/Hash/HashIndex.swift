import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One key and its value in one allocation, immutable once published:
/// `[hash: UInt64][keyLength: UInt32][valueLength: UInt32][key bytes][value bytes]`.
/// A replaced or deleted record is retired (`EpochReclaimer`), never changed in place.
enum IndexRecord {
    static let headerBytes = 16

    static func make(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: headerBytes + key.count + value.count, alignment: 8)
        p.storeBytes(of: hash, as: UInt64.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: key.count), toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: value.count), toByteOffset: 12, as: UInt32.self)
        if let k = key.baseAddress { (p + headerBytes).copyMemory(from: k, byteCount: key.count) }
        if let v = value.baseAddress { (p + headerBytes + key.count).copyMemory(from: v, byteCount: value.count) }
        return p
    }

    @inline(__always) static func hash(_ p: UnsafeRawPointer) -> UInt64 { p.load(as: UInt64.self) }
    @inline(__always) static func keyLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 8, as: UInt32.self)) }
    @inline(__always) static func valueLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 12, as: UInt32.self)) }

    @inline(__always) static func value(_ p: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p + headerBytes + keyLength(p), count: valueLength(p))
    }

    /// Bytes of the allocation (without malloc's own overhead).
    static func bytes(_ p: UnsafeRawPointer) -> Int { headerBytes + keyLength(p) + valueLength(p) }

    @inline(__always)
    static func matches(_ p: UnsafeRawPointer, _ key: UnsafeRawBufferPointer, _ hash: UInt64) -> Bool {
        guard Self.hash(p) == hash, keyLength(p) == key.count else { return false }
        return key.count == 0 || equalBytes(p + headerBytes, key.baseAddress.unsafelyUnwrapped, key.count)
    }

    /// Whether `n` bytes at `a` and `b` are equal: keys up to 32 bytes (the usual ones) compared in
    /// 8-byte words inline, the last word overlapping the one before it, instead of a call to memcmp
    /// on every lookup; longer keys by memcmp.
    @inline(__always)
    static func equalBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        if n > 32 { return memcmp(a, b, n) == 0 }
        if n < 8 {
            var i = 0
            while i < n {
                if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
                i &+= 1
            }
            return true
        }
        var i = 0
        while i &+ 8 < n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i &+= 8
        }
        return a.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
    }
}

/// A 64-bit hash of a key: 8-byte words folded by multiply-and-rotate, finished with MurmurHash3's
/// 64-bit finalizer (every input bit reaches every output bit, which linear probing needs).
@inline(__always)
func indexHash(_ key: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: key.count)
    var i = 0
    let n = key.count
    while i &+ 8 <= n {
        let w = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = ((h ^ w) &* 0xFF51_AFD7_ED55_8CCD)
        h = (h &<< 31) | (h &>> 33)
        i &+= 8
    }
    if i < n {
        var w: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            w |= UInt64(key[i]) &<< shift
            shift &+= 8
            i &+= 1
        }
        h = ((h ^ w) &* 0xFF51_AFD7_ED55_8CCD)
    }
    h ^= h &>> 33
    h &*= 0xFF51_AFD7_ED55_8CCD
    h ^= h &>> 33
    h &*= 0xC4CE_B9FE_1A85_EC53
    h ^= h &>> 33
    return h
}

/// The point-lookup index beside the ordered tree: an open-addressing hash table (linear probing)
/// of pointers to `IndexRecord`s.
///
/// Readers load slots atomically without any lock (under `EpochReclaimer.read`), writers (one at a
/// time) store them. A slot holds 0 (empty: ends a probe), `tombstone` (deleted: probes go on) or a
/// record's address in the low 48 bits with the top 16 bits of the key's hash above it: a probe
/// dereferences only records whose tag matches, so a lookup costs one cache miss in the table and
/// one in the record it returns, not one per slot it passes (user-space addresses fit in 48 bits on
/// x86-64 and arm64; `word(_:)` checks). The table never shrinks in place; it is replaced by a larger one
/// (`rehashed(capacity:)`) when live and deleted slots reach half of it, and the old table retired.
/// The table does not own its records: the engine frees them through the reclaimer.
final class HashTable: @unchecked Sendable {
    static let tombstone: UInt = 1
    static let addressMask: UInt = (1 << 48) - 1

    @inline(__always) static func tag(_ hash: UInt64) -> UInt { UInt(truncatingIfNeeded: hash &>> 48) }

    /// The slot word of a record: its address and its hash's tag.
    @inline(__always) static func word(_ record: UnsafeMutableRawPointer) -> UInt {
        let address = UInt(bitPattern: record)
        precondition(address & ~addressMask == 0, "MemoryEngine: a heap address above 2^48 cannot be tagged")
        return address | (tag(IndexRecord.hash(record)) &<< 48)
    }

    /// The record of a slot word holding one (not 0, not `tombstone`).
    @inline(__always) static func record(_ word: UInt) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: word & addressMask).unsafelyUnwrapped
    }

    let mask: Int
    let slots: UnsafeMutablePointer<Atomic<UInt>>
    /// Writer only: slots holding a record, and slots not empty (records and tombstones).
    private(set) var live = 0
    private(set) var used = 0

    /// `capacity` is rounded up to a power of two (at least 16).
    init(capacity: Int) {
        var c = 16
        while c < capacity { c <<= 1 }
        mask = c - 1
        slots = .allocate(capacity: c)
        for i in 0..<c { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
    }

    var capacity: Int { mask + 1 }
    var footprintBytes: Int { 48 + capacity * 8 }

    /// Whether `extra` more inserts keep the table at most half used.
    func fits(_ extra: Int) -> Bool { (used + extra) * 2 <= capacity }

    /// Reader: the record of `key`, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, _ hash: UInt64) -> UnsafeRawPointer? {
        var i = Int(truncatingIfNeeded: hash) & mask
        let tag = Self.tag(hash)
        while true {
            let s = slots[i].load(ordering: .acquiring)
            if s == 0 { return nil }
            if s &>> 48 == tag && s != Self.tombstone {
                let p = UnsafeRawPointer(Self.record(s))
                if IndexRecord.matches(p, key, hash) { return p }
            }
            i = (i &+ 1) & mask
        }
    }

    /// Writer: stores `record` for its key; returns the record it replaced, if any. The caller made
    /// sure it `fits(1)`.
    func put(_ record: UnsafeMutableRawPointer, key: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutableRawPointer? {
        var i = Int(truncatingIfNeeded: hash) & mask
        var firstFree: Int? = nil
        while true {
            let s = slots[i].load(ordering: .relaxed)
            if s == 0 { break }
            if s == Self.tombstone {
                if firstFree == nil { firstFree = i }
            } else if case let p = Self.record(s), IndexRecord.matches(p, key, hash) {
                slots[i].store(Self.word(record), ordering: .releasing)
                return p
            }
            i = (i &+ 1) & mask
        }
        if firstFree == nil { used += 1 }
        live += 1
        slots[firstFree ?? i].store(Self.word(record), ordering: .releasing)
        return nil
    }

    /// Writer: removes `key`; returns its record, if it was there.
    func remove(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutableRawPointer? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let s = slots[i].load(ordering: .relaxed)
            if s == 0 { return nil }
            if s != Self.tombstone, case let p = Self.record(s), IndexRecord.matches(p, key, hash) {
                slots[i].store(Self.tombstone, ordering: .releasing)
                live -= 1
                return p
            }
            i = (i &+ 1) & mask
        }
    }

    /// Writer: a new table of `capacity` slots holding the same records (no tombstones).
    func rehashed(capacity: Int) -> HashTable {
        let t = HashTable(capacity: capacity)
        forEachRecord { t.insertNew($0) }
        return t
    }

    /// Writer, on an unpublished table: adds a record whose key is not in the table.
    func insertNew(_ record: UnsafeMutableRawPointer) {
        var i = Int(truncatingIfNeeded: IndexRecord.hash(record)) & mask
        while slots[i].load(ordering: .relaxed) != 0 { i = (i &+ 1) & mask }
        slots[i].store(Self.word(record), ordering: .relaxed)
        live += 1
        used += 1
    }

    /// Writer: every record in the table.
    func forEachRecord(_ body: (UnsafeMutableRawPointer) -> Void) {
        for i in 0...mask {
            let s = slots[i].load(ordering: .relaxed)
            if s != 0 && s != Self.tombstone { body(Self.record(s)) }
        }
    }
}

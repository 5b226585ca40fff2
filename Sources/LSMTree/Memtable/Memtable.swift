import OrbitCore
import Synchronization

/// The in-memory write buffer: a skiplist of internal keys (user key, sequence, type) over an
/// `Arena`. Every write adds a node; nothing is updated in place, so older versions stay for readers
/// with older sequence numbers.
///
/// Thread safety: one writer at a time (the engine's write lock), any number of readers at once,
/// without locks. A node is fully written before the release-store that links it at level 0, and
/// readers follow links with acquire-loads, so a reader sees a node whole or not at all.
///
/// Node layout (8-aligned, in the arena):
/// `keyLen u32 | valueLen u32 | height u32 | pad u32 | next[height] (Atomic<Int> addresses) |
///  user key | trailer u64 LE (seq << 8 | type) | value`.
final class Memtable: @unchecked Sendable {
    static let maxHeight = 12
    let arena = Arena()
    private let head: UnsafeMutableRawPointer
    private var height = 1  // writer only
    private var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// The WAL file that holds this memtable's writes.
    let logNumber: UInt64

    private let entryCount = Atomic<Int>(0)
    private let deleteCount = Atomic<Int>(0)
    private let putBytes = Atomic<Int>(0)
    private let keyBytes = Atomic<Int>(0)

    init(logNumber: UInt64) {
        self.logNumber = logNumber
        head = Self.makeNode(arena, height: Self.maxHeight, key: UnsafeRawBufferPointer(start: nil, count: 0), trailer: 0,
                             value: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Bytes reserved from the system (stats).
    var memoryUsage: Int { arena.memoryUsage }
    /// Bytes of entries (the size a memtable is switched at).
    var approximateSize: Int { arena.allocated }
    var entries: Int { entryCount.load(ordering: .relaxed) }
    var deletes: Int { deleteCount.load(ordering: .relaxed) }
    var rawPutBytes: Int { putBytes.load(ordering: .relaxed) }
    var rawKeyBytes: Int { keyBytes.load(ordering: .relaxed) }
    var isEmpty: Bool { entries == 0 }

    // MARK: Node access

    @inline(__always) static func keyLength(_ n: UnsafeRawPointer) -> Int { Int(n.load(as: UInt32.self)) }
    @inline(__always) static func valueLength(_ n: UnsafeRawPointer) -> Int { Int(n.load(fromByteOffset: 4, as: UInt32.self)) }
    @inline(__always) static func nodeHeight(_ n: UnsafeRawPointer) -> Int { Int(n.load(fromByteOffset: 8, as: UInt32.self)) }
    @inline(__always) static func links(_ n: UnsafeRawPointer) -> UnsafeMutablePointer<Atomic<Int>> {
        UnsafeMutableRawPointer(mutating: n + 16).assumingMemoryBound(to: Atomic<Int>.self)
    }
    /// The internal key (user key + trailer).
    @inline(__always) static func internalKey(_ n: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: n + 16 + 8 * nodeHeight(n), count: keyLength(n) + trailerSize)
    }
    @inline(__always) static func value(_ n: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: n + 16 + 8 * nodeHeight(n) + keyLength(n) + trailerSize, count: valueLength(n))
    }
    @inline(__always) static func next(_ n: UnsafeRawPointer, _ level: Int) -> UnsafeRawPointer? {
        UnsafeRawPointer(bitPattern: links(n)[level].load(ordering: .acquiring))
    }

    private static func makeNode(_ arena: Arena, height: Int, key: UnsafeRawBufferPointer, trailer: UInt64,
                                 value: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let n = arena.allocate(16 + 8 * height + key.count + trailerSize + value.count)
        n.storeBytes(of: UInt32(key.count), as: UInt32.self)
        n.storeBytes(of: UInt32(value.count), toByteOffset: 4, as: UInt32.self)
        n.storeBytes(of: UInt32(height), toByteOffset: 8, as: UInt32.self)
        n.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        let l = (n + 16).bindMemory(to: Atomic<Int>.self, capacity: height)
        for i in 0..<height { (l + i).initialize(to: Atomic(0)) }
        var p = n + 16 + 8 * height
        if key.count > 0 { p.copyMemory(from: key.baseAddress!, byteCount: key.count) }
        p += key.count
        p.storeBytes(of: trailer.littleEndian, as: UInt64.self)
        p += trailerSize
        if value.count > 0 { p.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return n
    }

    /// -1, 0, 1 comparing node `n`'s internal key with (key, trailer).
    @inline(__always) private static func compare(_ n: UnsafeRawPointer, _ key: UnsafeRawBufferPointer, _ trailer: UInt64) -> Int {
        let ik = internalKey(n)
        let c = compareBytes(UnsafeRawBufferPointer(rebasing: ik[0..<(ik.count - trailerSize)]), key)
        if c != 0 { return c }
        let t = loadFixed64(ik, ik.count - trailerSize)
        return t > trailer ? -1 : (t < trailer ? 1 : 0)
    }

    // MARK: Writer

    /// Adds an entry. Caller holds the engine's write lock.
    func add(_ key: UnsafeRawBufferPointer, _ seq: UInt64, _ type: ValueType, _ value: UnsafeRawBufferPointer) {
        let t = packTrailer(seq, type)
        withUnsafeTemporaryAllocation(of: UnsafeRawPointer?.self, capacity: Self.maxHeight) { prev in
            prev.initialize(repeating: nil)
            var x = UnsafeRawPointer(head)
            var level = height - 1
            while true {
                if let nx = Self.next(x, level), Self.compare(nx, key, t) < 0 {
                    x = nx
                } else {
                    prev[level] = x
                    if level == 0 { break }
                    level -= 1
                }
            }
            var h = 1
            while h < Self.maxHeight {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
                if rng & 3 != 0 { break }
                h += 1
            }
            if h > height {
                for i in height..<h { prev[i] = UnsafeRawPointer(head) }
                height = h
            }
            let node = Self.makeNode(arena, height: h, key: key, trailer: t, value: value)
            for i in 0..<h {
                let after = Self.links(prev[i]!)[i].load(ordering: .relaxed)
                Self.links(node)[i].store(after, ordering: .relaxed)
                Self.links(prev[i]!)[i].store(Int(bitPattern: node), ordering: .releasing)
            }
        }
        entryCount.wrappingAdd(1, ordering: .relaxed)
        if type == .delete {
            deleteCount.wrappingAdd(1, ordering: .relaxed)
        } else {
            putBytes.wrappingAdd(key.count + value.count, ordering: .relaxed)
            keyBytes.wrappingAdd(key.count, ordering: .relaxed)
        }
    }

    // MARK: Readers

    /// The first node >= (key, trailer), or nil.
    ///
    /// Returns the very successor it compared at level 0, never a second load of `x`'s link: the
    /// writer may splice a node in after `x` between two loads (any key between `x` and the target,
    /// or a newer version of the target's key), and a re-read would return that node, which sorts
    /// *before* the target. `get` then saw another user key (or a version newer than its sequence)
    /// and fell through to older memtables and tables: a write acknowledged before the read began
    /// was missed and an older value (or none) returned (the crash lab's concurrent-history runs).
    /// Invariant: the node returned was observed to be >= the target, and everything linked before
    /// it at level 0 when observed was < the target.
    func seek(_ key: UnsafeRawBufferPointer, _ trailer: UInt64) -> UnsafeRawPointer? {
        var x = UnsafeRawPointer(head)
        var level = Self.maxHeight - 1
        while true {
            let nx = Self.next(x, level)
            if let nx, Self.compare(nx, key, trailer) < 0 {
                x = nx
            } else {
                if level == 0 { return nx }
                level -= 1
            }
        }
    }

    var first: UnsafeRawPointer? { Self.next(head, 0) }

    /// Looks `key` up as of `seq`: nil if the memtable has no entry for it, else the newest visible
    /// entry's type and value.
    @inline(__always)
    func get(_ key: UnsafeRawBufferPointer, seq: UInt64) -> (ValueType, UnsafeRawBufferPointer)? {
        guard let n = seek(key, packTrailer(seq, .put)) else { return nil }
        let ik = Self.internalKey(n)
        guard compareBytes(UnsafeRawBufferPointer(rebasing: ik[0..<(ik.count - trailerSize)]), key) == 0 else { return nil }
        let type: ValueType = ik[ik.count - trailerSize] & 0xff == 0 ? .delete : .put
        return (type, Self.value(n))
    }
}

/// Walks a memtable in internal-key order.
struct MemtableIterator {
    let table: Memtable
    var node: UnsafeRawPointer?
    init(_ table: Memtable) { self.table = table; node = nil }
    var valid: Bool { node != nil }
    var key: UnsafeRawBufferPointer { Memtable.internalKey(node!) }
    var value: UnsafeRawBufferPointer { Memtable.value(node!) }
    mutating func seekToFirst() { node = table.first }
    mutating func seek(_ ikey: UnsafeRawBufferPointer) { node = table.seek(userKey(ikey), trailer(ikey)) }
    mutating func next() { node = Memtable.next(node!, 0) }
}

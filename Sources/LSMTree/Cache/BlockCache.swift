import OrbitCore
import Synchronization

/// An LRU cache of data blocks, keyed by (table file number, block offset), bounded in bytes.
/// Capacity 0 caches nothing. Hit and miss counters feed `StorageStats.cacheHitRate`.
///
/// Thread-safe: one mutex around the map, the recency list and the per-file lists (intrusive, by
/// slot index). Each table's blocks are also chained per file, so `evict(file:)` touches only that
/// table's blocks, not the whole LRU (it runs under the mutex for every removed table).
final class BlockCache: Sendable {
    struct Key: Hashable { var file: UInt64; var offset: UInt64 }

    private struct Slot {
        var key: Key
        var block: Block?
        var charge: Int
        var prev: Int
        var next: Int
        /// The chain of the same file's blocks.
        var filePrev = -1
        var fileNext = -1
    }

    private struct State {
        var map: [Key: Int] = [:]
        var slots: [Slot] = []
        var free: [Int] = []
        var head = -1  // most recent
        var tail = -1  // least recent
        var usage = 0
        /// First slot of each file's chain.
        var fileHeads: [UInt64: Int] = [:]
    }

    let capacity: Int
    private let state = Lock(State())
    private let hitCount = Atomic<UInt64>(0)
    private let missCount = Atomic<UInt64>(0)

    init(capacityBytes: Int) { capacity = capacityBytes }

    var hits: UInt64 { hitCount.load(ordering: .relaxed) }
    var misses: UInt64 { missCount.load(ordering: .relaxed) }
    var usage: Int { state.withLock { $0.usage } }

    func lookup(_ key: Key) -> Block? {
        guard capacity > 0 else { missCount.wrappingAdd(1, ordering: .relaxed); return nil }
        let b: Block? = state.withLock { s in
            guard let i = s.map[key] else { return nil }
            Self.unlink(&s, i)
            Self.pushFront(&s, i)
            return s.slots[i].block
        }
        if b != nil { hitCount.wrappingAdd(1, ordering: .relaxed) } else { missCount.wrappingAdd(1, ordering: .relaxed) }
        return b
    }

    /// A cached block without touching its recency or the hit and miss counters (compaction reads).
    func peek(_ key: Key) -> Block? {
        guard capacity > 0 else { return nil }
        return state.withLock { s in s.map[key].flatMap { s.slots[$0].block } }
    }

    func insert(_ key: Key, _ block: Block) {
        guard capacity > 0, block.bytes.count <= capacity else { return }
        state.withLock { s in
            if s.map[key] != nil { return }
            let charge = block.bytes.count + 64
            let slot = Slot(key: key, block: block, charge: charge, prev: -1, next: -1)
            let i: Int
            if let f = s.free.popLast() { s.slots[f] = slot; i = f } else { s.slots.append(slot); i = s.slots.count - 1 }
            s.map[key] = i
            Self.pushFront(&s, i)
            if let h = s.fileHeads[key.file] { s.slots[i].fileNext = h; s.slots[h].filePrev = i }
            s.fileHeads[key.file] = i
            s.usage += charge
            while s.usage > capacity, s.tail >= 0 { Self.remove(&s, s.tail) }
        }
    }

    /// Forgets every block of a deleted table (only its own blocks are visited).
    func evict(file: UInt64) {
        state.withLock { s in
            var i = s.fileHeads[file] ?? -1
            while i >= 0 {
                let next = s.slots[i].fileNext
                Self.remove(&s, i)
                i = next
            }
        }
    }

    /// Blocks cached for `file` (tests).
    func count(file: UInt64) -> Int {
        state.withLock { s in
            var n = 0, i = s.fileHeads[file] ?? -1
            while i >= 0 { n += 1; i = s.slots[i].fileNext }
            return n
        }
    }

    private static func remove(_ s: inout State, _ i: Int) {
        unlink(&s, i)
        let file = s.slots[i].key.file
        let p = s.slots[i].filePrev, n = s.slots[i].fileNext
        if p >= 0 { s.slots[p].fileNext = n } else if n >= 0 { s.fileHeads[file] = n } else { s.fileHeads[file] = nil }
        if n >= 0 { s.slots[n].filePrev = p }
        s.slots[i].filePrev = -1
        s.slots[i].fileNext = -1
        s.map[s.slots[i].key] = nil
        s.usage -= s.slots[i].charge
        s.slots[i].block = nil
        s.free.append(i)
    }

    private static func unlink(_ s: inout State, _ i: Int) {
        let p = s.slots[i].prev, n = s.slots[i].next
        if p >= 0 { s.slots[p].next = n } else { s.head = n }
        if n >= 0 { s.slots[n].prev = p } else { s.tail = p }
        s.slots[i].prev = -1
        s.slots[i].next = -1
    }

    private static func pushFront(_ s: inout State, _ i: Int) {
        s.slots[i].prev = -1
        s.slots[i].next = s.head
        if s.head >= 0 { s.slots[s.head].prev = i }
        s.head = i
        if s.tail < 0 { s.tail = i }
    }
}

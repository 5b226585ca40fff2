import Synchronization

/// An LRU cache of data blocks, keyed by (table file number, block offset), bounded in bytes.
/// Capacity 0 caches nothing. Hit and miss counters feed `StorageStats.cacheHitRate`.
///
/// Thread-safe: one mutex around the map and the recency list (intrusive, by slot index).
final class BlockCache: Sendable {
    struct Key: Hashable { var file: UInt64; var offset: UInt64 }

    private struct Slot {
        var key: Key
        var block: Block?
        var charge: Int
        var prev: Int
        var next: Int
    }

    private struct State {
        var map: [Key: Int] = [:]
        var slots: [Slot] = []
        var free: [Int] = []
        var head = -1  // most recent
        var tail = -1  // least recent
        var usage = 0
    }

    let capacity: Int
    private let state = Mutex(State())
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
            s.usage += charge
            while s.usage > capacity, s.tail >= 0 {
                let t = s.tail
                Self.unlink(&s, t)
                s.map[s.slots[t].key] = nil
                s.usage -= s.slots[t].charge
                s.slots[t].block = nil
                s.free.append(t)
            }
        }
    }

    /// Forgets every block of a deleted table.
    func evict(file: UInt64) {
        state.withLock { s in
            var i = s.head
            while i >= 0 {
                let next = s.slots[i].next
                if s.slots[i].key.file == file {
                    Self.unlink(&s, i)
                    s.map[s.slots[i].key] = nil
                    s.usage -= s.slots[i].charge
                    s.slots[i].block = nil
                    s.free.append(i)
                }
                i = next
            }
        }
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

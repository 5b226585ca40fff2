@testable import LSMTree
import OrbitCore
import Synchronization
import Testing

/// The skiplist memtable read concurrently with its writer (one writer, lock-free readers).
///
/// Regression: `Memtable.seek` compared a level-0 successor and then returned a *second* load of
/// the same link. A node the writer spliced in between the two loads (another user key just before
/// the target, or a newer version of it) came back instead of the target, so `get` saw the wrong
/// user key, answered "no entry here" and the engine fell through to older memtables and tables:
/// a write acknowledged before the read began was missed (concurrent-history: "superseded by").
@Suite("LSM memtable races") struct MemtableRaceTests {
    /// Every insert lands immediately before the target key (keys "a<n>" ascending < "k"), i.e.
    /// exactly in the link a reader of "k" loads last; readers must always find "k".
    @Test func getFindsTheKeyWhileTheWriterSplicesBeforeIt() throws {
        let m = Memtable(logNumber: 1)
        let target: [UInt8] = Array("k".utf8)
        let value: [UInt8] = Array("value".utf8)
        target.withUnsafeBytes { k in value.withUnsafeBytes { v in m.add(k, 1, .put, v) } }
        let inserts = 150_000
        let done = Atomic<Bool>(false)
        let misses = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        let readers = try (0..<3).map { _ in
            try OrbitThread(name: "test") {
                target.withUnsafeBytes { k in
                    while !done.load(ordering: .acquiring) {
                        reads.wrappingAdd(1, ordering: .relaxed)
                        guard let (t, v) = m.get(k, seq: 1), t == .put, v.count == 5 else {
                            misses.wrappingAdd(1, ordering: .relaxed)
                            continue
                        }
                    }
                }
            }
        }
        var key = [UInt8](repeating: 0, count: 9)
        for i in 0..<inserts {
            key[0] = UInt8(ascii: "a")
            var n = i
            for j in stride(from: 8, through: 1, by: -1) { key[j] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10 }
            key.withUnsafeBytes { k in value.withUnsafeBytes { v in m.add(k, UInt64(2 + i), .put, v) } }
        }
        done.store(true, ordering: .releasing)
        for r in readers { r.join() }
        print("memtable race: \(reads.load(ordering: .relaxed)) reads, \(misses.load(ordering: .relaxed)) misses")
        #expect(misses.load(ordering: .relaxed) == 0)
    }
}

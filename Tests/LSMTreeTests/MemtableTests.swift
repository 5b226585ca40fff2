@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Memtable on its own: ordering, versions, and one writer inserting while readers iterate.
@Suite("lsm memtable") struct MemtableTests {
    static func key(_ i: UInt64) -> [UInt8] { Array("key-\(1_000_000 + i)".utf8) }

    @Test func versionsOfAKeyAreNewestFirstAndGetSeesItsSequence() {
        let m = Memtable(logNumber: 1)
        let k = Self.key(1)
        for seq: UInt64 in [3, 1, 7, 5] {
            k.withUnsafeBytes { k in Array("v\(seq)".utf8).withUnsafeBytes { m.add(k, seq, seq == 5 ? .delete : .put, $0) } }
        }
        var it = MemtableIterator(m)
        it.seekToFirst()
        var seqs: [UInt64] = []
        while it.valid { seqs.append(trailer(it.key) >> 8); it.next() }
        #expect(seqs == [7, 5, 3, 1])
        k.withUnsafeBytes { k in
            #expect(m.get(k, seq: 7).map { [UInt8]($0.1) } == Array("v7".utf8))
            #expect(m.get(k, seq: 6)?.0 == .delete)
            #expect(m.get(k, seq: 4).map { [UInt8]($0.1) } == Array("v3".utf8))
            #expect(m.get(k, seq: 0) == nil)
        }
        #expect(m.entries == 4 && m.deletes == 1)
    }

    /// One writer inserts keys in a random order while three readers iterate again and again: each
    /// pass is strictly ascending, and holds every key inserted before the pass began (a node is
    /// linked whole or not at all).
    @Test func readersIterateASortedConsistentSequenceDuringInserts() throws {
        let seed = TestSeed.pick("lsm.memtable.concurrent", default: 51)
        let n = 20_000
        var rng = SeededRNG(seed: seed)
        var order = Array(0..<UInt64(n))
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
        let m = Memtable(logNumber: 1)
        let inserted = Atomic<Int>(0)       // how many of `order` are in
        let passes = Atomic<Int>(0)
        let failures = Lock<[String]>([])
        let order2 = order
        try runOnThreads(4) { t in
            if t == 0 {
                for (i, k) in order2.enumerated() {
                    Self.key(k).withUnsafeBytes { key in [UInt8](repeating: UInt8(k & 0xff), count: 16).withUnsafeBytes { m.add(key, k + 1, .put, $0) } }
                    inserted.store(i + 1, ordering: .releasing)
                }
                return
            }
            while true {
                let before = inserted.load(ordering: .acquiring)
                var it = MemtableIterator(m)
                it.seekToFirst()
                var seen = Set<UInt64>()
                var last: [UInt8]? = nil
                while it.valid {
                    let k = [UInt8](it.key)
                    if let last, compareInternalArrays(last, k) >= 0 { failures.withLock { $0.append("reader \(t): not ascending") }; return }
                    seen.insert((trailer(it.key) >> 8) - 1)
                    if it.value.count != 16 { failures.withLock { $0.append("reader \(t): a value of \(it.value.count) bytes") }; return }
                    last = k
                    it.next()
                }
                for k in order2.prefix(before) where !seen.contains(k) {
                    failures.withLock { $0.append("reader \(t): key \(k), inserted before the pass, missing") }
                    return
                }
                passes.wrappingAdd(1, ordering: .relaxed)
                if before == n { return }
            }
        }
        #expect(failures.withLock { $0 } == [])
        print("[memtable] seed \(seed): \(n) inserts, \(passes.load(ordering: .relaxed)) concurrent reader passes")
        #expect(m.entries == n)
    }
}

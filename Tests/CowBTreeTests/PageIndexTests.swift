@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// The page cache's open-addressed index (`PageIndex`) against a dictionary model, and the cache
/// under concurrent readers, evictions and removals: exact counters, the bound, pinned pages kept.
@Suite("cow page index")
struct PageIndexTests {
    /// 200,000 seeded inserts, removes and updates on a small key range (long probe runs, wrap-around
    /// at the table's end, growth from 16 entries): after every step the index agrees with a
    /// dictionary, and at checkpoints every key of the range is looked up.
    @Test func matchesADictionary() {
        var rng = TestSeed.rng("cow.pageIndex.model", default: 1607)
        var index = PageIndex(expected: 1)
        var model: [UInt64: Int] = [:]
        for step in 0..<200_000 {
            let no = 1 + rng.below(600)   // includes numbers colliding in the table's low bits
            switch rng.below(3) {
            case 0:
                if model[no] == nil {
                    let slot = Int(rng.below(1 << 20))
                    index.insert(no, slot: slot); model[no] = slot
                }
            case 1:
                #expect(index.remove(no) == model.removeValue(forKey: no), "step \(step): remove \(no)")
            default:
                if model[no] != nil { let slot = Int(rng.below(1 << 20)); index.update(no, slot: slot); model[no] = slot }
            }
            #expect(index.find(no) == model[no], "step \(step): find \(no)")
            if step % 20_000 == 0 {
                for k in UInt64(0)...601 where index.find(k) != model[k] { Issue.record("step \(step): key \(k)") }
                #expect(index.count == model.count && index.tableSize >= 2 * index.count)
                #expect(index.all.count == model.count)
            }
        }
        #expect(index.find(0) == nil)
        for k in model.keys { #expect(index.remove(k) != nil) }
        #expect(index.count == 0 && index.all.isEmpty)
    }

    /// A cache over `pages` synthetic leaf pages (each sealed, numbered, txid 1).
    static func cache(capacity: Int, pages: UInt64, pageSize: Int = 512) -> PageCache {
        PageCache(pageSize: pageSize, capacity: capacity, filePath: "/synthetic/cow.db", maxTxid: 1,
                  pageCount: pages + Layout.firstDataPage) { no, buffer in
            let p = Page(size: pageSize, type: .leaf, pageNo: no, owner: 0)
            p.seal(txid: 1)
            buffer.copyMemory(from: UnsafeRawBufferPointer(start: p.bytes, count: pageSize))
        }
    }

    /// Four reader threads (seeded, one generator each) look up random pages of 400 through a
    /// 16-page cache while a fifth drops random numbers (`remove`, as page reuse does): every page
    /// returned is the one asked for, hits + misses count every lookup exactly, the cache never
    /// holds more than its capacity, and it evicted on the way.
    @Test func concurrentReadersEvictionsAndRemovals() throws {
        let seed = TestSeed.pick("cow.pageIndex.concurrent", default: 1608)
        let c = Self.cache(capacity: 16, pages: 400)
        let perThread = 20_000
        final class Tally: Sendable {
            let wrong = Atomic<Int>(0), overCapacity = Atomic<Int>(0), failures = Atomic<Int>(0)
        }
        let tally = Tally()
        var threads: [TestThread] = []
        for t in 0..<4 {
            threads.append(TestThread {
                var rng = SeededRNG(seed: seed &+ UInt64(t))
                var held: [Page] = []   // a few pinned pages, let go of in turn
                for _ in 0..<perThread {
                    let no = Layout.firstDataPage + rng.below(400)
                    do {
                        let p = try c.page(no)
                        if p.pageNo != no || p.bytes.u64(Layout.pageNoOffset) != no { tally.wrong.add(1, ordering: .relaxed) }
                        held.append(p)
                        if held.count > 3 { held.removeFirst() }
                    } catch { tally.failures.add(1, ordering: .relaxed) }
                    if c.count > 16 { tally.overCapacity.add(1, ordering: .relaxed) }
                }
            })
        }
        threads.append(TestThread {
            var rng = SeededRNG(seed: seed &+ 99)
            for _ in 0..<5_000 { c.remove([Layout.firstDataPage + rng.below(400), Layout.firstDataPage + rng.below(400)]) }
        })
        for t in threads { t.join() }
        #expect(tally.wrong.load(ordering: .relaxed) == 0 && tally.failures.load(ordering: .relaxed) == 0)
        #expect(tally.overCapacity.load(ordering: .relaxed) == 0)
        #expect(c.hits + c.misses.load(ordering: .relaxed) == UInt64(4 * perThread))
        #expect(c.evictions.load(ordering: .relaxed) > 0 && c.hits > 0)
        #expect(c.count <= 16)
    }

    /// A page a reader holds is pinned: hundreds of misses on other pages later, the cache still
    /// serves the same page object for its number (it was passed over, not evicted). A number that
    /// is removed is read anew.
    @Test func aHeldPageIsNotEvicted() throws {
        var rng = TestSeed.rng("cow.pageIndex.pinned", default: 1609)
        let c = Self.cache(capacity: 8, pages: 300)
        let pinned = try c.page(5)
        for _ in 0..<500 { _ = try c.page(Layout.firstDataPage + 10 + rng.below(290)) }
        #expect(try c.page(5) === pinned)
        _ = try c.page(7)
        let before = c.misses.load(ordering: .relaxed)
        c.remove([7])
        _ = try c.page(7)
        #expect(c.misses.load(ordering: .relaxed) == before + 1, "a removed number is read again")
        #expect(c.count <= 8)
    }
}

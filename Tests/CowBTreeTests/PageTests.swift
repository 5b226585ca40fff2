@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Page splits and merges through TreeWriter on its own (no engine, no file): after every change
/// the tree is a B+tree — keys in order across leaves, every separator between its neighbours, all
/// leaves at one depth, every page within its size — and holds exactly the model's keys.
@Suite("cow page split and merge") struct PageTests {
    /// Walks the tree: the leaf keys in order; checks the invariants on the way.
    static func walk(_ w: TreeWriter) -> (keys: [[UInt8]], leafDepths: Set<Int>, pages: Int) {
        var keys: [[UInt8]] = [], depths = Set<Int>(), pages = 0
        func visit(_ p: Page, _ depth: Int, low: [UInt8]?, high: [UInt8]?) {
            pages += 1
            #expect(p.used <= p.size - Layout.headerSize && p.count <= w.maxEntries, "page \(p.pageNo) over its size")
            if p.isLeaf {
                depths.insert(depth)
                for i in 0..<p.count {
                    let k = [UInt8](p.leafKey(i))
                    if let low { #expect(compareBytes(k, low) >= 0, "leaf key below its separator") }
                    if let high { #expect(compareBytes(k, high) < 0, "leaf key at or past the next separator") }
                    keys.append(k)
                }
                return
            }
            // A deeper branch may keep a single child (its merge did not fit); the root never does.
            #expect(p.count >= (depth == 1 ? 2 : 1), "a branch at depth \(depth) with \(p.count) children")
            for i in 0..<p.count {
                let lo = i == 0 ? low : [UInt8](p.branchKey(i))
                let hi = i + 1 < p.count ? [UInt8](p.branchKey(i + 1)) : high
                if i > 0, let low { #expect(compareBytes(lo!, low) >= 0) }
                visit(p.child(i), depth + 1, low: lo, high: hi)
            }
        }
        if let r = w.root { visit(r, 1, low: nil, high: nil) }
        return (keys, depths, pages)
    }

    static func key(_ i: UInt64) -> [UInt8] { Array("key-\(100_000 + i)".utf8) }

    static func check(_ w: TreeWriter, _ model: [UInt64: [UInt8]], _ what: String) {
        let t = walk(w)
        #expect(t.keys == model.keys.sorted().map(key), "\(what): leaf keys")
        #expect(t.leafDepths.count <= 1 && (t.leafDepths.first ?? 0) == w.height, "\(what): leaf depths \(t.leafDepths), height \(w.height)")
        #expect(w.keys == Int64(model.count), "\(what): key count")
    }

    @Test(arguments: [(512, 4), (512, 0), (4096, 0)]) func splitsAndMergesKeepTheTreeABTree(_ pageSize: Int, _ maxKeys: Int) throws {
        var rng = TestSeed.rng("cow.page.splitMerge.\(pageSize).\(maxKeys)", default: 71)
        let w = TreeWriter(pageSize: pageSize, maxKeysPerNode: maxKeys)
        var model: [UInt64: [UInt8]] = [:]
        // Grow: random inserts and overwrites, some values large enough for overflow pages.
        for step in 0..<3000 {
            let k = rng.below(2000)
            let v = rng.bytes(rng.below(20) == 0 ? pageSize : Int(rng.below(40)))
            try Self.key(k).withUnsafeBytes { k in try v.withUnsafeBytes { try w.put(k, $0) } }
            model[k] = v
            if step % 500 == 499 { Self.check(w, model, "after \(step + 1) puts") }
        }
        let grown = w.height
        #expect(grown >= (pageSize == 512 ? 3 : 2), "height \(grown)")
        // Values read back, overflow ones included.
        for (k, v) in model.prefix(200) {
            let got = try Self.key(k).withUnsafeBytes { key throws -> [UInt8]? in
                var p = w.root!
                while !p.isLeaf { p = p.child(p.branchSearch(key)) }
                let (i, found) = p.leafSearch(key)
                return found ? try p.withLeafValue(i, cache: nil) { [UInt8]($0) } : nil
            }
            #expect(got == v, "key \(k)")
        }
        // Shrink: delete most keys in random order; merges bring the height down.
        var keys = Array(model.keys)
        for i in stride(from: keys.count - 1, to: 0, by: -1) { keys.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
        for (n, k) in keys.dropLast(10).enumerated() {
            #expect(try Self.key(k).withUnsafeBytes { try w.delete($0) })
            model[k] = nil
            if n % 400 == 0 { Self.check(w, model, "after \(n + 1) deletes") }
        }
        Self.check(w, model, "10 keys left")
        #expect(w.height < grown, "height \(w.height) after deletes, \(grown) before")
        #expect(try !Self.key(999_999).withUnsafeBytes { try w.delete($0) })
        for k in keys.suffix(10) { #expect(try Self.key(k).withUnsafeBytes { try w.delete($0) }) }
        #expect(w.root == nil && w.height == 0 && w.keys == 0)
        print("[cow page] page \(pageSize), max keys \(maxKeys): height \(grown) at 2000 keys")
    }
}

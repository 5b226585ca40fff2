@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// ChildList on its own: inserts, removals and replacements at every position agree with a plain
/// array, and a copy shares chunks without seeing the other copy's changes.
@Suite("cow child list") struct ChildListTests {
    static func page(_ n: UInt64) -> Page { Page(size: 512, type: .leaf, pageNo: n, owner: 1) }

    static func numbers(_ l: ChildList) -> [UInt64] { l.map { $0!.pageNo } }

    @Test func operationsAgreeWithAnArray() {
        var rng = TestSeed.rng("cow.childList.model", default: 81)
        var list = ChildList()
        var model: [UInt64] = []
        var next: UInt64 = 100
        for step in 0..<3000 {
            switch rng.below(4) {
            case 0, 1:
                let at = Int(rng.below(UInt64(model.count + 1)))
                list.insert(Self.page(next), at: at); model.insert(next, at: at); next += 1
            case 2 where !model.isEmpty:
                let at = Int(rng.below(UInt64(model.count)))
                list.remove(at: at); model.remove(at: at)
            case 3 where !model.isEmpty:
                let at = Int(rng.below(UInt64(model.count)))
                list[at] = Self.page(next); model[at] = next; next += 1
            default:
                list.append(Self.page(next)); model.append(next); next += 1
            }
            if step % 97 == 0 || model.count < 40 { #expect(Self.numbers(list) == model && list.count == model.count, "step \(step)") }
        }
        #expect(Self.numbers(list) == model)
        list.removeAll()
        #expect(list.isEmpty)
    }

    /// Copy-on-write: a copy changed at one position (replace, insert, remove) leaves the original
    /// as it was, at each position across chunk boundaries.
    @Test func aCopySharesChunksButNotChanges() {
        var original = ChildList()
        for n: UInt64 in 0..<50 { original.append(Self.page(n)) }
        let before = Self.numbers(original)
        for at in [0, 15, 16, 17, 31, 32, 49] {
            var a = original; a[at] = Self.page(1000)
            var b = original; b.insert(Self.page(2000), at: at)
            var c = original; c.remove(at: at)
            #expect(Self.numbers(original) == before, "position \(at)")
            #expect(a[at]!.pageNo == 1000 && b[at]!.pageNo == 2000 && b.count == 51 && c.count == 49)
        }
        // An untouched chunk is the same page objects in both copies.
        var d = original
        d[40] = Self.page(3000)
        #expect(d[0] === original[0] && d[40] !== original[40])
    }
}

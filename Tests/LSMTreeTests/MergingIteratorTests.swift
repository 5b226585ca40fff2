@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// MergingIterator on its own: overlapping sources, versions of a key newest first, ties to the
/// newer source, empty sources, both the linear pass (few sources) and the heap (many).
@Suite("lsm merging iterator") struct MergingIteratorTests {
    typealias Merge = MergingIterator<FaultInjectingFile>

    static func ikey(_ user: UInt64, _ seq: UInt64) -> [UInt8] {
        var k: [UInt8] = []
        Array("key-\(1000 + user)".utf8).withUnsafeBytes { makeInternalKey(&k, $0, seq, .put) }
        return k
    }

    /// Everything the iterator yields from `from` on: (internal key, value).
    static func drain(_ it: inout Merge) throws -> [([UInt8], [UInt8])] {
        var out: [([UInt8], [UInt8])] = []
        while it.valid { out.append(([UInt8](it.key), [UInt8](it.value))); try it.next() }
        return out
    }

    @Test(arguments: [3, 12]) func overlappingSourcesMergeInInternalKeyOrder(_ sources: Int) throws {
        var rng = TestSeed.rng("lsm.merging.overlap.\(sources)", default: 61)
        let mems = (0..<sources).map { _ in Memtable(logNumber: 1) }
        var all: [([UInt8], [UInt8])] = []
        var seq: UInt64 = 1
        for _ in 0..<3000 {
            let s = Int(rng.below(UInt64(sources)))
            if s == sources - 1 && sources > 3 { continue }   // one source stays empty
            let u = rng.below(400)                           // many versions of each key, across sources
            let k = Self.ikey(u, seq), v = Array("s\(s)-\(seq)".utf8)
            k.withUnsafeBytes { k in v.withUnsafeBytes { mems[s].add(userKey(k), seq, .put, $0) } }
            all.append((k, v))
            seq += 1
        }
        var it = Merge(mems: mems, tables: [], levels: [])
        try it.seekToFirst()
        let got = try Self.drain(&it)
        let want = all.sorted { compareInternalArrays($0.0, $1.0) < 0 }
        #expect(got.count == want.count)
        #expect(got.map(\.0) == want.map(\.0))
        #expect(got.map(\.1) == want.map(\.1))
        // Seek to the middle: the suffix of the same sequence.
        let mid = want[want.count / 2].0
        try mid.withUnsafeBytes { try it.seek($0) }
        #expect(try Self.drain(&it).map(\.0) == Array(want[(want.count / 2)...]).map(\.0))
    }

    /// The same internal key in two sources (a key rewritten with its sequence, as a compaction
    /// output beside its input would be): the lower source index — the newer source — comes first.
    @Test(arguments: [2, 10]) func tiesGoToTheNewerSource(_ sources: Int) throws {
        let mems = (0..<sources).map { _ in Memtable(logNumber: 1) }
        for s in 0..<sources {
            for u: UInt64 in 0..<5 {
                let k = Self.ikey(u, 9)
                k.withUnsafeBytes { k in Array("from-\(s)".utf8).withUnsafeBytes { mems[s].add(userKey(k), 9, .put, $0) } }
            }
        }
        var it = Merge(mems: mems, tables: [], levels: [])
        try it.seekToFirst()
        let got = try Self.drain(&it)
        #expect(got.count == 5 * sources)
        for u in 0..<5 {
            #expect(got[(u * sources)..<((u + 1) * sources)].map { String(decoding: $0.1, as: UTF8.self) } == (0..<sources).map { "from-\($0)" })
        }
    }

    @Test func emptySourcesYieldNothing() throws {
        for n in [0, 1, 9] {
            var it = Merge(mems: (0..<n).map { _ in Memtable(logNumber: 1) }, tables: [], levels: [[], []])
            try it.seekToFirst()
            #expect(!it.valid, "\(n) empty memtables")
            try Self.ikey(1, 1).withUnsafeBytes { try it.seek($0) }
            #expect(!it.valid)
        }
    }
}

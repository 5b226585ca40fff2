@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// BloomFilter on its own (docs/formats/lsm-sstable.md, "Filter block").
@Suite("lsm bloom filter") struct BloomFilterTests {
    static func key(_ prefix: String, _ i: UInt64) -> [UInt8] { Array("\(prefix)-\(i)".utf8) }

    /// No false negatives; at 10 bits per key the false-positive rate measured on 100,000 absent
    /// keys is about 1% (the theory for k = 6: 0.84%); asserted below 2%.
    @Test func tenBitsPerKeyGiveAboutOnePercentFalsePositives() throws {
        var rng = TestSeed.rng("lsm.bloom.falsePositives", default: 41)
        let present = (0..<10_000).map { _ in Self.key("in", rng.next()) }
        let filter = BloomFilter.build(hashes: present.map { $0.withUnsafeBytes { BloomFilter.hash($0) } }, bitsPerKey: 10)
        #expect(filter.count == 10_000 * 10 / 8 + 1 && filter.last == 6)
        filter.withUnsafeBytes { f in
            for k in present { #expect(k.withUnsafeBytes { BloomFilter.mayContain(f, hash: BloomFilter.hash($0)) }) }
            var falsePositives = 0
            let absent = 100_000
            for _ in 0..<absent where Self.key("out", rng.next()).withUnsafeBytes({ BloomFilter.mayContain(f, hash: BloomFilter.hash($0)) }) {
                falsePositives += 1
            }
            let rate = Double(falsePositives) / Double(absent)
            print("[bloom] 10 bits/key, 10,000 keys: \(falsePositives) false positives in \(absent) absent keys (\(rate * 100)%)")
            #expect(rate < 0.02)
            #expect(rate > 0.002, "implausibly low: is the filter answering at all?")
        }
    }

    /// An empty key set, tiny and odd filters: never a trap; "maybe" where nothing can be said.
    @Test func edgeCasesAnswerWithoutTrapping() {
        let empty = BloomFilter.build(hashes: [], bitsPerKey: 10)
        #expect(empty.count == 64 / 8 + 1)
        empty.withUnsafeBytes { #expect(!BloomFilter.mayContain($0, hash: 42)) }
        for raw: [UInt8] in [[], [7], [0, 0, 31], [0xFF, 0]] {
            raw.withUnsafeBytes { _ = BloomFilter.mayContain($0, hash: 42) }
        }
        [UInt8]([0, 0, 31]).withUnsafeBytes { #expect(BloomFilter.mayContain($0, hash: 1), "k > 30 is reserved: maybe") }
        [UInt8]([]).withUnsafeBytes { #expect(BloomFilter.mayContain($0, hash: 1)) }
    }

    /// The hash is LevelDB's (Murmur-like, seed 0xbc9f1d34): fixed values, so a filter written by
    /// one build is read by the next.
    @Test func theHashIsStable() {
        #expect([UInt8]().withUnsafeBytes { BloomFilter.hash($0) } == 0xbc9f_1d34)
        let a = Array("hello".utf8).withUnsafeBytes { BloomFilter.hash($0) }
        let b = Array("hello".utf8).withUnsafeBytes { BloomFilter.hash($0) }
        let c = Array("hellp".utf8).withUnsafeBytes { BloomFilter.hash($0) }
        #expect(a == b && a != c)
    }
}

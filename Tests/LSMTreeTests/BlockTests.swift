@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// BlockBuilder and Block/BlockIterator on their own (docs/formats/lsm-sstable.md, "Blocks"):
/// restart points, prefix compression, seeks to each key, between keys and past the end.
@Suite("lsm block") struct BlockTests {
    static func ikey(_ user: String, _ seq: UInt64 = 1) -> [UInt8] {
        var k: [UInt8] = []
        Array(user.utf8).withUnsafeBytes { makeInternalKey(&k, $0, seq, .put) }
        return k
    }

    /// The finished block of `entries` (sorted internal keys) as a `Block` owning a copy.
    static func block(_ entries: [([UInt8], [UInt8])], restartInterval: Int) throws -> (Block, [UInt8]) {
        var b = BlockBuilder(restartInterval: restartInterval)
        for (k, v) in entries { k.withUnsafeBytes { k in v.withUnsafeBytes { b.add(k, $0) } } }
        b.finish()
        let bytes = b.buffer
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return (try Block(owning: storage, count: bytes.count, path: "/t.sst", offset: 0), bytes)
    }

    static func entries(_ n: Int) -> [([UInt8], [UInt8])] {
        (0..<n).map { (ikey("key-\(10_000 + $0 * 2)"), Array("value-\($0)".utf8)) }
    }

    @Test(arguments: [1, 2, 16]) func restartsEveryIntervalEntries(_ interval: Int) throws {
        let es = Self.entries(100)
        let (block, _) = try Self.block(es, restartInterval: interval)
        #expect(block.restartCount == (100 + interval - 1) / interval)
        // Each restart point holds a full key (no shared prefix): decoding from it alone gives the key.
        var it = BlockIterator(block)
        it.seekToFirst()
        var i = 0
        while it.valid {
            #expect([UInt8](it.key) == es[i].0 && [UInt8](it.value) == es[i].1)
            if i % interval == 0 {
                var pos = block.restart(i / interval)
                #expect(block.bytes.withUnsafeBytes { getVarint($0, &pos) } == 0, "restart \(i / interval) shares no prefix")
            }
            it.next(); i += 1
        }
        #expect(i == 100 && !it.corrupt)
    }

    @Test func keysArePrefixCompressed() throws {
        let es = Self.entries(64)
        let (_, compressed) = try Self.block(es, restartInterval: 16)
        let (_, full) = try Self.block(es, restartInterval: 1)
        let keyBytes = es.reduce(0) { $0 + $1.0.count }
        // "key-1xxxx" + 8-byte trailer: most of each key is shared with the one before.
        #expect(compressed.count < full.count - keyBytes / 3, "\(compressed.count) vs \(full.count) bytes")
    }

    @Test(arguments: [1, 3, 16]) func seeksFindEachKeyTheGapsAndThePastTheEnd(_ interval: Int) throws {
        let es = Self.entries(77)
        let (block, _) = try Self.block(es, restartInterval: interval)
        var it = BlockIterator(block)
        for (i, e) in es.enumerated() {
            // Exactly the key.
            e.0.withUnsafeBytes { it.seek($0) }
            #expect(it.valid && [UInt8](it.key) == e.0, "seek to key \(i)")
            // Between key i-1 and key i: lands on key i.
            Self.ikey(i == 0 ? "key-0" : "key-\(10_000 + i * 2 - 2)!").withUnsafeBytes { it.seek($0) }
            #expect(it.valid && [UInt8](it.key) == e.0, "seek before key \(i)")
            // The same user key, an older sequence (sorts after): the next key.
            Self.ikey("key-\(10_000 + i * 2)", 0).withUnsafeBytes { it.seek($0) }
            if i + 1 < es.count { #expect(it.valid && [UInt8](it.key) == es[i + 1].0, "seek past key \(i)") } else { #expect(!it.valid) }
        }
        Self.ikey("zzz").withUnsafeBytes { it.seek($0) }
        #expect(!it.valid && !it.corrupt)
        Self.ikey("a").withUnsafeBytes { it.seek($0) }
        #expect(it.valid && [UInt8](it.key) == es[0].0)
    }

    @Test func aRestartArrayThatDoesNotFitIsCorruption() throws {
        for bytes: [UInt8] in [[1, 2], [0, 0, 0, 0], [0xFF, 0xFF, 0, 0, 200, 0, 0, 0]] {
            let storage = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 8)
            bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            #expect(throws: OrbitError.self) { _ = try Block(owning: storage, count: bytes.count, path: "/t.sst", offset: 0) }
        }
    }

    /// A block whose entries were damaged (the checksum would catch it; a bug might not) makes the
    /// iterator stop with `corrupt`, never trap or read outside the block.
    @Test func damagedEntriesMarkTheIteratorCorrupt() throws {
        let es = Self.entries(20)
        let (_, bytes) = try Self.block(es, restartInterval: 4)
        var rng = TestSeed.rng("lsm.block.damage", default: 31)
        var corrupt = 0
        for _ in 0..<500 {
            var d = bytes
            d[Int(rng.below(UInt64(d.count - 4)))] = UInt8(truncatingIfNeeded: rng.next())
            let storage = UnsafeMutableRawPointer.allocate(byteCount: d.count, alignment: 8)
            d.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            guard let block = try? Block(owning: storage, count: d.count, path: "/t.sst", offset: 0) else { continue }
            var it = BlockIterator(block)
            it.seekToFirst()
            var n = 0
            while it.valid && n < 100 { it.next(); n += 1 }
            if it.corrupt { corrupt += 1 }
            Self.ikey("key-10010").withUnsafeBytes { it.seek($0) }
        }
        print("[block] 500 damaged blocks: \(corrupt) marked corrupt while walking")
        #expect(corrupt > 0)
    }
}

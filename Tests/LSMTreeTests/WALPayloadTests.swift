@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// The WAL payload (`WALPayload`, docs/formats/lsm-log.md "WAL payload"): what the encoder writes
/// the decoder reads back, and damaged content is a corruption error, never a trap.
@Suite("lsm WAL payload") struct WALPayloadTests {
    typealias Entry = (key: [UInt8], seq: UInt64, type: ValueType, value: [UInt8])

    static func decode(_ p: [UInt8]) throws -> (last: UInt64, entries: [Entry]) {
        var entries: [Entry] = []
        let last = try p.withUnsafeBytes { raw in
            try WALPayload.decode(raw, path: "/x.log", offset: 16) { k, s, t, v in entries.append(([UInt8](k), s, t, [UInt8](v))) }
        }
        return (last, entries)
    }

    @Test func aBatchRoundTrips() throws {
        var rng = TestSeed.rng("lsm.walPayload.batch", default: 21)
        var p: [UInt8] = []
        var want: [Entry] = []
        let n = 50
        WALPayload.begin(&p, sequence: 1000, count: n, syncedThrough: 4096)
        for i in 0..<n {
            let key = rng.bytes(Int(rng.below(40)))
            if rng.below(3) == 0 {
                key.withUnsafeBytes { WALPayload.appendDelete(&p, $0) }
                want.append((key, 1000 + UInt64(i), .delete, []))
            } else {
                let value = rng.bytes(Int(rng.below(300)))
                key.withUnsafeBytes { k in value.withUnsafeBytes { WALPayload.appendPut(&p, k, $0) } }
                want.append((key, 1000 + UInt64(i), .put, value))
            }
        }
        let got = try Self.decode(p)
        #expect(got.last == 1000 + UInt64(n) - 1)
        #expect(got.entries.count == n)
        for (g, w) in zip(got.entries, want) { #expect(g.key == w.key && g.seq == w.seq && g.type == w.type && g.value == w.value) }
        p.withUnsafeBytes { raw in
            #expect(WALPayload.entryCount(raw) == n)
            #expect(WALPayload.syncedThrough(raw) == 4096)
        }
    }

    @Test func aSyncMarkerHoldsNoEntries() throws {
        var p: [UInt8] = []
        WALPayload.begin(&p, sequence: 8, count: 0, syncedThrough: 100)
        #expect(p.count == WALPayload.headerSize)
        let got = try Self.decode(p)
        #expect(got.last == 7 && got.entries.isEmpty)
    }

    /// Every truncation of a valid record, and every single-byte change of its header fields, is a
    /// corruption error or a record that decodes — never a trap.
    @Test func damagedBytesAreAnErrorNeverATrap() throws {
        var p: [UInt8] = []
        WALPayload.begin(&p, sequence: 5, count: 3, syncedThrough: 16)
        for k in ["a", "bb", "ccc"] { Array(k.utf8).withUnsafeBytes { k in Array("value".utf8).withUnsafeBytes { WALPayload.appendPut(&p, k, $0) } } }
        _ = try Self.decode(p)
        for cut in 0..<p.count {
            #expect(throws: OrbitError.self, "cut at \(cut)") { _ = try Self.decode(Array(p[0..<cut])) }
        }
        var rng = TestSeed.rng("lsm.walPayload.damage", default: 22)
        for _ in 0..<2000 {
            var d = p
            d[Int(rng.below(UInt64(d.count)))] = UInt8(truncatingIfNeeded: rng.next())
            do { _ = try Self.decode(d) } catch let e as OrbitError { #expect(e.code == .corruption && e.location == "/x.log @ offset 16") }
        }
        // Counts and sequences that would overflow.
        for (seq, count) in [(UInt64.max, UInt32(1)), (0, 0), (maxSequence, 2), (1, UInt32.max)] {
            var q: [UInt8] = []
            putFixed64(&q, seq); putFixed32(&q, count); putFixed64(&q, 16)
            #expect(throws: OrbitError.self) { _ = try Self.decode(q) }
        }
    }
}

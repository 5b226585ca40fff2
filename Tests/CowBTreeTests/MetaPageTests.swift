@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// MetaPage on its own (docs/formats/cow-meta-page.md): encode/decode, and every kind of damage a
/// clear failure, never a trap.
@Suite("cow meta page") struct MetaPageTests {
    static func sample() -> MetaPage {
        var m = MetaPage(pageSize: 4096, maxKeysPerNode: 32)
        m.txid = 77; m.root = 9; m.height = 3; m.pageCount = 40; m.freeListPage = 12; m.freeCount = 5
        m.snapshotPage = 13; m.keys = 1000; m.keyBytes = 9000; m.valueBytes = 100_000; m.checkpoints = 6
        m.walSeq = 21; m.walSlot = 2
        return m
    }

    @Test func aMetaPageRoundTrips() throws {
        let m = Self.sample()
        let bytes = m.encode()
        #expect(bytes.count == MetaPage.encodedSize)
        #expect(try MetaPage.decode(bytes).get() == m)
        var none = m; none.walSlot = nil
        #expect(try MetaPage.decode(none.encode()).get().walSlot == nil)
        #expect(m.slot == 1)
    }

    /// Every single bit flipped anywhere in the 128 bytes is refused (the checksum covers all but
    /// its own field, which then no longer matches).
    @Test func everyFlippedBitIsAChecksumOrMagicFailure() {
        let bytes = Self.sample().encode()
        for i in 0..<bytes.count {
            for bit in 0..<8 {
                var d = bytes
                d[i] ^= UInt8(1 << bit)
                switch MetaPage.decode(d) {
                case .success: Issue.record("byte \(i) bit \(bit): decoded")
                case .failure(let e):
                    if i < 8 { #expect(e.description.contains("magic") || e.description.contains("checksum")) } else {
                        #expect(e.description.contains("checksum"), "byte \(i): \(e)")
                    }
                }
            }
        }
        // Zeros (a meta page never written) and short input.
        #expect((try? MetaPage.decode([UInt8](repeating: 0, count: 128)).get()) == nil)
        #expect((try? MetaPage.decode(Array(bytes[0..<100])).get()) == nil)
    }

    /// A checksum-valid page with absurd fields is refused by field, not trusted.
    @Test func absurdFieldsUnderAValidChecksumAreRefused() {
        var cases: [(String, MetaPage)] = []
        var m = Self.sample(); m.pageSize = 1000; cases.append(("page size", m))
        m = Self.sample(); m.root = 40; cases.append(("page number", m))
        m = Self.sample(); m.pageCount = UInt64.max; cases.append(("page count", m))
        m = Self.sample(); m.height = 0; cases.append(("tree height", m))
        m = Self.sample(); m.keys = UInt64.max; cases.append(("counts", m))
        for (what, page) in cases {
            guard case .failure(let e) = MetaPage.decode(page.encode()) else { Issue.record("\(what): decoded"); continue }
            #expect(e.description.contains("bad field"), "\(what): \(e)")
        }
        // A newer version under a valid checksum.
        var v = Self.sample().encode()
        v[8] = 9
        let crc = CRC32C.mask(MetaPage.checksum(v))
        v.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self) }
        guard case .failure(.badVersion(9)) = MetaPage.decode(v) else { Issue.record("version 9 decoded"); return }
    }
}

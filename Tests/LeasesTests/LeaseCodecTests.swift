import Leases
import OrbitCore
import OrbitTestSupport
import Testing

@Suite struct LeaseCodecTests {
    static let samples: [AddressableLease] = [
        lease("User", "u-1", on: "n1"),
        // Empty strings everywhere.
        AddressableLease(reference: ref("", ""), nodeId: "", expiresAt: 0, renewAt: 0, leaseDuration: 0, version: 0),
        // Unicode: combining marks, CJK, emoji (4-byte UTF-8), RTL.
        lease("Bücher", "e\u{301}-🚀-東京", on: "nœud-é"),
        lease("שלום", "👩‍👩‍👧‍👦", on: "節点"),
        // NUL bytes inside strings (the key escaping must cope; the record is length-prefixed).
        lease("A\u{0}B", "\u{0}\u{0}", on: "n\u{0}"),
        // Extremes of every number.
        AddressableLease(reference: ref("T", "k"), nodeId: "n", expiresAt: .max, renewAt: .min,
                         leaseDuration: .min, version: .max),
        AddressableLease(reference: ref("T", "k"), nodeId: "n", expiresAt: .min, renewAt: .max,
                         leaseDuration: .max, version: 0),
        AddressableLease(reference: ref("T", "k"), nodeId: "n", expiresAt: -1, renewAt: -5_000,
                         leaseDuration: -1, version: 1 << 63),
        // Long strings: two- and three-byte length varints.
        lease(String(repeating: "t", count: 200), String(repeating: "ключ", count: 5_000), on: NodeId(String(repeating: "n", count: 128))),
    ]

    @Test(arguments: samples)
    func roundTrip(_ lease: AddressableLease) throws {
        let bytes = LeaseCodec.encode(lease)
        #expect(bytes.count == LeaseCodec.encodedSize(of: lease))
        #expect(bytes.count >= LeaseCodec.minimumRecordSize)
        #expect(bytes[0] == LeaseCodec.magic && bytes[1] == LeaseCodec.formatVersion)
        let back = try LeaseCodec.decode(bytes)
        #expect(back == lease)
        // Unicode equality is canonical in Swift; check the bytes are identical too.
        #expect(Array(back.reference.key.utf8) == Array(lease.reference.key.utf8))
        #expect(Array(back.reference.addressableType.utf8) == Array(lease.reference.addressableType.utf8))
        #expect(Array(back.nodeId.value.utf8) == Array(lease.nodeId.value.utf8))
        // withEncoded produces the same bytes.
        #expect(LeaseCodec.withEncoded(lease) { [UInt8]($0) } == bytes)
    }

    /// The format is a contract (docs/formats/lease-record.md has this example): these bytes must not change.
    @Test func goldenRecord() throws {
        let l = AddressableLease(reference: ref("User", "u-1"), nodeId: "n1", expiresAt: 1_700_000_010_000,
                                 renewAt: 1_700_000_005_000, leaseDuration: 10_000, version: 3)
        let expected: [UInt8] = [
            0x4C, 0x01, 0x04, 0x55, 0x73, 0x65, 0x72, 0x03, 0x75, 0x2D, 0x31, 0x02, 0x6E, 0x31, 0xA0, 0xBC,
            0xAC, 0xFE, 0xF9, 0x62, 0x8F, 0x4E, 0xA0, 0x9C, 0x01, 0x03, 0x29, 0x9B, 0x3A, 0x57,
        ]
        #expect(LeaseCodec.encode(l) == expected)
        #expect(try LeaseCodec.decode(expected) == l)
    }

    /// Every byte changed in every way that matters (one low bit, one high bit, all bits, a byte set to
    /// zero): decoding throws a corruption error, never returns a lease.
    @Test(arguments: samples.prefix(8))
    func everyCorruptedByteIsDetected(_ lease: AddressableLease) {
        let good = LeaseCodec.encode(lease)
        for i in good.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF, good[i]] where mask != 0 {
                var bad = good
                bad[i] ^= mask
                expectCorruption("byte \(i) ^ 0x\(String(mask, radix: 16))") { _ = try LeaseCodec.decode(bad) }
            }
        }
    }

    @Test(arguments: samples.prefix(8))
    func truncatedOrExtendedRecordIsDetected(_ lease: AddressableLease) {
        let good = LeaseCodec.encode(lease)
        for n in 0..<good.count {
            expectCorruption("truncated to \(n)") { _ = try LeaseCodec.decode(Array(good.prefix(n))) }
        }
        for extra: UInt8 in [0x00, 0x5A] {
            expectCorruption("extended by 0x\(extra)") { _ = try LeaseCodec.decode(good + [extra]) }
        }
    }

    /// CRC-32C has Hamming distance 6 at these lengths (Koopman), so 1 to 5 flipped bits inside the
    /// checksummed bytes are always detected. Flips that also hit the stored (masked, hence not
    /// linear) checksum are missed with probability about 2^-32 per trial; the seed is fixed.
    @Test func randomBitFlipsAreDetected() {
        var rng = TestSeed.rng("randomBitFlipsAreDetected", default: 0x1EA5E)
        let records = Self.samples.prefix(8).map { LeaseCodec.encode($0) }
        for _ in 0..<20_000 {
            var bad = records.randomElement(using: &rng)!
            let flips = Int.random(in: 1...5, using: &rng)
            var positions = Set<Int>()
            while positions.count < flips { positions.insert(Int.random(in: 0..<(bad.count * 8), using: &rng)) }
            for p in positions { bad[p / 8] ^= 1 << UInt8(p % 8) }
            expectCorruption("bits \(positions.sorted())") { _ = try LeaseCodec.decode(bad) }
        }
    }

    /// Records whose checksum is right but whose structure is wrong (a writer bug or a crafted value):
    /// each is named, with its byte offset.
    @Test(arguments: [
        // (fields after the header, expected message fragment, expected offset)
        ([0x20, 0x41] + [0x00, 0x00, 0x00, 0x00, 0x00, 0x00], "length 32 of addressableType exceeds the 7 bytes", 2),
        ([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], "1 unexpected bytes after the last field", 9),
        ([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80], "varint version starting at byte 8 runs into the checksum", 9),
        ([0x00, 0x00, 0x00] + [UInt8](repeating: 0xFF, count: 9) + [0x02, 0x00, 0x00, 0x00], "varint expiresAt starting at byte 5 overflows 64 bits", 14),
        ([0x01, 0xC3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], "addressableType is not valid UTF-8", 3),
        ([0x00, 0x02, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x00], "key is not valid UTF-8", 4),
    ] as [([UInt8], String, Int)])
    func structuralErrorsNameTheOffset(_ fields: [UInt8], _ message: String, _ offset: Int) {
        var record: [UInt8] = [0x4C, 0x01] + fields
        let crc = CRC32C.mask(CRC32C.checksum(record))
        record += [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
        let e = expectCorruption { _ = try LeaseCodec.decode(record) }
        #expect(e?.message.contains(message) == true, "\(e.map { String(describing: $0) } ?? "")")
        #expect(e?.message.contains("at byte \(offset)") == true, "\(e.map { String(describing: $0) } ?? "")")
    }

    @Test func headerErrorsNameTheOffset() {
        var good = LeaseCodec.encode(lease("T", "k", on: "n"))
        var e = expectCorruption { _ = try LeaseCodec.decode(Array(good.prefix(5))) }
        #expect(e?.message.contains("shorter than the 13-byte minimum") == true)
        good[0] = 0x4D
        e = expectCorruption { _ = try LeaseCodec.decode(good) }
        #expect(e?.message.contains("bad magic 0x4D") == true && e?.message.contains("at byte 0") == true)
        good[0] = 0x4C
        good[1] = 2
        e = expectCorruption { _ = try LeaseCodec.decode(good) }
        #expect(e?.message.contains("unsupported format version 2") == true && e?.message.contains("at byte 1") == true)
        good[1] = 1
        good[3] ^= 0x20
        e = expectCorruption { _ = try LeaseCodec.decode(good) }
        #expect(e?.message.contains("checksum mismatch") == true && e?.message.contains("at byte \(good.count - 4)") == true)
    }
}

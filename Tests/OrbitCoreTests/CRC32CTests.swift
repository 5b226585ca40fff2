import OrbitCore
import OrbitTestSupport
import Testing

@Suite struct CRC32CTests {
    // RFC 3720 (iSCSI) appendix B.4 vectors and the classic check value.
    static let vectors: [(bytes: [UInt8], crc: UInt32)] = [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ((0..<32).map { UInt8($0) }, 0x46DD_794E),
        ((0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
        ([], 0),
    ]

    @Test(arguments: vectors)
    func knownVectors(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
        #expect(bytes.withUnsafeBytes { CRC32C.checksum($0) } == expected)
    }

    /// Byte-at-a-time reference, to cross-check the slicing-by-8 path at every length and alignment.
    private func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    @Test func matchesBitwiseReferenceAtEveryLengthAndAlignment() {
        var rng = TestSeed.rng("CRC32CTests.reference", default: 0x0C5C_32C0)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for end in stride(from: start, through: data.count, by: 7) {
                    let got = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    #expect(got == reference(data[start..<end]), "bytes \(start)..<\(end)")
                }
            }
        }
    }

    @Test func incrementalUpdateEqualsOneShot() {
        var rng = TestSeed.rng("CRC32CTests.incremental", default: 20_260_523)
        for round in 0..<200 {
            let count = Int.random(in: 0...2000, using: &rng)
            let data = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let oneShot = CRC32C.checksum(data)
            // Split into up to 4 pieces at random points.
            var cuts = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 0...count, using: &rng) }
            cuts = [0] + cuts.sorted() + [count]
            var crc: UInt32 = 0
            data.withUnsafeBytes { raw in
                for i in 0..<(cuts.count - 1) {
                    crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: raw[cuts[i]..<cuts[i + 1]]))
                }
            }
            #expect(crc == oneShot, "round \(round): \(count) bytes cut at \(cuts)")
        }
    }

    @Test func maskRoundTripsAndMovesTheValue() {
        // LevelDB's constant: mask(0) is the delta itself.
        #expect(CRC32C.mask(0) == 0xA282_EAD8)
        #expect(CRC32C.unmask(0xA282_EAD8) == 0)
        var rng = TestSeed.rng("CRC32CTests.mask", default: 7)
        let values: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x8000_0000, 0xE306_9283]
            + (0..<1000).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        for v in values {
            #expect(CRC32C.unmask(CRC32C.mask(v)) == v)
        }
        for v: UInt32 in [0, 1, 0xFFFF_FFFF, 0xE306_9283, CRC32C.checksum(Array("foo".utf8))] {
            #expect(CRC32C.mask(v) != v)
        }
    }
}

import OrbitCore
import Testing

@Suite struct LEB128Tests {
    // Known encodings (the LEB128 examples of the DWARF standard and protobuf's documentation).
    static let vectors: [(value: UInt64, bytes: [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (150, [0x96, 0x01]),
        (624_485, [0xE5, 0x8E, 0x26]),
        (1 << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test(arguments: vectors)
    func knownEncodings(value: UInt64, bytes: [UInt8]) throws {
        var out: [UInt8] = [0xAA]
        LEB128.append(value, to: &out)
        #expect(out == [0xAA] + bytes)
        #expect(LEB128.size(value) == bytes.count)
        var pos = 1
        let decoded = try out.withUnsafeBytes { (p) throws(LEB128.Failure) in try LEB128.decode(p, &pos) }
        #expect(decoded == value)
        #expect(pos == out.count)
    }

    @Test func roundTripsSeededValuesBackToBack() throws {
        var rng = SeededRNG(seed: 0x1EB1_28)
        print("LEB128Tests seed 0x1EB128")
        var values: [UInt64] = []
        var out: [UInt8] = []
        for _ in 0..<10_000 {
            let v = rng.next() >> (rng.next() % 64)
            values.append(v)
            LEB128.append(v, to: &out)
        }
        var pos = 0
        for v in values {
            let d = try out.withUnsafeBytes { (p) throws(LEB128.Failure) in try LEB128.decode(p, &pos) }
            #expect(d == v)
        }
        #expect(pos == out.count)
    }

    @Test func truncatedAndOverflowingEncodingsFail() {
        func decode(_ b: [UInt8], end: Int? = nil) -> Result<UInt64, LEB128.Failure> {
            var pos = 0
            return b.withUnsafeBytes { p in Result { () throws(LEB128.Failure) in try LEB128.decode(p, &pos, end: end) } }
        }
        #expect(decode([]) == .failure(.truncated))
        #expect(decode([0x80]) == .failure(.truncated))
        #expect(decode([0x96, 0x01], end: 1) == .failure(.truncated))  // the end bounds the read
        // A tenth byte above 1 sets bits past 64; an eleventh byte is never valid.
        #expect(decode([UInt8](repeating: 0xFF, count: 9) + [0x02]) == .failure(.overflow))
        #expect(decode([UInt8](repeating: 0x80, count: 10) + [0x00]) == .failure(.overflow))
        #expect(decode([UInt8](repeating: 0xFF, count: 9) + [0x01]) == .success(UInt64.max))
    }
}

import OrbitCore
import Testing

/// The one LEB128 varint of the project's formats: round trips at every length boundary, and
/// truncated or overlong encodings decode to nil (never a trap, never a wrong value).
struct VarintTests {
    @Test func roundTripsAtEveryLengthBoundary() {
        var values: [UInt64] = [0, 1, 127, 128, 255, 300, UInt64.max, UInt64.max - 1]
        for bits in stride(from: 7, to: 64, by: 7) { values += [(1 << UInt64(bits)) - 1, 1 << UInt64(bits)] }
        for v in values {
            var out: [UInt8] = []
            Varint.append(v, to: &out)
            #expect(out.count == max(1, (64 - v.leadingZeroBitCount + 6) / 7), "\(v)")
            out.withUnsafeBytes { p in
                var pos = 0
                #expect(Varint.read(p, &pos) == v)
                #expect(pos == p.count)
                // Every strict prefix is truncated.
                for cut in 0..<p.count {
                    var q = 0
                    #expect(Varint.read(UnsafeRawBufferPointer(rebasing: p[0..<cut]), &q) == nil, "\(v) cut at \(cut)")
                }
            }
        }
    }

    @Test func encodingsLongerThan64BitsAreRefused() {
        let tooBig: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]  // 2^64 and above
        let eleven: [UInt8] = Array(repeating: 0x80, count: 10) + [0x00]
        for bytes in [tooBig, eleven] {
            bytes.withUnsafeBytes { p in
                var pos = 0
                #expect(Varint.read(p, &pos) == nil)
            }
        }
    }
}

import Testing
import OrbitCore
import Workloads

/// `KeyFormatter.format` writes digits in chunks; these tests hold it to digit-by-digit formatting.
struct KeyFormatterTests {
    /// The formatting the chunked one replaced: one digit per step from the right.
    static func reference(_ n: UInt64, style: Workload.KeyStyle) -> [UInt8] {
        switch style {
        case .decimal(let size):
            var out = [UInt8](repeating: 0x30, count: size)
            var v = n
            var i = size - 1
            while i >= 0 { out[i] = UInt8(0x30 + v % 10); v /= 10; i -= 1 }
            return out
        case .ycsb(let hashed, let padding):
            var v = hashed ? ycsbHash(n) : n
            var digits = 1
            var probe = v
            while probe >= 10 { probe /= 10; digits += 1 }
            var out = Array("user".utf8) + [UInt8](repeating: 0x30, count: max(digits, padding))
            var i = out.count - 1
            while i >= 4 { out[i] = UInt8(0x30 + v % 10); v /= 10; i -= 1 }
            return out
        }
    }

    /// Numbers around every power of ten, the extremes, and seeded random ones of every width.
    static func numbers(seed: UInt64) -> [UInt64] {
        var out: [UInt64] = [0, 1, 9, 10, 99, 100, UInt64(Int64.max), UInt64(Int64.max) + 1, .max, .max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 {
            p *= 10
            out += [p - 1, p, p + 1]
        }
        var rng = SeededRNG(seed: seed)
        for _ in 0..<20_000 {
            let bits = rng.below(65)
            out.append(bits == 64 ? rng.next() : rng.next() & ((1 << bits) - 1))
        }
        return out
    }

    @Test func chunkedFormattingEqualsDigitByDigit() {
        let seed: UInt64 = 0x6B65_7973
        print("KeyFormatterTests seed: \(seed)")
        let styles: [Workload.KeyStyle] = [
            .decimal(size: 0), .decimal(size: 1), .decimal(size: 8), .decimal(size: 16), .decimal(size: 19),
            .decimal(size: 20), .decimal(size: 24), .decimal(size: 40),
            .ycsb(hashed: true, zeroPadding: 1), .ycsb(hashed: false, zeroPadding: 1), .ycsb(hashed: false, zeroPadding: 8),
            .ycsb(hashed: true, zeroPadding: 19), .ycsb(hashed: false, zeroPadding: 20), .ycsb(hashed: false, zeroPadding: 21),
            .ycsb(hashed: true, zeroPadding: 30),
        ]
        let numbers = Self.numbers(seed: seed)
        for style in styles {
            let f = KeyFormatter(style: style)
            var mismatches = 0
            // In sequence through one formatter: a shorter key after a longer one must not keep its digits.
            for n in numbers where Array(f.format(n)) != Self.reference(n, style: style) {
                if mismatches == 0 { Issue.record("\(style): \(n) formats as \(String(decoding: f.format(n), as: UTF8.self)), expected \(String(decoding: Self.reference(n, style: style), as: UTF8.self))") }
                mismatches += 1
            }
            #expect(mismatches == 0, "\(style)")
            #expect(KeyFormatter.key(12_345, style: style) == Self.reference(12_345, style: style))
        }
    }
}

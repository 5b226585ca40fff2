#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A repeatable random number generator: xoshiro256** (Blackman and Vigna), its state filled from
/// the seed by SplitMix64 as its authors recommend. The same seed gives the same sequence on every
/// platform and Swift version, so a failing randomized test replays from its printed seed.
public struct SeededRNG: RandomNumberGenerator, Sendable {
    public let seed: UInt64
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = next()
            for _ in 0..<min(8, count - i) {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}

/// The seed of a randomized test: `ORBIT_TEST_SEED` (decimal or 0x-hex) when set, else the test's
/// fixed default. Printed, with the command line that replays it, so a failure can be reproduced.
public enum TestSeed {
    public static let environmentVariable = "ORBIT_TEST_SEED"

    /// Picks and prints the seed for the test named `test`.
    public static func pick(_ test: String, default fallback: UInt64) -> UInt64 {
        let seed: UInt64
        let source: String
        if let text = getenv(environmentVariable).map({ String(cString: $0) }), let parsed = parse(text) {
            seed = parsed
            source = environmentVariable
        } else {
            seed = fallback
            source = "default"
        }
        print("[seed] \(test): seed=\(seed) (\(source)); replay with \(environmentVariable)=\(seed)")
        return seed
    }

    /// A generator for the test named `test`, seeded by `pick`.
    public static func rng(_ test: String, default fallback: UInt64) -> SeededRNG {
        SeededRNG(seed: pick(test, default: fallback))
    }

    static func parse(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters()
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        return UInt64(t)
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\n" }.reversed())
    }
}

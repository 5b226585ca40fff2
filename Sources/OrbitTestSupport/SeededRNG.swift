#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// Test helpers on OrbitCore's `SeededRNG` (xoshiro256** seeded by SplitMix64): the same seed gives
/// the same sequence on every platform and Swift version, so a failing randomized test replays from
/// its printed seed.
extension SeededRNG {
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

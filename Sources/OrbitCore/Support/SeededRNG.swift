/// xoshiro256** seeded through SplitMix64: fast, 256 bits of state, and the same stream for the same
/// seed on every machine. Each client thread derives its own from (run seed, thread index); the
/// randomized tests use it too, so a failure replays from its printed seed.
///
/// Inlinable: the op stream draws from it on the hot path, from other modules.
public struct SeededRNG: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    @inlinable
    public init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
    }

    /// The generator of client thread `thread` in a run seeded with `seed`.
    @inlinable
    public init(seed: UInt64, stream: Int) {
        self.init(seed: seed ^ (UInt64(stream) &+ 1) &* 0xD1B5_4A32_D192_ED03)
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, bound) (Lemire's multiply-shift; bias below 2^-32 for bounds < 2^32).
    @inlinable @inline(__always)
    public mutating func below(_ bound: UInt64) -> UInt64 {
        bound <= 1 ? 0 : next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in [0, 1).
    @inlinable @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// FNV-1a 64-bit over the 8 bytes of `x`: YCSB's key scrambler (`Utils.fnvhash64`).
@inlinable @inline(__always)
public func fnv1a64(_ x: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    var v = x
    for _ in 0..<8 {
        h = (h ^ (v & 0xff)) &* 0x100_0000_01B3
        v >>= 8
    }
    return h
}

public import OrbitCore

/// YCSB's `ExponentialGenerator`: exponentially distributed distances back from the newest record,
/// with `percentile` % of the draws below `range` (CoreWorkload: range = record_count · fraction, defaults
/// 95 and 0.8571428571, i.e. 95% of operations on the newest 6/7 of the records).
public struct ExponentialGenerator: Sendable {
    /// Rate: -ln(1 - percentile/100) / range.
    public let gamma: Double

    public init(percentile: Double, range: Double) {
        gamma = -log(1 - percentile / 100) / max(range, 1e-9)
    }

    /// The next distance (YCSB truncates to an integer the same way).
    @inline(__always)
    public mutating func next(_ rng: inout SeededRNG) -> UInt64 {
        // 1 - unit() is in (0, 1]: never log(0).
        let d = -log(1 - rng.unit()) / gamma
        return d >= 1.8e19 ? .max : UInt64(d)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

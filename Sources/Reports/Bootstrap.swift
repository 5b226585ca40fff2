/// A 95% confidence interval for the median of a few measurements (the repeats of a run), by the
/// percentile bootstrap: resample the values with replacement `resamples` times, take each
/// resample's median, and report the 2.5th and 97.5th percentiles of those medians.
///
/// Seeded (SplitMix64), so the same values and seed give the same interval on every machine: a
/// results directory written twice from the same repeats is byte-identical.
///
/// With so few values (3 to 10 repeats) the interval is coarse, and it says only what the repeats
/// saw: it cannot cover noise every repeat shared (a neighbour's load through the whole run).
/// With fewer than two values there is no interval (nil).
public enum Bootstrap {
    public static let resamples = 2000
    public static let confidence = 0.95

    public struct Interval: Sendable, Hashable {
        public var low: Double
        public var high: Double

        public init(low: Double, high: Double) {
            self.low = low
            self.high = high
        }

        /// Whether the two intervals have no value in common.
        public func separates(from other: Interval) -> Bool { high < other.low || other.high < low }
    }

    public static func medianInterval(_ values: [Double], seed: UInt64) -> Interval? {
        guard values.count >= 2 else { return nil }
        var rng = SplitMix64(seed: seed)
        let n = values.count
        var medians = [Double](repeating: 0, count: resamples)
        var sample = [Double](repeating: 0, count: n)
        for r in 0..<resamples {
            for i in 0..<n { sample[i] = values[Int(rng.next() % UInt64(n))] }
            sample.sort()
            medians[r] = n % 2 == 1 ? sample[n / 2] : (sample[n / 2 - 1] + sample[n / 2]) / 2
        }
        medians.sort()
        let tail = (1 - confidence) / 2
        return Interval(low: quantile(medians, tail), high: quantile(medians, 1 - tail))
    }

    /// The q-quantile of sorted values, by linear interpolation between closest ranks.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let pos = q * Double(sorted.count - 1)
        let i = Int(pos)
        guard i + 1 < sorted.count else { return sorted[sorted.count - 1] }
        return sorted[i] + (sorted[i + 1] - sorted[i]) * (pos - Double(i))
    }

    /// A seed for one row and figure of a run: the run's seed mixed with the row's key, so every
    /// figure gets its own stream and the result does not depend on the order rows are computed in.
    public static func seed(_ base: UInt64, _ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ base
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

/// SplitMix64 (Steele, Lea and Flood): a small, fast, well-mixed generator for seeded resampling.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

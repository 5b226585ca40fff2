public import OrbitCore

/// Zipfian-distributed ranks in [0, n) after Gray et al., "Quickly Generating Billion-Record Synthetic
/// Databases" (SIGMOD '94), as YCSB's `ZipfianGenerator` does it: rank 0 is the most popular.
/// The item count may grow (for `latest`); zeta is then extended incrementally.
public struct ZipfianGenerator: Sendable {
    public let theta: Double
    let alpha: Double
    let zeta2: Double
    private(set) var items: UInt64
    private(set) var zetaN: Double
    var eta: Double

    public init(items: UInt64, theta: Double) {
        precondition(items >= 1 && theta > 0 && theta < 1)
        self.theta = theta
        alpha = 1 / (1 - theta)
        zeta2 = Self.zeta(from: 0, to: 2, theta: theta, initial: 0)
        self.items = items
        zetaN = Self.zeta(from: 0, to: items, theta: theta, initial: 0)
        eta = 0
        eta = computeEta()
    }

    /// With a precomputed zeta(items, theta) (YCSB's ScrambledZipfianGenerator over 10^10 items).
    public init(items: UInt64, theta: Double, zetaN: Double) {
        precondition(items >= 1 && theta > 0 && theta < 1)
        self.theta = theta
        alpha = 1 / (1 - theta)
        zeta2 = Self.zeta(from: 0, to: 2, theta: theta, initial: 0)
        self.items = items
        self.zetaN = zetaN
        eta = 0
        eta = computeEta()
    }

    /// Sum of 1/i^theta for i in (from, to].
    static func zeta(from: UInt64, to: UInt64, theta: Double, initial: Double) -> Double {
        var sum = initial
        var i = from
        while i < to {
            i += 1
            sum += 1 / pow(Double(i), theta)
        }
        return sum
    }

    func computeEta() -> Double {
        (1 - pow(2 / Double(items), 1 - theta)) / (1 - zeta2 / zetaN)
    }

    /// Grows the item count (never shrinks): YCSB's incremental zeta.
    public mutating func grow(to n: UInt64) {
        guard n > items else { return }
        zetaN = Self.zeta(from: items, to: n, theta: theta, initial: zetaN)
        items = n
        eta = computeEta()
    }

    @inline(__always)
    public mutating func next(_ rng: inout SeededRNG) -> UInt64 {
        let u = rng.unit()
        let uz = u * zetaN
        if uz < 1 { return 0 }
        if uz < 1 + pow(0.5, theta) { return min(1, items - 1) }
        let r = UInt64(Double(items) * pow(eta * u - eta + 1, alpha))
        return min(r, items - 1)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public import OrbitCore

/// YCSB's `ScrambledZipfianGenerator`: zipfian ranks drawn over a fixed 10^10 items, then FNV-1a hashed
/// (YCSB's `Utils.fnvhash64`, absolute value) onto the key space. The popular items are scattered over
/// the key space, and the popularity of a key does not depend on how many keys there are.
///
/// For YCSB's constant 0.99 the zeta of 10^10 items is YCSB's own constant (`ZETAN`); for any other
/// constant it is computed by Euler-Maclaurin summation (an exact sum would take 10^10 steps).
public struct ScrambledZipfianGenerator: Sendable {
    /// YCSB's `ITEM_COUNT`.
    public static let itemCount: UInt64 = 10_000_000_000
    /// YCSB's `ZETAN`: zeta(10^10, 0.99).
    public static let zetaN99 = 26.46902820178302

    var ranks: ZipfianGenerator
    public let keySpace: UInt64

    public init(keySpace: UInt64, constant: Double) {
        self.keySpace = max(keySpace, 1)
        let zeta = constant == 0.99 ? Self.zetaN99 : Self.zeta(Self.itemCount, theta: constant)
        ranks = ZipfianGenerator(items: Self.itemCount, theta: constant, zetaN: zeta)
    }

    /// zeta(n, theta) = sum of 1/i^theta for i in 1...n: exact to 10^5, then Euler-Maclaurin
    /// (integral + half the end terms + the first derivative correction); relative error below 1e-12.
    public static func zeta(_ n: UInt64, theta: Double) -> Double {
        let exactTo: UInt64 = min(n, 100_000)
        var sum = ZipfianGenerator.zeta(from: 0, to: exactTo, theta: theta, initial: 0)
        guard n > exactTo else { return sum }
        let a = Double(exactTo), b = Double(n)
        let f = { (x: Double) in pow(x, -theta) }
        let df = { (x: Double) in -theta * pow(x, -theta - 1) }
        // sum over (a, b] = integral_a^b f + (f(b) - f(a))/2 + (f'(b) - f'(a))/12
        sum += (pow(b, 1 - theta) - pow(a, 1 - theta)) / (1 - theta) + (f(b) - f(a)) / 2 + (df(b) - df(a)) / 12
        return sum
    }

    /// The next record number in [0, keySpace).
    @inline(__always)
    public mutating func next(_ rng: inout SeededRNG) -> UInt64 {
        ycsbHash(ranks.next(&rng)) % keySpace
    }
}

/// YCSB's `Utils.fnvhash64`: FNV-1a over the 8 bytes, then Java's `Math.abs` of the signed result.
@inlinable @inline(__always)
public func ycsbHash(_ x: UInt64) -> UInt64 {
    Int64(bitPattern: fnv1a64(x)).magnitude
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

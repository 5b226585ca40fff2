public import OrbitCore

/// Picks the record number of the next read/update/delete/scan, per the workload's distribution.
/// One value type per thread; no existentials, no allocation per call.
public struct KeyChooser: Sendable {
    enum Kind: Sendable {
        case uniform
        /// Zipfian over the loaded records, scrambled by FNV so hot keys spread over the key space.
        case zipfian(ZipfianGenerator)
        /// Zipfian over recency: the newest record is the most popular.
        case latest(ZipfianGenerator)
        case sequential(next: UInt64)
        case hotspot(hot: UInt64, opFraction: Double)
        /// YCSB's scrambled zipfian over a key space sized for the expected inserts; a key not inserted
        /// yet is drawn again (as CoreWorkload's `nextKeynum` does).
        case scrambledZipfian(ScrambledZipfianGenerator)
        /// YCSB's exponential: a distance back from the newest record, drawn again when it is too far.
        case exponential(ExponentialGenerator)
    }

    var kind: Kind
    let records: UInt64

    /// `records`: how many records the load phase inserted; `thread`/`threads` stagger sequential starts.
    public init(_ distribution: Workload.KeyDistribution, records: Int, thread: Int, threads: Int) {
        let n = UInt64(max(records, 1))
        self.records = n
        switch distribution {
        case .uniform: kind = .uniform
        case .zipfian(let c): kind = .zipfian(ZipfianGenerator(items: n, theta: c))
        case .latest(let c): kind = .latest(ZipfianGenerator(items: n, theta: c))
        case .sequential: kind = .sequential(next: n * UInt64(thread) / UInt64(max(threads, 1)))
        case .hotspot(let d, let o): kind = .hotspot(hot: max(1, UInt64(Double(n) * d)), opFraction: o)
        case .scrambledZipfian(let c, let space):
            kind = .scrambledZipfian(ScrambledZipfianGenerator(keySpace: max(space, n), constant: c))
        case .exponential(let p, let f): kind = .exponential(ExponentialGenerator(percentile: p, range: Double(n) * f))
        }
    }

    /// The next record number in [0, existing), where `existing` >= the loaded count
    /// (it grows as the run inserts).
    @inline(__always)
    public mutating func next(_ rng: inout SeededRNG, existing: UInt64) -> UInt64 {
        switch kind {
        case .uniform:
            return rng.below(existing)
        case .zipfian(var z):
            let rank = z.next(&rng)
            kind = .zipfian(z)
            return fnv1a64(rank) % records
        case .latest(var z):
            z.grow(to: existing)
            let back = z.next(&rng)
            kind = .latest(z)
            return existing - 1 - back
        case .sequential(let n):
            kind = .sequential(next: n &+ 1)
            return n % existing
        case .hotspot(let hot, let opFraction):
            let h = min(hot, existing)
            if rng.unit() < opFraction || h == existing { return rng.below(h) }
            return h + rng.below(existing - h)
        case .scrambledZipfian(var z):
            var r = z.next(&rng)
            while r >= existing { r = z.next(&rng) }
            kind = .scrambledZipfian(z)
            return r
        case .exponential(var e):
            var d = e.next(&rng)
            while d >= existing { d = e.next(&rng) }
            kind = .exponential(e)
            return existing - 1 - d
        }
    }
}

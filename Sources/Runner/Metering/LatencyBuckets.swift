public import Histogram

/// HdrHistogram's bucket layout for `makeLatencyHistogram()` (1 ns to 1 hour, 3 significant digits:
/// unit magnitude 0, 2,048 sub-buckets, 32 buckets), computed with constants.
///
/// The metering loop records into a flat buffer of counts in exactly this layout and moves the counts
/// into a real `Histogram` once per interval (`OpMeter.drain`). `Histogram.record` is correct but
/// general: it reads the layout from the instance, checks the index against the array, may resize,
/// and goes through two copy-on-write uniqueness checks (the histogram in its array, the counts in
/// the histogram). Here a record is an index computation, one increment and a min/max update.
/// A test records the same values both ways and requires identical histograms.
public enum LatencyBuckets {
    static let subBucketHalfCountMagnitude = 10
    static let subBucketHalfCount = 1 << subBucketHalfCountMagnitude
    static let subBucketMask: UInt64 = (1 << (subBucketHalfCountMagnitude + 1)) - 1
    static let leadingZeroCountBase = 64 - subBucketHalfCountMagnitude - 1
    /// Buckets needed to reach `maxTrackableLatency` (2,048 × 2^31 > 3.6 × 10^12), plus the half of bucket 0.
    static let bucketCount = 32
    public static let length = (bucketCount + 1) << subBucketHalfCountMagnitude

    /// The counts index of `value` (1 ... maxTrackableLatency).
    @inline(__always)
    public static func index(_ value: UInt64) -> Int {
        let bucket = leadingZeroCountBase &- (value | subBucketMask).leadingZeroBitCount
        let sub = Int(truncatingIfNeeded: value &>> UInt64(truncatingIfNeeded: bucket))
        return ((bucket &+ 1) &<< subBucketHalfCountMagnitude) &+ sub &- subBucketHalfCount
    }

    /// The lowest value counted at `index`.
    public static func value(at index: Int) -> UInt64 {
        var bucket = (index >> subBucketHalfCountMagnitude) - 1
        var sub = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
        if bucket < 0 {
            sub -= subBucketHalfCount
            bucket = 0
        }
        return UInt64(sub) << UInt64(bucket)
    }
}

/// One operation type's metering state on one client thread: the phase's counters and the current
/// interval's latency counts. Lives in memory the owning thread allocated; no other thread touches it
/// while the phase runs.
struct OpMeter {
    /// Operations timed and counted in this phase (successes).
    var count: UInt64 = 0
    var errors: UInt64 = 0
    var notFound: UInt64 = 0
    var latencySum: UInt64 = 0
    var logicalBytes: UInt64 = 0

    /// The current interval's latency counts (`LatencyBuckets.length` of them), allocated on first use.
    var buckets: UnsafeMutablePointer<UInt64>?
    /// Values counted in `buckets`, and their exact least and greatest.
    var recorded: UInt64 = 0
    var minValue: UInt64 = .max
    var maxValue: UInt64 = 0

    /// Counts one latency (already clamped to 1 ... maxTrackableLatency).
    @inline(__always)
    mutating func record(_ value: UInt64) {
        let b = buckets ?? allocate()
        b[LatencyBuckets.index(value)] &+= 1
        recorded &+= 1
        if value < minValue { minValue = value }
        if value > maxValue { maxValue = value }
    }

    @inline(never)
    private mutating func allocate() -> UnsafeMutablePointer<UInt64> {
        let b = UnsafeMutablePointer<UInt64>.allocate(capacity: LatencyBuckets.length)
        b.initialize(repeating: 0, count: LatencyBuckets.length)
        buckets = b
        return b
    }

    /// Adds the interval's counts to `histogram` and clears them. The result is the histogram that
    /// recording each value into it would have made: the bucket holding the least value is recorded
    /// at that exact value, the one holding the greatest at that value, so min and max stay exact.
    mutating func drain(into histogram: inout LatencyHistogram) {
        guard recorded > 0, let b = buckets else { return }
        let low = LatencyBuckets.index(minValue)
        let high = LatencyBuckets.index(maxValue)
        if low == high {
            histogram.record(minValue, count: 1)
            if b[low] > 1 { histogram.record(maxValue, count: b[low] - 1) }
            b[low] = 0
        } else {
            for i in low...high where b[i] != 0 {
                let v = i == low ? minValue : i == high ? maxValue : LatencyBuckets.value(at: i)
                histogram.record(v, count: b[i])
                b[i] = 0
            }
        }
        recorded = 0
        minValue = .max
        maxValue = 0
    }

    func deallocate() { buckets?.deallocate() }
}

import Histogram
import OrbitCore
import OrbitTestSupport
import Testing
@testable import Runner

/// The metering loop's flat counts must make exactly the histogram that recording each value into an
/// HdrHistogram would: same buckets, counts, min, max, mean and percentiles.
@Suite struct LatencyBucketsTests {
    @Test func indexAndValueMatchTheHistogramLayout() {
        let h = makeLatencyHistogram()
        var rng = TestSeed.rng("LatencyBucketsTests.indexAndValueMatchTheHistogramLayout", default: 7)
        for _ in 0..<100_000 {
            let v = 1 + rng.next() % maxTrackableLatency >> (rng.next() % 40)
            let i = LatencyBuckets.index(v)
            #expect(i >= 0 && i < LatencyBuckets.length)
            #expect(LatencyBuckets.value(at: i) == h.lowestEquivalentForValue(v), "value \(v)")
        }
        #expect(LatencyBuckets.index(maxTrackableLatency) < LatencyBuckets.length)
    }

    @Test(arguments: [1, 2, 1000, 100_000])
    func drainedCountsEqualDirectRecording(values: Int) {
        let seed = TestSeed.pick("LatencyBucketsTests.drainedCountsEqualDirectRecording", default: 0x1A7E)
        var rng = SeededRNG(seed: seed &+ UInt64(values))
        var direct = makeLatencyHistogram()
        var drained = makeLatencyHistogram()
        var meter = OpMeter()
        defer { meter.deallocate() }
        for round in 0..<3 {
            for _ in 0..<values {
                // Mostly sub-microsecond with a long tail, as latencies are; sometimes equal values.
                let v = min(max(1, rng.next() % 2_000 &* (1 &<< (rng.next() % 24))), maxTrackableLatency)
                direct.record(v)
                meter.record(v)
            }
            meter.drain(into: &drained)
            #expect(meter.recorded == 0, "round \(round)")
            #expect(drained.totalCount == direct.totalCount)
            #expect(drained.min == direct.min)
            #expect(drained.maxRecorded == direct.maxRecorded)
            #expect(drained.max == direct.max)
            #expect(drained.mean == direct.mean)
            for p in [0.0, 50, 90, 99, 99.9, 99.99, 100] {
                #expect(drained.valueAtPercentile(p) == direct.valueAtPercentile(p), "p\(p) seed \(seed)")
            }
            #expect(drained == direct, "seed \(seed)")
        }
    }
}

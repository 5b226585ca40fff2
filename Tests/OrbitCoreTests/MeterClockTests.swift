import OrbitCore
import Testing

/// The metering clock reads CLOCK_MONOTONIC's nanoseconds, through the timestamp counter when the
/// machine allows: it must agree with clock_gettime and never run backwards on a thread.
@Suite struct MeterClockTests {
    @Test func agreesWithClockMonotonic() {
        let clock = MeterClock.shared
        print("meter clock: \(clock.description)")
        // Each read is bracketed by two CLOCK_MONOTONIC reads; descheduling only widens the bracket.
        // The tolerance covers the calibration error (~1e-5 of the time since calibration).
        let tolerance: UInt64 = 1_000_000
        for _ in 0..<1000 {
            let before = MonotonicClock.nanoseconds()
            let ordered = clock.nanoseconds()
            let start = clock.startNanoseconds()
            let after = MonotonicClock.nanoseconds()
            #expect(ordered + tolerance >= before && ordered <= after + tolerance, "\(before) \(ordered) \(after)")
            #expect(start + tolerance >= before && start <= after + tolerance, "\(before) \(start) \(after)")
        }
    }

    @Test func neverRunsBackwardsOnAThread() {
        let clock = MeterClock.shared
        var last = clock.nanoseconds()
        var backwards = 0
        for _ in 0..<1_000_000 {
            let now = clock.nanoseconds()
            if now < last { backwards += 1 }
            last = now
        }
        #expect(backwards == 0)
    }
}

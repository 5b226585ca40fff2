import CTimestamp
#if canImport(Glibc)
import Glibc
#endif

/// The metering layer's clock: CLOCK_MONOTONIC nanoseconds, read from the CPU's timestamp counter
/// when the kernel itself trusts it, else from `clock_gettime`.
///
/// The kernel's vDSO `clock_gettime` on a TSC clocksource is an ordered TSC read (LFENCE; RDTSC) plus
/// a sequence-lock read and the scaling to a timespec: about 30 ns on this machine class, and two
/// per timed operation were the larger part of the metering overhead. This clock reads the counter
/// directly and scales it with one 64×64-bit multiply, using a rate calibrated against
/// CLOCK_MONOTONIC when the process first uses it (two bracketed samples 20 ms apart; error ~1e-5).
///
/// Two reads, so that neither flatters a latency:
/// - `nanoseconds()` (the end of a timed operation, and every other use) is ordered like the vDSO's:
///   the counter is read after all earlier instructions have completed, so the operation is over.
/// - `startNanoseconds()` (the start of a timed operation) is an unordered read: it can only happen
///   early, before the preceding harness instructions complete — which lengthens the measured
///   latency, never shortens it — and costs a third of an ordered read.
///
/// The TSC is used only when the CPU says it is invariant (`constant_tsc` and `nonstop_tsc` in
/// /proc/cpuinfo) and the kernel's current clocksource is `tsc` (the kernel has checked it is
/// synchronized across CPUs); otherwise both reads are `clock_gettime(CLOCK_MONOTONIC)`.
/// `description` says which, for the run's environment record.
///
/// Anchored to CLOCK_MONOTONIC at calibration, it drifts from it only by the calibration error and
/// any NTP slewing since (microseconds per minute); all timing within a run uses this one clock.
public struct MeterClock: Sendable {
    /// The process's clock, calibrated on first use.
    public static let shared = MeterClock()

    @usableFromInline let useTSC: Bool
    @usableFromInline let baseTicks: UInt64
    @usableFromInline let baseNanos: UInt64
    /// Nanoseconds per tick as 32.32 fixed point.
    @usableFromInline let nanosPerTickQ32: UInt64
    /// "tsc 2445.41 MHz, calibrated against CLOCK_MONOTONIC" or "clock_gettime(CLOCK_MONOTONIC)"
    /// with the reason the TSC is not used.
    public let description: String

    init() {
        let (usable, reason) = Self.tscUsable()
        guard usable else {
            useTSC = false
            baseTicks = 0
            baseNanos = 0
            nanosPerTickQ32 = 0
            description = "clock_gettime(CLOCK_MONOTONIC) (\(reason))"
            return
        }
        let p0 = Self.samplePair()
        var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
        var remaining = timespec()
        while nanosleep(&pause, &remaining) == -1 && errno == EINTR { pause = remaining }
        let p1 = Self.samplePair()
        let ticks = Double(p1.ticks &- p0.ticks)
        let nanos = Double(p1.nanos &- p0.nanos)
        guard ticks > 0, nanos > 0 else {
            useTSC = false
            baseTicks = 0
            baseNanos = 0
            nanosPerTickQ32 = 0
            description = "clock_gettime(CLOCK_MONOTONIC) (the timestamp counter did not advance)"
            return
        }
        useTSC = true
        baseTicks = p1.ticks
        baseNanos = p1.nanos
        nanosPerTickQ32 = UInt64((nanos / ticks * 4_294_967_296).rounded())
        let mhz = ticks / nanos * 1000
        description = "tsc \((mhz * 100).rounded() / 100) MHz, calibrated against CLOCK_MONOTONIC"
    }

    /// Nanoseconds (CLOCK_MONOTONIC's epoch), read after every earlier instruction has completed.
    @inlinable @inline(__always)
    public func nanoseconds() -> UInt64 {
        useTSC ? scale(orbit_tsc_ordered()) : MonotonicClock.nanoseconds()
    }

    /// Nanoseconds for the start of a timed operation: may read early, never late (see the type).
    @inlinable @inline(__always)
    public func startNanoseconds() -> UInt64 {
        useTSC ? scale(orbit_tsc_unordered()) : MonotonicClock.nanoseconds()
    }

    @inlinable @inline(__always)
    func scale(_ ticks: UInt64) -> UInt64 {
        // Ticks before the base (a read on another CPU a few ticks behind) scale as 0 elapsed.
        let elapsed = ticks &- baseTicks
        guard elapsed < (1 << 63) else { return baseNanos }
        let product = elapsed.multipliedFullWidth(by: nanosPerTickQ32)
        return baseNanos &+ (product.high &<< 32 | product.low &>> 32)
    }

    /// A (ticks, nanoseconds) pair from the tightest of five bracketing reads.
    private static func samplePair() -> (ticks: UInt64, nanos: UInt64) {
        var best: (ticks: UInt64, nanos: UInt64, width: UInt64) = (0, 0, .max)
        for _ in 0..<5 {
            let before = MonotonicClock.nanoseconds()
            let ticks = orbit_tsc_ordered()
            let after = MonotonicClock.nanoseconds()
            if after &- before < best.width { best = (ticks, before &+ (after &- before) / 2, after &- before) }
        }
        return (best.ticks, best.nanos)
    }

    private static func tscUsable() -> (Bool, String) {
        guard orbit_tsc_available() != 0 else { return (false, "no timestamp counter on this CPU architecture") }
        guard let source = readFile("/sys/devices/system/clocksource/clocksource0/current_clocksource") else {
            return (false, "the kernel's clocksource is unknown")
        }
        let trimmed = source.filter { !$0.isWhitespace }
        guard trimmed == "tsc" else { return (false, "the kernel's clocksource is \(trimmed), not tsc") }
        guard let cpuinfo = readFile("/proc/cpuinfo") else { return (false, "/proc/cpuinfo is unreadable") }
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            let flags = Set(line.split(separator: " ").map(String.init))
            guard flags.contains("constant_tsc"), flags.contains("nonstop_tsc") else {
                return (false, "the CPU does not report an invariant TSC (constant_tsc, nonstop_tsc)")
            }
            return (true, "")
        }
        return (false, "/proc/cpuinfo has no flags line")
    }

    private static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

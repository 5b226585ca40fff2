#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The monotonic clock the metering layer times with (CLOCK_MONOTONIC, via the vDSO: ~20 ns a read).
public enum MonotonicClock {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// Wall-clock time in milliseconds since the Unix epoch: the time leases expire in.
/// Injectable so tests can move time by hand.
public protocol WallClock: Sendable {
    func nowMillis() -> Int64
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

import Synchronization

/// A wall clock that only moves when told to: for tests and deterministic simulations.
public final class ManualWallClock: WallClock {
    private let now: Atomic<Int64>
    public init(startMillis: Int64 = 1_700_000_000_000) { now = Atomic(startMillis) }
    public func nowMillis() -> Int64 { now.load(ordering: .relaxed) }
    public func advance(millis: Int64) { now.add(millis, ordering: .relaxed) }
    public func set(millis: Int64) { now.store(millis, ordering: .relaxed) }
}

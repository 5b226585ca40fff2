#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import OrbitCore

@inline(__always) func monotonicNanos() -> UInt64 { MonotonicClock.nanoseconds() }

/// Writes one line to standard error (recovery notes, background failures).
func logWarning(_ line: String) {
    var s = line
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

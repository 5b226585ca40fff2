#if !ORBIT_NO_JEMALLOC
import CJemalloc
#endif

/// The process heap as jemalloc counts it (`stats.allocated`): the memory figure of PersistenceMetrics.
///
/// jemalloc is linked into the executable (and the test binaries), so it is the process allocator.
/// Reading refreshes jemalloc's statistics epoch first: a few microseconds, so it is only done for
/// sampled operations and per interval, never inside a timed section.
public enum ProcessMemory {
#if ORBIT_NO_JEMALLOC
    // A sanitizer build (Package.swift: ORBIT_NO_JEMALLOC): no jemalloc, no heap figure.
    public static func allocatedBytes() -> UInt64 { 0 }
    public static var isJemallocActive: Bool { false }
    public static func jemallocVersion() -> String { "not linked (ORBIT_NO_JEMALLOC build)" }
#else
    public static func allocatedBytes() -> UInt64 {
        var epoch: UInt64 = 1
        var size = MemoryLayout<UInt64>.size
        _ = mallctl("epoch", nil, nil, &epoch, size)
        var allocated: Int = 0
        size = MemoryLayout<Int>.size
        guard mallctl("stats.allocated", &allocated, &size, nil, 0) == 0 else { return 0 }
        return UInt64(allocated)
    }

    /// Whether jemalloc is really the allocator (its statistics answer).
    public static var isJemallocActive: Bool {
        var allocated: Int = 0
        var size = MemoryLayout<Int>.size
        return mallctl("stats.allocated", &allocated, &size, nil, 0) == 0
    }

    public static func jemallocVersion() -> String {
        var p: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &p, &size, nil, 0) == 0, let p else { return "unknown" }
        return String(cString: p)
    }
#endif
}

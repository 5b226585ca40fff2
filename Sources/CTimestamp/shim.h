#pragma once
// The CPU's timestamp counter, for the metering layer's clock (OrbitCore's MeterClock).
// Header-only: static inline functions the Swift compiler inlines into the timed loop.
#include <stdint.h>

#if defined(__x86_64__)
#include <x86intrin.h>

/// 1 when this build can read a timestamp counter.
static inline int orbit_tsc_available(void) { return 1; }

/// RDTSC alone. Not ordered: the read may happen before earlier instructions have completed (so a
/// start stamp can only come out early, which lengthens a latency, never shortens it).
static inline uint64_t orbit_tsc_unordered(void) { return __rdtsc(); }

/// LFENCE; RDTSC: the counter is read only after every earlier instruction has completed; the
/// ordered read the Linux vDSO's clock_gettime uses (rdtsc_ordered) when the TSC is its clocksource.
static inline uint64_t orbit_tsc_ordered(void) {
    _mm_lfence();
    return __rdtsc();
}
#else
static inline int orbit_tsc_available(void) { return 0; }
static inline uint64_t orbit_tsc_unordered(void) { return 0; }
static inline uint64_t orbit_tsc_ordered(void) { return 0; }
#endif

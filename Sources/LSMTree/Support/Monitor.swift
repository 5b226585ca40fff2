#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with one condition variable: the engine's state lock, which background threads
/// and stalled writers wait on. Not reentrant.
final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond); pthread_mutex_destroy(mutex)
        cond.deallocate(); mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always) func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (lock held) until signalled; spurious wake-ups happen: loop on the condition.
    func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits at most `millis` (lock held).
    func wait(millis: Int) { wait(nanos: UInt64(millis) * 1_000_000) }

    /// Waits at most `nanos` (lock held).
    func wait(nanos: UInt64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let ns = ts.tv_nsec + Int(nanos % 1_000_000_000)
        ts.tv_sec += Int(nanos / 1_000_000_000) + ns / 1_000_000_000
        ts.tv_nsec = ns % 1_000_000_000
        pthread_cond_timedwait(cond, mutex, &ts)
    }

    func broadcast() { pthread_cond_broadcast(cond) }
}

/// Starts a detached-by-join pthread running `body`.
final class BackgroundThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<BackgroundThread>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, ctx)
        #else
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<BackgroundThread>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, ctx)
        #endif
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Writes one line to standard error (recovery notes, background failures).
func logWarning(_ line: String) {
    var s = line
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A background thread that runs `body` every `periodMillis` (engines' `periodic(ms)` durability:
/// a sync per period). The first error `body` throws is kept in `firstError` for the engine to
/// report from its next `sync()`, `stats()` or `close()`.
///
/// `stop()` wakes the thread and joins it; a run in progress completes first. Must be stopped
/// before whatever `body` touches is released.
public final class PeriodicTask: @unchecked Sendable {
    private let periodMillis: Int
    private let body: @Sendable () throws -> Void
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopping = false          // guarded by lock
    private var stopped = false           // guarded by lock
    private var thread = pthread_t()
    public let firstError = Mutex<OrbitError?>(nil)
    public let runCount = Atomic<UInt64>(0)

    public init(periodMillis: Int, name: String, _ body: @escaping @Sendable () throws -> Void) throws {
        self.periodMillis = max(1, periodMillis)
        self.body = body
        pthread_mutex_init(lock, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
        let ctx = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<PeriodicTask>.fromOpaque(raw!).takeRetainedValue().loop()
            return nil
        }, ctx)
        #else
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<PeriodicTask>.fromOpaque(raw).takeRetainedValue().loop()
            return nil
        }, ctx)
        #endif
        if rc != 0 {
            Unmanaged<PeriodicTask>.fromOpaque(ctx).release()
            throw OrbitError(.io, "cannot start the background thread '\(name)'", cause: .library(String(cString: strerror(rc))))
        }
    }

    private func loop() {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        pthread_mutex_lock(lock)
        while !stopping {
            let ns = deadline.tv_nsec + periodMillis % 1000 * 1_000_000
            deadline.tv_sec += periodMillis / 1000 + ns / 1_000_000_000
            deadline.tv_nsec = ns % 1_000_000_000
            while !stopping {
                if pthread_cond_timedwait(cond, lock, &deadline) == ETIMEDOUT { break }
            }
            if stopping { break }
            pthread_mutex_unlock(lock)
            do { try body() } catch {
                let e = (error as? OrbitError) ?? OrbitError(.io, "background task failed", cause: .library("\(error)"))
                firstError.withLock { if $0 == nil { $0 = e } }
            }
            runCount.wrappingAdd(1, ordering: .relaxed)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            // A run slower than the period: start the next period now rather than run back to back.
            if now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec > deadline.tv_nsec) {
                deadline = now
            }
            pthread_mutex_lock(lock)
        }
        pthread_mutex_unlock(lock)
    }

    /// Stops the thread and waits for it. Calling it again does nothing.
    public func stop() {
        pthread_mutex_lock(lock)
        if stopped { pthread_mutex_unlock(lock); return }
        stopping = true
        stopped = true
        pthread_cond_signal(cond)
        pthread_mutex_unlock(lock)
        pthread_join(thread, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(lock)
        lock.deallocate()
        cond.deallocate()
    }
}

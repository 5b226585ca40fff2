#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one lock of the project: a mutual-exclusion lock around `State`, with one condition variable
/// paired with it. Every engine, the file layer, the harness and the crash lab use it instead of
/// `Synchronization.Mutex`.
///
/// Why not `Mutex`: with Swift 6.3.1 on Linux, `Mutex` is a futex inside the uninstrumented
/// standard library, so ThreadSanitizer does not see it and reports every access it guards as a
/// race. This lock is a `pthread_mutex_t`, which ThreadSanitizer intercepts, in every build (it
/// measured as fast as `Mutex` here: scripts/tsan.sh's comment and the `threads` branch's report
/// quote the figures), and a condition variable can wait on it, which `Mutex` cannot offer.
///
/// Shape: `withLock { (inout State) in ... }` as `Mutex`; for the monitor style of the lsm engine
/// (state in the owner's own fields, guarded by a `Lock<Void>`), `lock()`, `unlock()`, `wait()`
/// and `broadcast()` are public too. Not reentrant. The state lives in its own allocation (not a
/// stored property), so `withLock` pays no dynamic exclusivity check.
///
/// Waiting: `wait` and `wait(nanos:)` must be called with the lock held and release it while they
/// sleep; wake-ups can be spurious, so always wait in a loop on the condition. Inside a
/// `withLock(inout State)` body use `withLock(until:)` instead: the state is re-read after each
/// wake-up there (a body's `inout` access may be cached across a call the compiler cannot see into).
public final class Lock<State>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>
    @usableFromInline let state: UnsafeMutablePointer<State>

    public init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)  // timed waits are not moved by clock changes
        #endif
        pthread_cond_init(condition, &attr)
        pthread_condattr_destroy(&attr)
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held and the state lent to it.
    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state.pointee)
    }

    /// Takes the lock, waits (releasing it meanwhile) until `ready` holds, then runs `body`.
    @inlinable
    public func withLock<R, E: Error>(until ready: (inout State) -> Bool,
                                      _ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(&state.pointee) { pthread_cond_wait(condition, mutex) }
        return try body(&state.pointee)
    }

    /// Takes the lock, waits (releasing it meanwhile) until `ready` holds or CLOCK_MONOTONIC reads
    /// `deadline`, then runs `body` with the state and whether `ready` held.
    @inlinable
    public func withLock<R, E: Error>(until ready: (inout State) -> Bool, deadline: UInt64,
                                      _ body: (inout State, Bool) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        var ok = ready(&state.pointee)
        while !ok && wait(untilMonotonicNanos: deadline) { ok = ready(&state.pointee) }
        if !ok { ok = ready(&state.pointee) }
        return try body(&state.pointee, ok)
    }

    /// Takes the lock (monitor style; pair with `unlock()`).
    @inlinable @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
    /// Releases the lock taken by `lock()`.
    @inlinable @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits (lock held) until signalled; wake-ups can be spurious: loop on the condition.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (lock held) at most `millis` milliseconds.
    public func wait(millis: Int) { _ = wait(nanos: UInt64(max(0, millis)) * 1_000_000) }

    /// Waits (lock held) at most `nanos`; false when the time ran out.
    @discardableResult
    public func wait(nanos: UInt64) -> Bool {
        wait(untilMonotonicNanos: MonotonicClock.nanoseconds() &+ nanos)
    }

    /// Waits (lock held) until signalled or until CLOCK_MONOTONIC reads `deadline`; false when the
    /// deadline passed.
    @discardableResult
    public func wait(untilMonotonicNanos deadline: UInt64) -> Bool {
        #if canImport(Glibc)
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &ts) != ETIMEDOUT
        #else
        let now = MonotonicClock.nanoseconds()
        guard deadline > now else { return false }
        var ts = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000))
        return pthread_cond_timedwait_relative_np(condition, mutex, &ts) != ETIMEDOUT
        #endif
    }

    /// Wakes every waiter (call with the lock held, or just after changing the state under it).
    public func broadcast() { pthread_cond_broadcast(condition) }
    /// Wakes one waiter.
    public func signal() { pthread_cond_signal(condition) }
}

extension Lock where State == Void {
    /// A lock that guards state kept elsewhere (the owner's fields): a monitor.
    public convenience init() { self.init(()) }

    /// Runs `body` with the lock held.
    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A lock with no state of its own and a condition variable: the monitor the lsm engine's state,
/// write, manifest and sync locks are (their state is the engine's fields).
public typealias Monitor = Lock<Void>

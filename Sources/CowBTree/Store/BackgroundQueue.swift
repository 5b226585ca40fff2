#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore
import Synchronization

/// One background thread running submitted work items in order: the cow engine's checkpoints and
/// WAL segment preparation, off the writer's thread.
///
/// Items are numbered from 1 as they are submitted; `completed` is the number of the last finished
/// item (release-stored after the item's effects, so a reader that sees it with acquire ordering
/// sees them too), and `wait(for:)` blocks until an item has finished. `stop()` runs what is queued,
/// then joins the thread. Items must not wait for the engine's writer lock (the writer may be
/// waiting for them while holding it).
final class BackgroundQueue: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var items: [() -> Void] = []     // guarded by lock
    private var submitted: UInt64 = 0         // guarded by lock
    private var stopping = false              // guarded by lock
    private var joined = false                // guarded by lock
    private var thread = pthread_t()
    let completed = Atomic<UInt64>(0)

    init(name: String) throws {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(cond, nil)
        let ctx = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<BackgroundQueue>.fromOpaque(raw!).takeRetainedValue().loop()
            return nil
        }, ctx)
        #else
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<BackgroundQueue>.fromOpaque(raw).takeRetainedValue().loop()
            return nil
        }, ctx)
        #endif
        if rc != 0 {
            Unmanaged<BackgroundQueue>.fromOpaque(ctx).release()
            throw OrbitError(.io, "cannot start the background thread '\(name)'", cause: .library(String(cString: strerror(rc))))
        }
    }

    /// Queues `work`; returns its number.
    @discardableResult
    func submit(_ work: @escaping () -> Void) -> UInt64 {
        pthread_mutex_lock(lock)
        items.append(work)
        submitted += 1
        let n = submitted
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(lock)
        return n
    }

    /// Blocks until item `n` has finished.
    func wait(for n: UInt64) {
        if completed.load(ordering: .acquiring) >= n { return }
        pthread_mutex_lock(lock)
        while completed.load(ordering: .acquiring) < n { pthread_cond_wait(cond, lock) }
        pthread_mutex_unlock(lock)
    }

    private func loop() {
        pthread_mutex_lock(lock)
        while true {
            while items.isEmpty && !stopping { pthread_cond_wait(cond, lock) }
            if items.isEmpty { break }
            let work = items.removeFirst()
            pthread_mutex_unlock(lock)
            work()
            pthread_mutex_lock(lock)
            completed.wrappingAdd(1, ordering: .releasing)
            pthread_cond_broadcast(cond)
        }
        pthread_mutex_unlock(lock)
    }

    /// Runs what is queued, then stops the thread and waits for it. Calling it again does nothing.
    func stop() {
        pthread_mutex_lock(lock)
        if joined { pthread_mutex_unlock(lock); return }
        stopping = true
        joined = true
        pthread_cond_broadcast(cond)
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

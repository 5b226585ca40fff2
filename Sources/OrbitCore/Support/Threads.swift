#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The one OS-thread abstraction of the project: a pthread running `body`, joined by `join()`.
///
/// Real threads, not tasks or a pool: the engines' locks and group commits block, and a pool two
/// cores wide would serialize concurrent writers (and hide the races a sweep exists to find).
/// pthread_create and pthread_join are what ThreadSanitizer needs to order a thread's work with
/// its creator and joiner (a semaphore from libdispatch is invisible to it).
public final class OrbitThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let joined = Atomic<Bool>(false)
    private let name: String
    private let body: () -> Void

    /// Starts the thread. `name` is for errors (Glibc's module does not export pthread_setname_np);
    /// `stackSize` 0 takes the system's default.
    public init(name: String, stackSize: Int = 0, _ body: @escaping () -> Void) throws {
        self.name = name
        self.body = body
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        if stackSize > 0 { pthread_attr_setstacksize(&attr, stackSize) }
        let context = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
        let rc = pthread_create(&handle, &attr, { raw in
            Unmanaged<OrbitThread>.fromOpaque(raw!).takeRetainedValue().main()
            return nil
        }, context)
        #else
        let rc = pthread_create(&handle, &attr, { raw in
            Unmanaged<OrbitThread>.fromOpaque(raw).takeRetainedValue().main()
            return nil
        }, context)
        #endif
        if rc != 0 {
            Unmanaged<OrbitThread>.fromOpaque(context).release()
            throw OrbitError(.io, "cannot start the thread '\(name)'", cause: .library(String(cString: strerror(rc))))
        }
    }

    private func main() { body() }

    /// Waits for the thread to finish (not from the thread itself). Only the first call joins; a
    /// later one returns at once, so owners' `stop()` may be called more than once.
    public func join() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pthread_join(handle, nil)
    }
}

/// Runs `body(0..<count)` on that many new threads at once and waits for all of them; rethrows the
/// first error any of them threw (after every thread finished).
public func runOnThreads(_ count: Int, name: String = "orbit-worker", stackSize: Int = 0,
                         _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let firstError = Lock<(any Error)?>(nil)
    var threads: [OrbitThread] = []
    threads.reserveCapacity(count)
    var startFailure: (any Error)?
    for i in 0..<count {
        do {
            threads.append(try OrbitThread(name: "\(name)-\(i)", stackSize: stackSize) {
                do { try body(i) } catch { firstError.withLock { if $0 == nil { $0 = error } } }
            })
        } catch {
            startFailure = error
            break
        }
    }
    for t in threads { t.join() }
    if let startFailure { throw startFailure }
    if let error = firstError.withLock({ $0 }) { throw error }
}

/// One background thread running submitted work items in order (the cow engine's checkpoints and
/// WAL segment preparation, off the writer's thread).
///
/// Items are numbered from 1 as they are submitted; `completed` is the number of the last finished
/// item (release-stored after the item's effects, so a reader that loads it with acquire ordering
/// sees them), and `wait(for:)` blocks until an item has finished. `stop()` runs what is queued,
/// then joins the thread. An item must not wait for a lock its submitter may hold while it waits
/// for the item.
public final class WorkerQueue: @unchecked Sendable {
    private struct State {
        var items: [() -> Void] = []
        var head = 0
        var submitted: UInt64 = 0
        var finished: UInt64 = 0
        var stopping = false
    }
    private let lock = Lock(State())
    private var thread: OrbitThread?

    public init(name: String) throws {
        thread = try OrbitThread(name: name) { [unowned(unsafe) self] in self.loop() }
    }

    /// The number of the last finished item.
    public var completed: UInt64 { lock.withLock { $0.finished } }

    /// Queues `work`; returns its number.
    @discardableResult
    public func submit(_ work: @escaping () -> Void) -> UInt64 {
        lock.withLock { s in
            s.items.append(work)
            s.submitted += 1
            lock.broadcast()
            return s.submitted
        }
    }

    /// Blocks until item `n` has finished.
    public func wait(for n: UInt64) {
        lock.withLock(until: { $0.finished >= n }) { _ in }
    }

    private func loop() {
        while true {
            let work: (() -> Void)? = lock.withLock(until: { $0.head < $0.items.count || $0.stopping }) { s in
                guard s.head < s.items.count else { return nil }
                let w = s.items[s.head]
                s.head += 1
                if s.head == s.items.count { s.items.removeAll(keepingCapacity: true); s.head = 0 }
                return w
            }
            guard let work else { return }
            work()
            lock.withLock { s in
                s.finished += 1
                lock.broadcast()
            }
        }
    }

    /// Runs what is queued, then stops the thread and waits for it. Calling it again does nothing.
    public func stop() {
        lock.withLock { s in
            s.stopping = true
            lock.broadcast()
        }
        thread?.join()
    }

    deinit { stop() }
}

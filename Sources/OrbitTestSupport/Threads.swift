#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Runs `body(0..<threads)` on that many new OS threads at once and waits for all of them.
/// Rethrows the first error any thread threw (after every thread finished).
///
/// Real threads, not tasks: the engines' locks block, and a test of them must not depend on how
/// wide the cooperative pool is.
public func runOnThreads(_ threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let firstError = Mutex<(any Error)?>(nil)
    final class Job {
        let index: Int
        let body: @Sendable (Int) throws -> Void
        let failed: (any Error) -> Void
        init(_ index: Int, _ body: @escaping @Sendable (Int) throws -> Void, _ failed: @escaping (any Error) -> Void) {
            self.index = index
            self.body = body
            self.failed = failed
        }
    }
    var ids: [pthread_t] = []
    for i in 0..<threads {
        let job = Job(i, body) { error in firstError.withLock { if $0 == nil { $0 = error } } }
        let context = Unmanaged.passRetained(job).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            #if canImport(Darwin)
            let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
            #else
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            #endif
            do { try job.body(job.index) } catch { job.failed(error) }
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        ids.append(tid)
    }
    for tid in ids { pthread_join(tid, nil) }
    if let error = firstError.withLock({ $0 }) { throw error }
}

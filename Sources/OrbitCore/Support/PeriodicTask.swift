import Synchronization

/// A background thread that runs `body` every `periodMillis` (engines' `periodic(ms)` durability:
/// a sync per period; the harness's monitor and stats sampler). The first error `body` throws is
/// kept in `firstError` for the engine to report from its next `sync()`, `stats()` or `close()`.
///
/// Periods are counted from the previous deadline (CLOCK_MONOTONIC), so runs do not drift; a run
/// slower than the period starts the next period when it ends rather than running back to back.
/// `stop()` wakes the thread and joins it; a run in progress completes first. Must be stopped
/// before whatever `body` touches is released.
public final class PeriodicTask: @unchecked Sendable {
    private let periodNanos: UInt64
    private let body: @Sendable () throws -> Void
    /// Whether `stop()` was called (the thread's wake-up condition).
    private let stopping = Lock(false)
    private var thread: OrbitThread?
    public let firstError = Lock<OrbitError?>(nil)
    public let runCount = Atomic<UInt64>(0)

    public init(periodMillis: Int, name: String, _ body: @escaping @Sendable () throws -> Void) throws {
        self.periodNanos = UInt64(max(1, periodMillis)) * 1_000_000
        self.body = body
        thread = try OrbitThread(name: name) { [unowned(unsafe) self] in self.loop() }
    }

    private func loop() {
        var deadline = MonotonicClock.nanoseconds()
        while true {
            deadline += periodNanos
            let stop = stopping.withLock(until: { $0 }, deadline: deadline) { stop, _ in stop }
            if stop { return }
            do { try body() } catch {
                let e = (error as? OrbitError) ?? OrbitError(.io, "background task failed", cause: .library("\(error)"))
                firstError.withLock { if $0 == nil { $0 = e } }
            }
            runCount.wrappingAdd(1, ordering: .relaxed)
            let now = MonotonicClock.nanoseconds()
            if now > deadline { deadline = now }
        }
    }

    /// Stops the thread and waits for it. Calling it again does nothing.
    public func stop() {
        stopping.withLock { s in
            s = true
            stopping.broadcast()
        }
        thread?.join()
    }

    deinit { stop() }
}

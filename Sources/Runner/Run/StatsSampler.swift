public import OrbitCore

/// Samples an engine's `stats()` on a thread of its own, one row per interval (stats.csv).
///
/// Apart from the monitor thread on purpose: the monitor reduces intervals and draws the status
/// line, and neither may freeze while an engine is slow to answer; and the engines answer
/// `stats()` without their write lock, so a stalled engine — the moment one most wants to watch —
/// still yields a row every interval. A failed `stats()` gives no row (rather than a made-up one);
/// its first three errors are kept for the run's report.
final class StatsSampler: Sendable {
    private struct Rows { var rows: [StatsRow] = []; var errors: [String] = [] }
    private let start: UInt64
    private let collected = Lock(Rows())
    private let stats: @Sendable () throws -> StorageStats
    private let heapBytes: @Sendable () -> UInt64
    private let task = Lock<PeriodicTask?>(nil)

    /// `start` is the run's start (monotonic ns of `MeterClock.shared`): rows are timed from it.
    init(start: UInt64, stats: @escaping @Sendable () throws -> StorageStats,
         heapBytes: @escaping @Sendable () -> UInt64) {
        self.start = start
        self.stats = stats
        self.heapBytes = heapBytes
    }

    /// Takes one row now, on the calling thread.
    func sample(at now: UInt64 = MeterClock.shared.nanoseconds()) {
        let elapsed = Double(now &- start) / 1e9
        do {
            let row = StatsRow(elapsedSeconds: elapsed, stats: try stats(), processHeapBytes: heapBytes())
            collected.withLock { $0.rows.append(row) }
        } catch {
            collected.withLock { if $0.errors.count < 3 { $0.errors.append("stats at \(formatDouble(elapsed))s: \(error)") } }
        }
    }

    /// Starts sampling every `intervalNanos` (at least 1 ms) on the sampler's thread.
    func startSampling(intervalNanos: UInt64) throws {
        let t = try PeriodicTask(periodMillis: Int(max(1, intervalNanos / 1_000_000)), name: "orbit-stats") { [self] in
            sample()
        }
        task.withLock { $0 = t }
    }

    /// Stops the sampler's thread (a sample in progress completes first). Calling it again does nothing.
    func stop() {
        task.withLock { $0 }?.stop()
    }

    var rows: [StatsRow] { collected.withLock { $0.rows } }
    var errors: [String] { collected.withLock { $0.errors } }
}

public import OrbitCore
public import Workloads
import Foundation
import Synchronization

/// Drives one workload against one backend: load phase, warm-up, run phase; N client threads; the
/// metering layer around every operation; a monitor thread for the status line and StorageStats.
///
/// The timed section of an operation is exactly the engine call between two monotonic clock reads;
/// key formatting, value selection, op-stream drawing and sampling happen outside it, and nothing is
/// printed, formatted or allocated inside it.
public struct BenchmarkRunner: Sendable {
    public let workload: Workload
    public let settings: Settings
    public var showStatus: Bool

    public init(workload: Workload, settings: Settings, showStatus: Bool = true) {
        self.workload = workload
        self.settings = settings
        self.showStatus = showStatus
    }

    /// Opens `backend` with its store in `directory`, runs the workload, closes it.
    public func run(backend: String, directory: String) throws -> BackendRun {
        let openStart = MonotonicClock.nanoseconds()
        return try Engines.withEngine(backend, directory: directory, settings: settings,
                                      RunBody(runner: self, backend: backend, openStart: openStart))
    }

    struct RunBody: EngineBody {
        let runner: BenchmarkRunner
        let backend: String
        let openStart: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> BackendRun {
            let openSeconds = Double(MonotonicClock.nanoseconds() - openStart) / 1e9
            return try runner.drive(engine, backend: backend, openSeconds: openSeconds)
        }
    }

    // MARK: - Phases

    func drive<E: StorageEngine>(_ engine: E, backend: String, openSeconds: Double) throws -> BackendRun {
        let w = workload
        let start = MonotonicClock.nanoseconds()
        let intervalNanos = UInt64(w.intervalSeconds * 1e9)
        let collector = IntervalCollector()
        let values = ValuePool(maxLength: max(w.valueSize.upperBound, 1), seed: w.seed)
        let executor = Executor(engine: engine, workload: w, values: values)
        let statsRows = Mutex<[StatsRow]>([])
        let status = StatusLine(enabled: showStatus)
        let phaseLabel = Mutex("\(backend) load")
        let progress = (0..<w.threads).map { _ in ProgressCounter() }
        let phaseTotal = Atomic<Int>(w.recordCount)
        let phaseStart = Atomic<UInt64>(start)
        let lastStats = Mutex<UInt64>(start)

        @Sendable func takeStats(at now: UInt64) {
            let row = StatsRow(elapsedSeconds: Double(now - start) / 1e9,
                               stats: (try? engine.stats()) ?? StorageStats(),
                               processHeapBytes: ProcessMemory.allocatedBytes())
            statsRows.withLock { $0.append(row) }
        }
        takeStats(at: start)
        let monitor = BackgroundLoop(name: "orbit-monitor", periodMillis: 100) {
            let now = MonotonicClock.nanoseconds()
            let due = lastStats.withLock { last -> Bool in
                guard now - last >= intervalNanos else { return false }
                last = now
                return true
            }
            if due { takeStats(at: now) }
            let done = progress.reduce(0) { $0 + $1.value.load(ordering: .relaxed) }
            let idx = Int((now - start) / max(intervalNanos, 1))
            status.update(label: phaseLabel.withLock { $0 }, done: done, total: phaseTotal.load(ordering: .relaxed),
                          now: now, start: phaseStart.load(ordering: .relaxed), latest: collector.latestMerged(before: idx))
        }
        defer { status.finish() }

        var errors: [String] = []
        // Load phase.
        let loadStart = MonotonicClock.nanoseconds()
        let loadRecorders = runPhase(threads: w.threads, ops: [.load], name: "orbit-load") { t, rec in
            executor.load(thread: t, recorder: rec, progress: progress[t], start: start,
                          intervalNanos: intervalNanos, collector: collector)
        }
        let loadSeconds = Double(MonotonicClock.nanoseconds() - loadStart) / 1e9

        // Warm-up: a separate stream, so the measured stream is the same whatever the warm-up did.
        let warmStart = MonotonicClock.nanoseconds()
        if w.warmupOps > 0 || w.warmupSeconds > 0 {
            phaseLabel.withLock { $0 = "\(backend) warm-up" }
            for p in progress { p.value.store(0, ordering: .relaxed) }
            phaseTotal.store(w.warmupOps * w.threads, ordering: .relaxed)
            phaseStart.store(warmStart, ordering: .relaxed)
            runThreads(w.threads, name: "orbit-warmup") { t in
                executor.warmUp(thread: t, progress: progress[t], until: warmStart + UInt64(w.warmupSeconds * 1e9))
            }
        }
        let warmupSeconds = Double(MonotonicClock.nanoseconds() - warmStart) / 1e9

        // Run phase.
        phaseLabel.withLock { $0 = "\(backend) run" }
        for p in progress { p.value.store(0, ordering: .relaxed) }
        phaseTotal.store(w.operationCount, ordering: .relaxed)
        let runStart = MonotonicClock.nanoseconds()
        phaseStart.store(runStart, ordering: .relaxed)
        let digests = Mutex([UInt64](repeating: 0, count: w.threads))
        let runOps = Array(Set(w.mix.map(\.op))).sorted { $0.rawValue < $1.rawValue }
        let runRecorders = runPhase(threads: w.threads, ops: runOps, name: "orbit-run") { t, rec in
            let d = executor.run(thread: t, recorder: rec, progress: progress[t], start: start, runStart: runStart,
                                 intervalNanos: intervalNanos, collector: collector)
            digests.withLock { $0[t] = d }
        }
        let runSeconds = Double(MonotonicClock.nanoseconds() - runStart) / 1e9
        monitor.stop()
        try? engine.sync()
        takeStats(at: MonotonicClock.nanoseconds())
        let finalStats = try engine.stats()

        var operations = summarize(loadRecorders, phase: "load", seconds: loadSeconds)
        operations += summarize(runRecorders, phase: "run", seconds: runSeconds)
        for rec in loadRecorders + runRecorders {
            if let e = rec.firstError { errors.append("thread \(rec.thread): \(e)") }
        }
        var samples = (loadRecorders + runRecorders).flatMap(\.samples)
        samples.sort { $0.timestampNanos < $1.timestampNanos }

        let elapsed = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let timeseries = collector.rows().map { row -> TimeseriesRow in
            // The last interval is partial: its rate is over the time it really lasted.
            let intervalStart = Double(row.index) * w.intervalSeconds
            let intervalEnd = min(Double(row.index + 1) * w.intervalSeconds, elapsed)
            let length = max(intervalEnd - intervalStart, 1e-9)
            return TimeseriesRow(elapsedSeconds: intervalEnd, operation: row.op,
                                 count: row.histogram.totalCount, opsPerSecond: Double(row.histogram.totalCount) / length,
                                 histogram: row.histogram)
        }
        return BackendRun(
            backend: backend, durability: engine.durability, promise: E.durabilityPromise(for: engine.durability),
            dataDirectory: engine.dataDirectory, openSeconds: openSeconds, loadSeconds: loadSeconds,
            warmupSeconds: warmupSeconds, runSeconds: runSeconds, operations: operations,
            statsRows: statsRows.withLock { $0 }, timeseries: timeseries, samples: samples,
            opStreamDigest: OpStream.combine(digests.withLock { $0 }), finalStats: finalStats, errors: errors)
    }

    /// Runs one phase on `threads` threads, each with its own recorder; returns the recorders.
    func runPhase(threads: Int, ops: [OperationType], name: String,
                  _ body: @escaping @Sendable (Int, ThreadRecorder) -> Void) -> [ThreadRecorder] {
        let w = workload
        let sampleEvery: UInt64 = w.metricsAll ? 1 : (w.metricsSampleRate <= 0 ? 0 : UInt64(max(1, (1 / w.metricsSampleRate).rounded())))
        let recorders = (0..<threads).map { ThreadRecorder(thread: $0, ops: ops, sampleEvery: sampleEvery, seed: w.seed) }
        runThreads(threads, name: name) { t in body(t, recorders[t]) }
        return recorders
    }

    /// Merges per-thread histograms and counters into one summary per operation type.
    func summarize(_ recorders: [ThreadRecorder], phase: String, seconds: Double) -> [OperationSummary] {
        var out: [OperationSummary] = []
        for op in OperationType.allCases {
            let i = Int(op.rawValue)
            var merged: LatencyHistogram?
            var s = OperationSummary(phase: phase, operation: op, count: 0, errors: 0, notFound: 0, latencySumNanos: 0,
                                     logicalBytes: 0, phaseSeconds: seconds, histogram: makeLatencyHistogram())
            for r in recorders {
                guard let h = r.histograms[i] else { continue }
                if merged == nil { merged = h } else { merged!.add(h) }
                s.count += r.counts[i]
                s.errors += r.errors[i]
                s.notFound += r.notFound[i]
                s.latencySumNanos += r.latencySum[i]
                s.logicalBytes += r.logicalBytes[i]
            }
            guard let merged, s.count > 0 else { continue }
            s.histogram = merged
            out.append(s)
        }
        return out
    }
}

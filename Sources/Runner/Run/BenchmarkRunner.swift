public import OrbitCore
public import Workloads
import Foundation
import Synchronization

/// Drives one workload against one backend: load phase, warm-up, run phase; N client threads; the
/// metering layer around every operation; a monitor thread for the status line, and a stats
/// sampler thread for StorageStats rows.
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
        // The lease model changes a record and its node-index entry in one atomic batch: refused,
        // before the engine opens, on a backend that declares atomic batches absent.
        if workload.usesLeases, let caps = Engines.capabilities(backend), !caps.contains(.atomicBatches) {
            throw OrbitError(.unsupported, "the \(backend) backend has no atomic multi-key batch, which the lease workload needs",
                             at: "backend \(backend)",
                             hint: "run lease workloads on a backend with atomic batches: " + Engines.names(with: .atomicBatches).joined(separator: ", "))
        }
        let openStart = MeterClock.shared.nanoseconds()
        let cpuStart = ProcessCPU.seconds()
        var result = try Engines.withEngine(backend, directory: directory, settings: settings,
                                            RunBody(runner: self, backend: backend, openStart: openStart))
        result.cpuSeconds = ProcessCPU.seconds() - cpuStart
        result.wallSeconds = Double(MeterClock.shared.nanoseconds() - openStart) / 1e9
        return result
    }

    /// Runs the workload on an engine the caller opened (and closes): custom engines and engine
    /// wrappers (fault or stall injection) go through the same phases and metering as the built-in ones.
    public func run<E: StorageEngine>(engine: E, backend: String) throws -> BackendRun {
        try drive(engine, backend: backend, openSeconds: 0)
    }

    struct RunBody: EngineBody {
        let runner: BenchmarkRunner
        let backend: String
        let openStart: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> BackendRun {
            let openSeconds = Double(MeterClock.shared.nanoseconds() - openStart) / 1e9
            return try runner.drive(engine, backend: backend, openSeconds: openSeconds)
        }
    }

    // MARK: - Phases

    func drive<E: StorageEngine>(_ engine: E, backend: String, openSeconds: Double) throws -> BackendRun {
        let w = workload
        let start = MeterClock.shared.nanoseconds()
        let intervalNanos = UInt64(w.intervalSeconds * 1e9)
        let collector = IntervalCollector()
        let heap = HeapGauge()
        let values = ValuePool(maxLength: max(w.valueSize.upperBound, 1), seed: w.seed)
        let trace = w.recordTrace.map { _ in
            TraceSink(threads: w.threads, expectedRecordsPerThread: (w.recordCount + max(w.operationCount, 0)) / w.threads + 1)
        }
        var built = Executor(engine: engine, workload: w, values: values, heap: heap)
        built.trace = trace
        let executor = built
        let status = StatusLine(enabled: showStatus, periodSeconds: w.statusIntervalSeconds,
                                ycsb: w.ycsbOutput ? w.measurementInterval : nil)
        let phaseLabel = Lock("\(backend) load")
        let progress = (0..<w.threads).map { _ in ProgressCounter() }
        let phaseTotal = Atomic<Int>(w.recordCount)
        let phaseStart = Atomic<UInt64>(start)

        // Stats rows on their own thread, one per interval (StatsSampler); the monitor below only
        // reduces intervals and draws the status line, so neither waits for the other.
        let sampler = StatsSampler(start: start, stats: { try engine.stats() }, heapBytes: { heap.bytes })
        sampler.sample(at: start)
        try sampler.startSampling(intervalNanos: intervalNanos)
        defer { sampler.stop() }
        let monitor = try PeriodicTask(periodMillis: 100, name: "orbit-monitor") {
            heap.refresh()
            collector.reduceCompleteIntervals()
            let now = MeterClock.shared.nanoseconds()
            let done = progress.reduce(0) { $0 + $1.value.load(ordering: .relaxed) }
            status.update(label: phaseLabel.withLock { $0 }, done: done, total: phaseTotal.load(ordering: .relaxed),
                          now: now, start: phaseStart.load(ordering: .relaxed), latest: collector.latest(),
                          byOperation: status.ycsb != nil ? collector.latestByOperation() : [],
                          schedule: collector.latestSchedule().map { (w.targetOpsPerSecond, $0) })
        }
        var monitorRunning = true
        defer {
            if monitorRunning { monitor.stop() }
            status.finish()
        }

        var errors: [String] = []
        @Sendable func clock(_ phaseStart: UInt64) -> PhaseClock {
            PhaseClock(runStart: start, intervalNanos: intervalNanos, phaseStart: phaseStart, collector: collector)
        }

        // Cost per operation: the process's CPU, context switches and I/O over each phase.
        let device = engine.dataDirectory.flatMap { ResourceUsage.device(of: $0) }
        var costs: [PhaseCost] = []
        func measured(_ phase: String, _ body: () -> PhaseResult) -> PhaseResult {
            let before = ResourceUsage.now(device: device)
            let r = body()
            let ops = r.recorders.reduce(0) { n, rec in OperationType.allCases.reduce(n) { $0 + Int(rec.counters($1).count) } }
            if ops > 0 { costs.append(PhaseCost(phase: phase, operations: ops, usage: ResourceUsage.now(device: device).since(before))) }
            return r
        }

        // Load phase.
        var load = PhaseResult(recorders: [], start: start, end: start)
        if w.load && w.recordCount > 0 { load = measured("load") {
            runPhase(ops: [.load], name: "orbit-load", collector: collector, prepare: { _ in () }) { t, rec, _, phaseStart in
                executor.load(thread: t, recorder: rec, progress: progress[t], clock: clock(phaseStart))
            } started: { phaseStart.store($0, ordering: .relaxed) }
        } }

        // Warm-up: a separate stream, so the measured stream is the same whatever the warm-up did.
        let warmStart = MeterClock.shared.nanoseconds()
        var warmup: WarmupOutcome?
        if w.runPhase && (w.warmupOps > 0 || w.warmupSeconds > 0 || w.autoWarmup != nil) {
            phaseLabel.withLock { $0 = "\(backend) warm-up" }
            for p in progress { p.value.store(0, ordering: .relaxed) }
            let auto = w.autoWarmup
            phaseTotal.store(auto == nil ? w.warmupOps * w.threads : 0, ordering: .relaxed)
            let outcomes = Lock<[(ops: Int, failures: Int, firstError: String?)]>([])
            let stop = StopFlag()
            let begunAt = Atomic<UInt64>(0)
            let steady = auto.map { SteadyState($0) }
            // warmup: auto — throughput sampled every tenth of the window, on its own thread.
            let watcher = try steady.map { st in
                try PeriodicTask(periodMillis: max(20, Int(st.settings.windowSeconds * 100)), name: "orbit-steady") {
                    let begun = begunAt.load(ordering: .relaxed)
                    guard begun > 0 else { return }
                    let done = progress.reduce(0) { $0 + $1.value.load(ordering: .relaxed) }
                    if st.sample(done: done, at: MeterClock.shared.nanoseconds(), begun: begun) { stop.raise() }
                }
            }
            let ops = auto == nil ? w.warmupOps : 0
            let seconds = auto?.maxSeconds ?? w.warmupSeconds
            _ = runPhase(ops: [], name: "orbit-warmup", collector: collector, prepare: { executor.makeState(thread: $0, warmUp: true) }) { t, _, state, begun in
                let r = executor.warmUp(thread: t, state: &state, progress: progress[t], ops: ops,
                                        until: begun + UInt64(seconds * 1e9), stop: stop)
                outcomes.withLock { $0.append((r.ops, r.failures, r.firstError.map { "\($0)" })) }
            } started: {
                begunAt.store($0, ordering: .relaxed)
                phaseStart.store($0, ordering: .relaxed)
            }
            watcher?.stop()
            let ended = Double(MeterClock.shared.nanoseconds() - warmStart) / 1e9
            if let steady {
                let (change, rate) = steady.last()
                warmup = WarmupOutcome(mode: "auto", seconds: ended, reason: stop.raised ? "steady" : "max",
                                       relativeChange: change, opsPerSecond: rate, settings: auto)
            } else {
                warmup = WarmupOutcome(mode: "fixed", seconds: ended, reason: w.warmupSeconds > 0 && w.warmupOps > 0
                                       ? "warmup_ops and warmup_s done" : (w.warmupOps > 0 ? "warmup_ops done" : "warmup_s done"),
                                       relativeChange: nil, opsPerSecond: nil, settings: nil)
            }
            let failed = outcomes.withLock { $0.filter { $0.failures > 0 } }
            if let first = failed.first {
                errors.append("warm-up: \(failed.reduce(0) { $0 + $1.failures }) operations failed; first: \(first.firstError ?? "?")")
            }
        }
        let warmupSeconds = Double(MeterClock.shared.nanoseconds() - warmStart) / 1e9

        // Run phase.
        phaseLabel.withLock { $0 = "\(backend) run" }
        for p in progress { p.value.store(0, ordering: .relaxed) }
        phaseTotal.store(w.operationCount, ordering: .relaxed)
        let digests = Lock([UInt64](repeating: 0, count: w.threads))
        let behind = Lock([UInt64](repeating: 0, count: w.threads))
        let runOps = w.runPhase ? Array(Set(w.mix.map(\.op))).sorted { $0.rawValue < $1.rawValue } : []
        let afterLoad = MeterClock.shared.nanoseconds()
        var run = PhaseResult(recorders: [], start: afterLoad, end: afterLoad)
        if w.runPhase { run = measured("run") {
            runPhase(ops: runOps, name: "orbit-run", collector: collector, openLoop: w.targetOpsPerSecond > 0,
                     prepare: { executor.makeState(thread: $0) }) { t, rec, state, begun in
                let (d, late) = executor.run(thread: t, state: &state, recorder: rec, progress: progress[t], clock: clock(begun))
                digests.withLock { $0[t] = d }
                behind.withLock { $0[t] = late }
            } started: { phaseStart.store($0, ordering: .relaxed) }
        } }
        monitor.stop()
        monitorRunning = false
        sampler.stop()
        do {
            try engine.sync()
        } catch {
            errors.append("sync after the run failed: \(error)")
        }
        sampler.sample()
        let finalStats = try engine.stats()
        errors += sampler.errors

        let loadSeconds = Double(load.end - load.start) / 1e9
        let runSeconds = Double(run.end - run.start) / 1e9
        var operations = Self.summarize(load.recorders, phase: "load", seconds: loadSeconds)
        operations += Self.summarize(run.recorders, phase: "run", seconds: runSeconds)
        for rec in load.recorders + run.recorders {
            if let e = rec.firstError { errors.append("thread \(rec.thread): \(e)") }
        }
        if let trace, let path = w.recordTrace {
            do { try TraceFile.write(trace, seed: w.seed, to: path) } catch { errors.append("record_trace: \(error)") }
        }
        var samples = (load.recorders + run.recorders).flatMap(\.samples)
        samples.sort { $0.timestampNanos < $1.timestampNanos }

        var timeseries = timeseriesRows(collector, phase: (load.start, load.end), ops: load.recorders.isEmpty ? [] : [.load], origin: start)
        let runRows = timeseriesRows(collector, phase: (run.start, run.end), ops: runOps, origin: start,
                                     target: w.targetOpsPerSecond)
        timeseries += runRows
        timeseries.sort { ($0.elapsedSeconds, $0.operation.rawValue) < ($1.elapsedSeconds, $1.operation.rawValue) }

        var target: TargetOutcome?
        if w.targetOpsPerSecond > 0 && w.runPhase {
            let count = operations.filter { $0.phase == "run" }.reduce(0) { $0 + $1.count }
            // Over the schedule's window: with duration_s the schedule ends there, and the threads' last
            // publishes and joins after it are no part of the rate the backend kept.
            let window = w.durationSeconds > 0 ? min(runSeconds, w.durationSeconds) : runSeconds
            target = TargetOutcome(target: w.targetOpsPerSecond, achieved: window > 0 ? Double(count) / window : 0,
                                   behindNanos: behind.withLock { $0.max() ?? 0 }, threads: w.threads)
            // One schedule per interval (every operation type's row carries the same figures).
            var seen = Set<Double>()
            for row in runRows where seen.insert(row.elapsedSeconds).inserted {
                let f = row.schedule ?? ScheduleFigures(lateOps: 0, lagNanos: 0, backlogOps: 0)
                target!.backlogs.append(f.backlogOps)
                target!.maxLagNanos = max(target!.maxLagNanos, f.lagNanos)
                target!.lateOps += f.lateOps
            }
        }
        var result = BackendRun(
            backend: backend, durability: engine.durability, promise: E.durabilityPromise(for: engine.durability),
            dataDirectory: engine.dataDirectory, openSeconds: openSeconds, loadSeconds: loadSeconds,
            warmupSeconds: warmupSeconds, runSeconds: runSeconds, operations: operations,
            statsRows: sampler.rows, timeseries: timeseries, samples: samples,
            opStreamDigest: OpStream.combine(digests.withLock { $0 }, workload: w),
            opStreamReproducible: w.durationSeconds == 0, finalStats: finalStats, errors: errors, target: target)
        result.server = ((engine as AnyObject) as? any ServerBackedEngine)?.serverDescription
        result.costs = costs
        result.warmup = warmup
        return result
    }

    /// Rows of timeseries.csv for one phase: every interval the phase overlaps, for every operation type
    /// of the phase (zero-count rows included, so a stall shows), each rate over the part of the interval
    /// the phase really ran. Every row of an interval carries the interval's achieved rate over all
    /// operation types, the target, and (open loop) how the schedule was kept.
    func timeseriesRows(_ collector: IntervalCollector, phase: (start: UInt64, end: UInt64), ops: [OperationType],
                        origin: UInt64, target: Double = 0) -> [TimeseriesRow] {
        guard phase.end > phase.start, !ops.isEmpty else { return [] }
        let i = UInt64(workload.intervalSeconds * 1e9)
        let first = Int((phase.start - origin) / i), last = Int((phase.end - 1 - origin) / i)
        let byKey = collector.summaries()
        let intended = collector.intendedSummaries()
        let schedule = target > 0 ? collector.scheduleFigures() : [:]
        var out: [TimeseriesRow] = []
        for idx in first...last {
            let lo = max(origin + UInt64(idx) * i, phase.start), hi = min(origin + UInt64(idx + 1) * i, phase.end)
            let length = Double(hi - lo) / 1e9
            let all = ops.reduce(0) { $0 + (byKey[idx]?[$1]?.count ?? 0) }
            for op in ops {
                let figures = byKey[idx]?[op]
                let count = figures?.count ?? 0
                out.append(TimeseriesRow(elapsedSeconds: Double(hi - origin) / 1e9, operation: op, count: count,
                                         opsPerSecond: length > 0 ? Double(count) / length : 0, latency: figures,
                                         intendedLatency: intended[idx]?[op], lengthSeconds: length,
                                         achievedOpsPerSecond: length > 0 ? Double(all) / length : 0, targetOpsPerSecond: target,
                                         schedule: target > 0 ? schedule[idx] ?? ScheduleFigures(lateOps: 0, lagNanos: 0, backlogOps: 0) : nil))
            }
        }
        return out
    }

    struct PhaseResult {
        var recorders: [ThreadRecorder]
        var start: UInt64
        var end: UInt64
    }

    /// Runs one phase on the workload's threads. Each thread's recorder and state are built first, on
    /// this thread; then all threads start together at a gate, and the phase's clock starts when the
    /// gate opens (so set-up is never measured). `started` is told the start time.
    func runPhase<State>(ops: [OperationType], name: String, collector: IntervalCollector, openLoop: Bool = false,
                         prepare: (Int) -> State,
                         _ body: @escaping @Sendable (Int, ThreadRecorder, inout State, UInt64) -> Void,
                         started: @escaping @Sendable (UInt64) -> Void) -> PhaseResult {
        let w = workload
        let rate = w.metricsAll ? 1.0 : w.metricsSampleRate
        let recorders = (0..<w.threads).map { ThreadRecorder(thread: $0, ops: ops, sampleRate: rate, seed: w.seed, openLoop: openLoop) }
        collector.beginPhase(threads: w.threads)
        defer { collector.endPhase() }
        let states = (0..<w.threads).map { UncheckedBox(prepare($0)) }
        let gate = StartGate(parties: w.threads)
        let begun = Atomic<UInt64>(0)
        let end = runThreads(w.threads, name: name, gate: gate, onOpen: {
            let t = MeterClock.shared.nanoseconds()
            begun.store(t, ordering: .relaxed)
            started(t)
        }) { t in
            body(t, recorders[t], &states[t].value, begun.load(ordering: .relaxed))
        }
        return PhaseResult(recorders: recorders, start: begun.load(ordering: .relaxed), end: end)
    }

    /// Merges per-thread histograms and counters into one summary per operation type.
    static func summarize(_ recorders: [ThreadRecorder], phase: String, seconds: Double) -> [OperationSummary] {
        var out: [OperationSummary] = []
        for op in OperationType.allCases {
            let i = Int(op.rawValue)
            var merged: LatencyHistogram?
            var s = OperationSummary(phase: phase, operation: op, count: 0, errors: 0, notFound: 0, latencySumNanos: 0,
                                     logicalBytes: 0, phaseSeconds: seconds, histogram: makeLatencyHistogram())
            var intended: LatencyHistogram?
            for r in recorders {
                guard let h = r.histograms[i] else { continue }
                if merged == nil { merged = h } else { merged!.add(h) }
                if let ih = r.intendedHistograms[i] {
                    if intended == nil { intended = ih } else { intended!.add(ih) }
                }
                let c = r.counters(op)
                s.count += c.count
                s.errors += c.errors
                s.notFound += c.notFound
                s.latencySumNanos += c.latencySum
                s.logicalBytes += c.logicalBytes
                let n = r.netBytes(op)
                s.netBytesSent += n.sent
                s.netBytesReceived += n.received
            }
            // A phase in which every operation failed still has its row (count 0, its errors).
            guard let merged, s.count > 0 || s.errors > 0 else { continue }
            s.histogram = merged
            s.intendedHistogram = intended
            out.append(s)
        }
        return out
    }
}

/// `warmup: auto`'s judge: throughput per sample period over the last window, and whether it is steady.
final class SteadyState: Sendable {
    let settings: AutoWarmup
    private struct State {
        var lastDone = 0
        var lastNanos: UInt64 = 0
        var rates: [Double] = []
        var change: Double?
    }
    private let state = Lock(State())

    init(_ settings: AutoWarmup) { self.settings = settings }

    /// Takes one sample (`done` operations so far); true once the last window's throughput is steady.
    func sample(done: Int, at now: UInt64, begun: UInt64) -> Bool {
        state.withLock { s in
            if s.lastNanos == 0 { s.lastNanos = begun }
            let dt = Double(now &- s.lastNanos) / 1e9
            guard dt > 0 else { return false }
            s.rates.append(Double(done - s.lastDone) / dt)
            s.lastDone = done
            s.lastNanos = now
            if s.rates.count > AutoWarmup.samples { s.rates.removeFirst(s.rates.count - AutoWarmup.samples) }
            guard s.rates.count == AutoWarmup.samples, let c = AutoWarmup.relativeChange(s.rates) else { return false }
            s.change = c
            return c < settings.bound
        }
    }

    /// The last window's relative change and mean throughput.
    func last() -> (change: Double?, rate: Double?) {
        state.withLock { s in (s.change, s.rates.isEmpty ? nil : s.rates.reduce(0, +) / Double(s.rates.count)) }
    }
}

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
    /// Called after the load phase and the warm-up, right before the run phases (not called when the
    /// workload has no run phase): `orbit-bench agent` waits there for the coordinator's barrier. A
    /// throw ends the backend's run with that error.
    public var beforeRunPhases: (@Sendable () throws -> Void)? = nil
    /// Raised, ends the run phase early: each foreground thread stops before its next operation
    /// (`orbit-bench agent`, when its coordinator has gone away). nil: the phase runs to its end.
    public var abort: RunAbort? = nil

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
        let phases = w.runPhases
        let values = ValuePool(maxLength: max(phases.map(\.workload.valueSize.upperBound).max() ?? 0, w.valueSize.upperBound, 1), seed: w.seed)
        let trace = w.recordTrace.map { _ in
            TraceSink(threads: w.threads, expectedRecordsPerThread: (w.recordCount + max(w.operationCount, 0)) / w.threads + 1)
        }
        var built = Executor(engine: engine, workload: w, values: values, heap: heap)
        built.trace = trace
        let executor = built
        let status = StatusLine(enabled: showStatus, periodSeconds: w.statusIntervalSeconds,
                                ycsb: w.ycsbOutput ? w.measurementInterval : nil)
        let phaseLabel = Lock("\(backend) load")
        let groups = Self.phaseGroups(phases)
        let mostThreads = groups.map { $0.reduce(0) { $0 + phases[$1].workload.threads } }.max() ?? 0
        let progress = (0..<max(w.threads, mostThreads)).map { _ in ProgressCounter() }
        // The collectors the monitor reduces (the run phases each have their own) and the status line's target.
        let active = Lock((collectors: [collector], target: w.targetOpsPerSecond))
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
            let (collectors, target) = active.withLock { $0 }
            for c in collectors { c.reduceCompleteIntervals() }
            let shown = collectors.last!
            let now = MeterClock.shared.nanoseconds()
            let done = progress.reduce(0) { $0 + $1.value.load(ordering: .relaxed) }
            status.update(label: phaseLabel.withLock { $0 }, done: done, total: phaseTotal.load(ordering: .relaxed),
                          now: now, start: phaseStart.load(ordering: .relaxed), latest: shown.latest(),
                          byOperation: status.ycsb != nil ? shown.latestByOperation() : [],
                          schedule: shown.latestSchedule().map { (target, $0) })
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

        // Warm-up: a separate stream, so the measured stream is the same whatever the warm-up did. With
        // phases, the first phase's mix and threads (the warm-up is before the first phase only).
        let warmStart = MeterClock.shared.nanoseconds()
        let first = phases[0].workload
        let warmExecutor = w.isMultiPhase ? Executor(engine: engine, workload: first, values: values, heap: heap) : executor
        var warmup: WarmupOutcome?
        if w.runPhase && (w.warmupOps > 0 || w.warmupSeconds > 0 || w.autoWarmup != nil) {
            phaseLabel.withLock { $0 = "\(backend) warm-up" }
            for p in progress { p.value.store(0, ordering: .relaxed) }
            let auto = w.autoWarmup
            phaseTotal.store(auto == nil ? w.warmupOps * first.threads : 0, ordering: .relaxed)
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
            _ = runPhase(ops: [], name: "orbit-warmup", collector: collector, threads: first.threads,
                         prepare: { warmExecutor.makeState(thread: $0, warmUp: true) }) { t, _, state, begun in
                let r = warmExecutor.warmUp(thread: t, state: &state, progress: progress[t], ops: ops,
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

        // Run phases, in order: a background phase starts with the next phase and stops when that one
        // ends. Each phase has its own recorders, interval collector, op streams and results rows.
        if w.runPhase, let beforeRunPhases { try beforeRunPhases() }
        let afterLoad = MeterClock.shared.nanoseconds()
        var runs: [PhaseRun] = []
        if w.runPhase {
            var recordBase = UInt64(w.recordCount)
            for group in groups {
                let fg = phases[group.last!]
                let label = w.isMultiPhase ? fg.name + (group.count > 1 ? " + background" : "") : "run"
                phaseLabel.withLock { $0 = "\(backend) \(label)" }
                for p in progress { p.value.store(0, ordering: .relaxed) }
                phaseTotal.store(fg.workload.operationCount, ordering: .relaxed)
                let members = group.map { i in
                    GroupMember(index: i, phase: phases[i],
                                executor: w.isMultiPhase ? Executor(engine: engine, workload: phases[i].workload, values: values, heap: heap) : executor)
                }
                let before = ResourceUsage.now(device: device)
                let (groupRuns, next) = runGroup(members, recordBase: recordBase, runStart: start, intervalNanos: intervalNanos,
                                                 progress: progress, active: active) { phaseStart.store($0, ordering: .relaxed) }
                recordBase = next
                // A group's cost is the foreground phase's (its background phases' operations included).
                let ops = groupRuns.reduce(0) { n, r in n + r.result.recorders.reduce(0) { n, rec in OperationType.allCases.reduce(n) { $0 + Int(rec.counters($1).count) } } }
                if ops > 0 { costs.append(PhaseCost(phase: fg.name, operations: ops, usage: ResourceUsage.now(device: device).since(before))) }
                runs += groupRuns
            }
        }
        active.withLock { $0.collectors = [collector] }
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
        let runStart = runs.map(\.result.start).min() ?? afterLoad
        let runEnd = runs.map(\.result.end).max() ?? afterLoad
        let runSeconds = Double(runEnd - runStart) / 1e9
        var operations = Self.summarize(load.recorders, phase: "load", seconds: loadSeconds)
        for r in runs {
            operations += Self.summarize(r.result.recorders, phase: r.phase.name, seconds: Double(r.result.end - r.result.start) / 1e9)
        }
        for rec in load.recorders + runs.flatMap(\.result.recorders) {
            if let e = rec.firstError { errors.append("thread \(rec.thread): \(e)") }
        }
        if let trace, let path = w.recordTrace {
            do { try TraceFile.write(trace, seed: w.seed, to: path) } catch { errors.append("record_trace: \(error)") }
        }
        var samples = load.recorders.flatMap(\.samples).map { s in var s = s; s.phase = "load"; return s }
        for r in runs {
            samples += r.result.recorders.flatMap(\.samples).map { s in var s = s; s.phase = r.phase.name; return s }
        }
        samples.sort { $0.timestampNanos < $1.timestampNanos }

        var timeseries = timeseriesRows(collector, phase: (load.start, load.end), ops: load.recorders.isEmpty ? [] : [.load], origin: start)
        for i in timeseries.indices { timeseries[i].phase = "load" }
        var phaseOrder = ["load": 0]
        var outcomes: [PhaseOutcome] = []
        for (k, r) in runs.enumerated() {
            let pw = r.phase.workload
            phaseOrder[r.phase.name] = k + 1
            var rows = timeseriesRows(r.collector, phase: (r.result.start, r.result.end), ops: r.ops, origin: start,
                                      target: pw.targetOpsPerSecond)
            for i in rows.indices { rows[i].phase = r.phase.name }
            timeseries += rows
            let seconds = Double(r.result.end - r.result.start) / 1e9
            let count = operations.filter { $0.phase == r.phase.name }.reduce(0) { $0 + Int($1.count) }
            var outcome = PhaseOutcome(name: r.phase.name, background: r.phase.background, threads: pw.threads,
                                       startSeconds: Double(r.result.start - start) / 1e9, endSeconds: Double(r.result.end - start) / 1e9,
                                       operations: count)
            if pw.targetOpsPerSecond > 0 {
                // Over the schedule's window: with duration_s the schedule ends there, and the threads' last
                // publishes and joins after it are no part of the rate the backend kept.
                let window = pw.durationSeconds > 0 ? min(seconds, pw.durationSeconds) : seconds
                var target = TargetOutcome(target: pw.targetOpsPerSecond, achieved: window > 0 ? Double(count) / window : 0,
                                           behindNanos: r.behind.max() ?? 0, threads: pw.threads)
                // One schedule per interval (every operation type's row carries the same figures).
                var seen = Set<Double>()
                for row in rows where seen.insert(row.elapsedSeconds).inserted {
                    let f = row.schedule ?? ScheduleFigures(lateOps: 0, lagNanos: 0, backlogOps: 0)
                    target.backlogs.append(f.backlogOps)
                    target.maxLagNanos = max(target.maxLagNanos, f.lagNanos)
                    target.lateOps += f.lateOps
                }
                outcome.target = target
            }
            outcomes.append(outcome)
        }
        timeseries.sort {
            ($0.elapsedSeconds, $0.operation.rawValue, phaseOrder[$0.phase] ?? 0) < ($1.elapsedSeconds, $1.operation.rawValue, phaseOrder[$1.phase] ?? 0)
        }
        // Without phases, the run's target outcome is the one phase's (as before phases).
        let target = w.isMultiPhase ? nil : outcomes.first?.target
        var result = BackendRun(
            backend: backend, durability: engine.durability, promise: E.durabilityPromise(for: engine.durability),
            dataDirectory: engine.dataDirectory, openSeconds: openSeconds, loadSeconds: loadSeconds,
            warmupSeconds: warmupSeconds, runSeconds: runSeconds, operations: operations,
            statsRows: sampler.rows, timeseries: timeseries, samples: samples,
            // A background phase's stream is cut where the phase beside it ends: the digest is the
            // foreground phases' (reproducible unless a duration cuts one, or a background phase inserts
            // and so moves the record numbers of the inserts after it).
            opStreamDigest: OpStream.combine(runs.filter { !$0.phase.background }.flatMap(\.digests), workload: w),
            opStreamReproducible: phases.allSatisfy { p in
                p.background ? !p.workload.mix.contains { $0.op == .insert } : p.workload.durationSeconds == 0
            },
            finalStats: finalStats, errors: errors, target: target)
        result.server = ((engine as AnyObject) as? any ServerBackedEngine)?.serverDescription
        result.costs = costs
        result.warmup = warmup
        result.phases = outcomes
        return result
    }

    /// The run phases in the groups that run together: background phases with the next phase after them.
    static func phaseGroups(_ phases: [Workload.Phase]) -> [[Int]] {
        var groups: [[Int]] = []
        var pending: [Int] = []
        for (i, p) in phases.enumerated() {
            pending.append(i)
            if !p.background { groups.append(pending); pending = [] }
        }
        if !pending.isEmpty { groups.append(pending) }
        return groups
    }

    struct GroupMember<E: StorageEngine>: Sendable {
        let index: Int
        let phase: Workload.Phase
        let executor: Executor<E>
    }

    /// One run phase's threads' results.
    struct PhaseRun {
        var phase: Workload.Phase
        var ops: [OperationType]
        var collector: IntervalCollector
        var result: PhaseResult
        var digests: [UInt64]
        var behind: [UInt64]
    }

    /// Runs a group of phases together: all their threads start at one gate; the last member is the
    /// foreground phase, and when its last thread ends the others (background) are told to stop.
    /// Inserts of the group's threads are numbered from `recordBase` apart (slot = the thread's place
    /// among all the group's threads); returns the phases' results and the next group's record base.
    func runGroup<E: StorageEngine>(_ members: [GroupMember<E>], recordBase: UInt64, runStart: UInt64, intervalNanos: UInt64,
                                    progress: [ProgressCounter], active: Lock<(collectors: [IntervalCollector], target: Double)>,
                                    started: @escaping @Sendable (UInt64) -> Void) -> (runs: [PhaseRun], nextBase: UInt64) {
        let w = workload
        let rate = w.metricsAll ? 1.0 : w.metricsSampleRate
        let opsOf = members.map { m in Array(Set(m.phase.workload.mix.map(\.op))).sorted { $0.rawValue < $1.rawValue } }
        var owner: [(member: Int, thread: Int)] = []
        for (mi, m) in members.enumerated() { for t in 0..<m.phase.workload.threads { owner.append((mi, t)) } }
        let total = owner.count
        let collectors = members.map { _ in IntervalCollector() }
        let recorders = members.enumerated().map { mi, m in
            (0..<m.phase.workload.threads).map {
                ThreadRecorder(thread: $0, ops: opsOf[mi], sampleRate: rate, seed: w.seed, openLoop: m.phase.workload.targetOpsPerSecond > 0)
            }
        }
        for (mi, m) in members.enumerated() { collectors[mi].beginPhase(threads: m.phase.workload.threads) }
        active.withLock { $0 = (collectors, members.last!.phase.workload.targetOpsPerSecond) }
        // Phase i's thread t draws random stream t (phase 0, as a one-phase run) or i·2048 + t.
        let states = owner.enumerated().map { g, o in
            let m = members[o.member]
            return UncheckedBox(m.executor.makeState(thread: o.thread, stream: m.index * 2048 + o.thread, recordBase: recordBase,
                                                     slot: g, slots: total))
        }
        let fg = members.count - 1
        let stop = StopFlag()
        let foregroundLeft = Atomic<Int>(members[fg].phase.workload.threads)
        let ends = Lock([UInt64](repeating: 0, count: members.count))
        let digests = Lock(members.map { [UInt64](repeating: 0, count: $0.phase.workload.threads) })
        let behind = Lock(members.map { [UInt64](repeating: 0, count: $0.phase.workload.threads) })
        let gate = StartGate(parties: total)
        let begun = Atomic<UInt64>(0)
        let owners = owner
        // The status line counts the foreground phase's operations (against its operation_count).
        let backgroundProgress = owner.map { _ in ProgressCounter() }
        let joined = runThreads(total, name: "orbit-run", gate: gate, onOpen: {
            let t = MeterClock.shared.nanoseconds()
            begun.store(t, ordering: .relaxed)
            started(t)
        }) { g in
            let (mi, t) = owners[g]
            let clock = PhaseClock(runStart: runStart, intervalNanos: intervalNanos, phaseStart: begun.load(ordering: .relaxed),
                                   collector: collectors[mi])
            let (d, late) = members[mi].executor.run(thread: t, state: &states[g].value, recorder: recorders[mi][t],
                                                     progress: mi == fg ? progress[t] : backgroundProgress[g],
                                                     clock: clock, stop: mi == fg ? abort?.flag : stop)
            var end = MeterClock.shared.nanoseconds()
            if mi == fg, foregroundLeft.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                // The foreground phase ends here: the background threads stop before their next operation
                // (what each has in flight when this is raised completes after the end).
                stop.raise()
                end = MeterClock.shared.nanoseconds()
            }
            digests.withLock { $0[mi][t] = d }
            behind.withLock { $0[mi][t] = late }
            ends.withLock { $0[mi] = max($0[mi], end) }
        }
        for c in collectors { c.endPhase() }
        let phaseStart = begun.load(ordering: .relaxed)
        let endTimes = ends.withLock { $0 }
        var runs: [PhaseRun] = []
        for (mi, m) in members.enumerated() {
            // One phase alone ends when its threads are joined (as the run phase before phases).
            let end = members.count == 1 ? joined : max(endTimes[mi], phaseStart)
            runs.append(PhaseRun(phase: m.phase, ops: opsOf[mi], collector: collectors[mi],
                                 result: PhaseResult(recorders: recorders[mi], start: phaseStart, end: end),
                                 digests: digests.withLock { $0[mi] }, behind: behind.withLock { $0[mi] }))
        }
        let inserted = states.map(\.value.stream.inserted).max() ?? 0
        return (runs, recordBase + UInt64(total) * inserted)
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
                         threads: Int? = nil, prepare: (Int) -> State,
                         _ body: @escaping @Sendable (Int, ThreadRecorder, inout State, UInt64) -> Void,
                         started: @escaping @Sendable (UInt64) -> Void) -> PhaseResult {
        let w = workload
        let threads = threads ?? w.threads
        let rate = w.metricsAll ? 1.0 : w.metricsSampleRate
        let recorders = (0..<threads).map { ThreadRecorder(thread: $0, ops: ops, sampleRate: rate, seed: w.seed, openLoop: openLoop) }
        collector.beginPhase(threads: threads)
        defer { collector.endPhase() }
        let states = (0..<threads).map { UncheckedBox(prepare($0)) }
        let gate = StartGate(parties: threads)
        let begun = Atomic<UInt64>(0)
        let end = runThreads(threads, name: name, gate: gate, onOpen: {
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

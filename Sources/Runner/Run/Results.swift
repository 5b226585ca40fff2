public import OrbitCore
public import Workloads

/// Totals of one operation type in one phase of one backend: a summary.csv row.
public struct OperationSummary: Sendable {
    public var phase: String
    public var operation: OperationType
    public var count: UInt64
    public var errors: UInt64
    /// Reads that found no value (not an error).
    public var notFound: UInt64
    public var latencySumNanos: UInt64
    /// Key + value bytes the operations carried (db_bench's MB/s basis).
    public var logicalBytes: UInt64
    /// Bytes the operations sent and received on the wire (server backends; 0 otherwise).
    public var netBytesSent: UInt64 = 0
    public var netBytesReceived: UInt64 = 0
    /// Wall time of the phase (all threads).
    public var phaseSeconds: Double
    public var histogram: LatencyHistogram
    /// Open loop: intended latencies (completion - scheduled start). nil in closed-loop runs, where the
    /// intended latency is the service time (`intended` returns `histogram` then).
    public var intendedHistogram: LatencyHistogram? = nil
    /// The intended-latency histogram: the service-time one in closed-loop runs.
    public var intended: LatencyHistogram { intendedHistogram ?? histogram }

    /// Mean service time per operation, µs.
    public var microsPerOp: Double { count == 0 ? 0 : Double(latencySumNanos) / Double(count) / 1000 }
    /// Operations of this type per second of phase wall time.
    public var opsPerSecond: Double { phaseSeconds <= 0 ? 0 : Double(count) / phaseSeconds }
    /// MiB/s of key+value bytes (db_bench's convention: 1 MB = 1048576 bytes).
    public var mbPerSecond: Double { phaseSeconds <= 0 ? 0 : Double(logicalBytes) / 1_048_576 / phaseSeconds }
    /// Latency at `percentile` (0-100) in µs.
    public func percentileMicros(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1000 }
    public var maxMicros: Double { Double(histogram.max) / 1000 }
}

/// StorageStats at one instant: a stats.csv row.
public struct StatsRow: Sendable {
    public var elapsedSeconds: Double
    public var stats: StorageStats
    /// Process heap (jemalloc stats.allocated).
    public var processHeapBytes: UInt64
}

/// One interval of one operation type: a timeseries.csv row.
public struct TimeseriesRow: Sendable {
    public var elapsedSeconds: Double
    public var operation: OperationType
    public var count: UInt64
    public var opsPerSecond: Double
    /// nil for an interval in which no operation of this type completed.
    public var latency: IntervalSummary?
    /// Open loop: the interval's intended latencies (nil in closed-loop runs).
    public var intendedLatency: IntervalSummary? = nil
    /// The part of the interval the phase ran, s.
    public var lengthSeconds: Double = 0
    /// Operations of every type completed in the interval, per second of it.
    public var achievedOpsPerSecond: Double = 0
    /// The phase's target_ops_s (0: closed loop).
    public var targetOpsPerSecond: Double = 0
    /// Open loop: how the schedule was kept in the interval (nil in closed-loop phases).
    public var schedule: ScheduleFigures? = nil
    /// The phase the row is of: "load", "run" (a workload without phases) or the run phase's name.
    public var phase: String = ""
}

/// One run phase of a backend's run (summary.json `phases`): when it ran, and how an open-loop phase
/// kept its schedule.
public struct PhaseOutcome: Sendable {
    public var name: String
    public var background: Bool
    public var threads: Int
    /// Start and end, s after the backend's run started (the origin of elapsed_s).
    public var startSeconds: Double
    public var endSeconds: Double
    /// Operations the phase completed (every type).
    public var operations: Int
    /// Open loop: the phase's target and how far it was met (nil: closed loop).
    public var target: TargetOutcome? = nil
}

/// How an open-loop run kept its schedule.
public struct TargetOutcome: Sendable {
    /// target_ops_s.
    public var target: Double
    /// Run-phase operations / run-phase wall time.
    public var achieved: Double
    /// How late the slowest thread's last operation started against its schedule, ns.
    public var behindNanos: UInt64
    /// Reached: at least 98% of the target over the run, and no thread ended more than 100 ms behind.
    public var reached: Bool { achieved >= 0.98 * target && behindNanos <= 100_000_000 }
    /// The backlog (operations due and not started) at the end of each complete interval of the run.
    public var backlogs: [UInt64] = []
    /// The largest schedule lag of any interval, ns.
    public var maxLagNanos: UInt64 = 0
    /// Operations that started more than 1 ms late, over the run.
    public var lateOps: UInt64 = 0
    /// Client threads of the run.
    public var threads = 1
    /// The backlog grew through the run: the system does not sustain the target.
    public var saturated: Bool { Self.saturated(backlogs: backlogs, target: target, threads: threads) }

    public init(target: Double, achieved: Double, behindNanos: UInt64, threads: Int = 1) {
        self.target = target
        self.achieved = achieved
        self.behindNanos = behindNanos
        self.threads = threads
    }

    /// Saturated: over the run's intervals but the last (cut by the end of the run; 3 or more) the
    /// backlog ends at 100 ms worth of operations at the target rate or more (and more than one per
    /// thread), above where it started, and the second half of the run holds more of it than the
    /// first. Fewer intervals are too few to tell (not saturated; `reached` still says how it went).
    public static func saturated(backlogs: [UInt64], target: Double, threads: Int) -> Bool {
        guard backlogs.count >= 4 else { return false }
        let b = backlogs.dropLast()
        let half = b.count / 2
        let first = b.prefix(half).reduce(0, +), second = b.suffix(half).reduce(0, +)
        let floor = max(UInt64(threads) + 1, UInt64(target * 0.1))
        return b.last! >= floor && b.last! > b.first! && second > first
    }
}

/// How and why the warm-up ended (summary.json `warmup`).
public struct WarmupOutcome: Sendable {
    /// `fixed` (warmup_ops / warmup_s) or `auto`.
    public var mode: String
    /// When it ended, s after it started.
    public var seconds: Double
    /// `steady` (auto: throughput steady over the window), `max` (auto: warmup_max_s reached), or
    /// which of warmup_ops / warmup_s ended a fixed warm-up.
    public var reason: String
    /// auto: the last window's fitted change of throughput as a fraction of its mean.
    public var relativeChange: Double?
    /// auto: the last window's mean throughput, ops/s.
    public var opsPerSecond: Double?
    public var settings: AutoWarmup?
}

/// Everything measured on one backend.
public struct BackendRun: Sendable {
    public var backend: String
    public var durability: DurabilityMode
    public var promise: DurabilityPromise
    public var dataDirectory: String?
    public var openSeconds: Double
    public var loadSeconds: Double
    public var warmupSeconds: Double
    public var runSeconds: Double
    public var operations: [OperationSummary]
    public var statsRows: [StatsRow]
    public var timeseries: [TimeseriesRow]
    public var samples: [MetricSample]
    public var opStreamDigest: UInt64
    /// False when the run phase was cut by duration_s: how many operations were drawn then depends on speed.
    public var opStreamReproducible: Bool
    public var finalStats: StorageStats
    public var errors: [String]
    /// The server a server backend talked to (version, effective settings); nil for other engines.
    public var server: ServerDescription? = nil
    /// Open-loop runs: the target and how far it was met (nil in closed-loop runs).
    public var target: TargetOutcome? = nil
    /// The warm-up: when and why it ended (nil: none).
    public var warmup: WarmupOutcome? = nil
    /// The run phases in the order they started ("run" alone for a workload without phases).
    public var phases: [PhaseOutcome] = []
    /// CPU time (user + system, all threads of the process) from opening the engine to closing it, s;
    /// with `wallSeconds` the CPU usage of the backend's run (background flushes and compactions
    /// included). 0 when the caller opened the engine itself.
    public var cpuSeconds: Double = 0
    /// Wall time from opening the engine to closing it, s (0 when the caller opened the engine).
    public var wallSeconds: Double = 0
    /// Per phase (load, run): the process's CPU time, context switches and I/O, and the operations
    /// they were spent on (summary.csv's cost-per-operation columns).
    public var costs: [PhaseCost] = []
    /// The memory cgroup the backend ran in (`memory_limit_mb`) and what it used; nil: no limit.
    public var memory: MemoryCgroup.Usage? = nil
    /// `run --agents`: each agent's address, share and figures (empty: this process ran the load).
    public var agents: [AgentOutcome] = []
    /// Highest process heap (jemalloc stats.allocated) seen in stats.csv, bytes.
    public var peakHeapBytes: UInt64 { statsRows.map(\.processHeapBytes).max() ?? 0 }
    /// How far the process heap grew during the backend's run: the highest stats.csv sample minus the
    /// first (taken before the load phase), bytes; what the harness already held is not counted.
    public var heapGrowthBytes: UInt64 {
        guard let first = statsRows.first?.processHeapBytes else { return 0 }
        let peak = peakHeapBytes
        return peak > first ? peak - first : 0
    }
}

/// One measured repeat of a whole run (`repeat` > 1): every backend, in the order they ran.
public struct RunRepeat: Sendable {
    /// 1-based.
    public var index: Int
    public var backends: [BackendRun]

    public init(index: Int, backends: [BackendRun]) {
        self.index = index
        self.backends = backends
    }
}

/// A whole run: every backend, the effective configuration, the environment.
public struct RunResult: Sendable {
    public var runId: String
    public var workload: Workload
    public var settings: Settings
    public var environment: EnvironmentInfo
    public var startedAtMillis: Int64
    public var backends: [BackendRun]
    public var outputDirectory: String
    /// With `repeat` > 1: every measured repeat (warm-up repeats are not kept). `backends` then holds,
    /// per backend, its representative repeat (the one with the median run-phase mean latency).
    public var repeats: [RunRepeat] = []
    /// With repeats: per backend (as `backends`), the 1-based index of the repeat `backends` holds.
    public var representatives: [Int] = []
    /// Warm-up repeats done before the measured ones.
    public var warmupRepeats = 0

    public init(runId: String, workload: Workload, settings: Settings, environment: EnvironmentInfo,
                startedAtMillis: Int64, backends: [BackendRun], outputDirectory: String) {
        self.runId = runId
        self.workload = workload
        self.settings = settings
        self.environment = environment
        self.startedAtMillis = startedAtMillis
        self.backends = backends
        self.outputDirectory = outputDirectory
    }
}

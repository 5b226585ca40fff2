public import OrbitCore

/// A resolved, validated workload: what the runner executes.
public struct Workload: Sendable {
    public enum KeyDistribution: Sendable, Hashable {
        case uniform
        case zipfian(constant: Double)
        /// YCSB's ScrambledZipfianGenerator: zipfian ranks over 10^10 items, FNV-hashed onto `keySpace`
        /// records (the loaded ones plus the inserts the run is expected to make, as CoreWorkload sizes it).
        case scrambledZipfian(constant: Double, keySpace: UInt64)
        case latest(constant: Double)
        case sequential
        case hotspot(dataFraction: Double, opFraction: Double)
        /// YCSB's ExponentialGenerator: `percentile` % of operations on the newest `fraction` of the records.
        case exponential(percentile: Double, fraction: Double)

        public var name: String {
            switch self {
            case .uniform: "uniform"
            case .zipfian: "zipfian"
            case .scrambledZipfian: "scrambled_zipfian"
            case .latest: "latest"
            case .sequential: "sequential"
            case .hotspot: "hotspot"
            case .exponential: "exponential"
            }
        }
    }

    /// How a record number becomes key bytes.
    public enum KeyStyle: Sendable, Hashable {
        /// The record number in zero-padded decimal, `key_size` bytes: memcmp order is numeric order.
        case decimal(size: Int)
        /// YCSB's `buildKeyName`: "user" + the number (FNV-1a hashed unless ordered), zero-padded to `zeroPadding` digits.
        case ycsb(hashed: Bool, zeroPadding: Int)
    }

    public var name: String
    public var description: String
    public var path: String?
    public var recordCount: Int
    public var operationCount: Int
    public var durationSeconds: Double
    public var warmupOps: Int
    public var warmupSeconds: Double
    /// `warmup: auto`: warm up until throughput is steady (nil: fixed, by warmup_ops / warmup_s).
    public var autoWarmup: AutoWarmup?
    public var threads: Int
    public var seed: UInt64
    public var keySize: Int
    public var valueSize: ClosedRange<Int>
    public var keyDistribution: KeyDistribution
    public var scanLength: ClosedRange<Int>
    public var loadSequential: Bool
    /// Whether the load phase runs (false: the store already holds the records).
    public var load: Bool
    public var leaseActorTypes: Int
    public var leaseNodes: Int
    public var leaseDurationMillis: Int
    public var metricsSampleRate: Double
    public var metricsAll: Bool
    public var intervalSeconds: Double
    public var keyStyle: KeyStyle
    /// The load phase inserts records insertStart ..< insertStart + insertCount.
    public var insertStart: Int
    public var insertCount: Int
    /// Whether the run phase runs (false: `orbit-bench load`).
    public var runPhase: Bool
    /// Open loop: operations per second over all threads (0: closed loop).
    public var targetOpsPerSecond: Double
    /// YCSB's measurement.interval: which latency the YCSB-style lines show.
    public var measurementInterval: String
    public var statusIntervalSeconds: Double
    public var ycsbOutput: Bool
    public var table: String
    public var dataIntegrity: Bool
    /// False: no clock read and no histogram record per operation (overhead measurement only).
    public var metering: Bool
    /// Measured repeats of the whole run (1: a single run).
    public var repeats: Int
    /// Whole-run repeats done first and not counted.
    public var warmupRepeats: Int
    /// Draw the run's plots after writing the results.
    public var plots: Bool
    /// `record_trace`: the trace file to write (nil: none).
    public var recordTrace: String?
    /// Each backend's run inside a memory cgroup of this many MiB (0: no limit).
    public var memoryLimitMB: Int
    /// Operations and their proportions (only those > 0), in a fixed order.
    public var mix: [(op: OperationType, proportion: Double)]

    /// `phases:` — the run phases in order (empty: the run is one phase, `runPhases`' "run").
    public var phases: [Phase] = []
    /// A phase that runs until the next one ends (a background phase without operation_count or duration_s).
    public var unbounded = false

    public var usesLeases: Bool { mix.contains { $0.op.name.hasPrefix("lease_") } }

    /// One run phase: its name, whether it runs beside the next phase (and stops when that one ends),
    /// and the workload it runs (the workload's fields with the phase's own over them).
    public struct Phase: Sendable {
        public var name: String
        public var background: Bool
        public var workload: Workload
    }

    /// Whether the workload has `phases:` (results then name each run phase; without, the one phase is "run").
    public var isMultiPhase: Bool { !phases.isEmpty }

    /// The run phases in order: `phases`, or the workload itself as the one phase "run".
    public var runPhases: [Phase] {
        phases.isEmpty ? [Phase(name: "run", background: false, workload: self)] : phases
    }

    /// Reads and cross-checks the workload fields of `settings`. Errors name the source of the
    /// offending setting (file:line:col, flag or variable).
    public init(settings s: Settings, path: String? = nil) throws {
        try self.init(settings: s, path: path, unbounded: false)
        guard !s.phases.isEmpty else { return }
        let at = s.phases[0].source.location ?? path
        if recordTrace != nil {
            throw OrbitError(.invalidWorkload, "record_trace records a one-phase run; this workload has phases", at: at,
                             hint: "drop record_trace (--record-trace), or 'phases'")
        }
        if usesLeases {
            throw OrbitError(.invalidWorkload, "lease workloads run one phase; this workload has phases", at: at,
                             hint: "drop 'phases' for a lease workload")
        }
        for overlay in s.phases {
            let unbounded = overlay.background && overlay.values.contains { $0.knob == "operation_count" && $0.source == overlay.backgroundSource }
            let phase = try Workload(settings: overlay.applied(to: s), path: path, unbounded: unbounded)
            if phase.usesLeases {
                throw OrbitError(.invalidWorkload, "phase '\(overlay.name)' has lease operations; lease workloads run one phase",
                                 at: overlay.source.location ?? path, hint: "use read/update/insert/delete/scan/read_modify_write in phases")
            }
            if dataIntegrity, phase.valueSize != valueSize {
                throw OrbitError(.invalidWorkload, "phase '\(overlay.name)' changes value_size under data_integrity",
                                 at: overlay.values.first { $0.knob.hasPrefix("value_size") }?.source.location ?? overlay.source.location ?? path,
                                 hint: "data_integrity checks every read against the one value size; leave value_size out of the phases")
            }
            phases.append(Phase(name: overlay.name, background: overlay.background, workload: phase))
        }
    }

    init(settings s: Settings, path: String?, unbounded: Bool) throws {
        self.unbounded = unbounded
        name = s.string("name")
        description = s.string("description")
        self.path = path
        recordCount = s.int("record_count")
        operationCount = s.int("operation_count")
        durationSeconds = s.double("duration_s")
        // A duration alone means "run for that long": the default operation count must not cut it short.
        if durationSeconds > 0, s.source("operation_count") == .builtinDefault { operationCount = 0 }
        warmupOps = s.int("warmup_ops")
        warmupSeconds = s.double("warmup_s")
        autoWarmup = s.string("warmup") == "auto"
            ? AutoWarmup(windowSeconds: s.double("warmup_window_s"), bound: s.double("warmup_bound"), maxSeconds: s.double("warmup_max_s"))
            : nil
        threads = s.int("threads")
        seed = UInt64(s.int("seed"))
        keySize = s.int("key_size")
        loadSequential = s.string("load_order") == "sequential"
        load = s.bool("load")
        leaseActorTypes = s.int("lease.actor_types")
        leaseNodes = s.int("lease.nodes")
        leaseDurationMillis = s.int("lease.duration_ms")
        metricsSampleRate = s.double("metrics_sample_rate")
        metricsAll = s.bool("metrics_all")
        intervalSeconds = s.double("interval_s")

        func rangeOf(_ field: String) throws -> ClosedRange<Int> {
            let lo = s.int(field + ".min"), hi = s.int(field + ".max")
            guard lo <= hi else {
                throw OrbitError(.invalidWorkload, "\(field): min \(lo) is greater than max \(hi)",
                                 at: s.source(field + ".max").location ?? s.source(field + ".min").location,
                                 hint: "give min <= max, or one number for a fixed size")
            }
            return lo...hi
        }
        valueSize = try rangeOf("value_size")
        scanLength = try rangeOf("scan_length")

        keyStyle = s.string("key_format") == "ycsb"
            ? .ycsb(hashed: s.string("insert_order") == "hashed", zeroPadding: s.int("zero_padding"))
            : .decimal(size: keySize)
        insertStart = s.int("insert_start")
        insertCount = s.int("insert_count") == 0 ? max(0, recordCount - insertStart) : s.int("insert_count")
        runPhase = s.bool("run")
        targetOpsPerSecond = s.double("target_ops_s")
        measurementInterval = s.string("measurement_interval")
        statusIntervalSeconds = s.double("status_interval_s")
        ycsbOutput = s.bool("ycsb_output")
        table = s.string("table")
        dataIntegrity = s.bool("data_integrity")
        metering = s.bool("metering")
        repeats = s.int("repeat")
        warmupRepeats = s.int("warmup_repeats")
        plots = s.bool("plots")
        memoryLimitMB = s.int("memory_limit_mb")
        recordTrace = s.string("record_trace").isEmpty ? nil : s.string("record_trace")
        if recordTrace != nil, !metering {
            throw OrbitError(.invalidWorkload, "record_trace needs metering (it records each operation's start time)",
                             at: s.source("metering").location ?? "metering from \(s.source("metering"))", hint: "drop metering: false")
        }
        if insertStart + insertCount > recordCount {
            throw OrbitError(.invalidWorkload,
                             "insert_start \(insertStart) + insert_count \(insertCount) is more than record_count \(recordCount)",
                             at: s.source("insert_count").location ?? s.source("insert_start").location ?? path,
                             hint: "the load phase inserts records insert_start ..< insert_start + insert_count of the record_count")
        }
        if dataIntegrity, valueSize.lowerBound != valueSize.upperBound {
            throw OrbitError(.invalidWorkload, "data_integrity needs a constant value size, got \(valueSize.lowerBound)...\(valueSize.upperBound)",
                             at: s.source("data_integrity").location ?? path,
                             hint: "set value_size to one number (YCSB: fieldlengthdistribution=constant)")
        }

        switch s.string("key_distribution.type") {
        case "zipfian": keyDistribution = .zipfian(constant: s.double("key_distribution.constant"))
        case "scrambled_zipfian": keyDistribution = .scrambledZipfian(constant: s.double("key_distribution.constant"), keySpace: 0)
        case "exponential":
            keyDistribution = .exponential(percentile: s.double("key_distribution.percentile"),
                                           fraction: s.double("key_distribution.fraction"))
        case "latest": keyDistribution = .latest(constant: s.double("key_distribution.constant"))
        case "sequential": keyDistribution = .sequential
        case "hotspot":
            keyDistribution = .hotspot(dataFraction: s.double("key_distribution.data_fraction"),
                                       opFraction: s.double("key_distribution.op_fraction"))
        default: keyDistribution = .uniform
        }

        var mix: [(OperationType, Double)] = []
        var total = 0.0
        var parts: [String] = []
        for (key, op) in WorkloadKnobs.mixEntries {
            let p = s.double("mix." + key)
            if p > 0 {
                mix.append((op, p))
                total += p
                parts.append("\(key)=\(formatDouble(p)) (\(s.source("mix." + key)))")
            }
        }
        let mixLocation = WorkloadKnobs.mixEntries.lazy.compactMap { s.source("mix." + $0.key).location }.first
        guard !mix.isEmpty else {
            throw OrbitError(.invalidWorkload, "the operation mix is empty", at: path,
                             hint: "set mix proportions that add up to 1, e.g. mix: {read: 0.5, update: 0.5}; allowed: "
                                + WorkloadKnobs.mixEntries.map(\.key).joined(separator: ", "))
        }
        guard abs(total - 1.0) <= 1e-6 else {
            throw OrbitError(.invalidWorkload, "mix proportions add up to \(formatDouble(total, decimals: 6)), not 1",
                             at: mixLocation, hint: "they must add up to 1.0; got " + parts.joined(separator: ", "))
        }
        self.mix = mix.map { (op: $0.0, proportion: $0.1) }
        if case .scrambledZipfian(let c, _) = keyDistribution {
            // CoreWorkload: insertcount + operationcount * insertproportion * 2 (2: YCSB's fudge factor), so
            // the key space, and with it which keys are hot, does not change as the run inserts.
            let insertShare = mix.first { $0.0 == .insert }?.1 ?? 0
            let expectedNew = UInt64(Double(operationCount) * insertShare * 2)
            keyDistribution = .scrambledZipfian(constant: c, keySpace: UInt64(max(insertCount, 1)) + expectedNew)
        }

        guard !runPhase || operationCount > 0 || durationSeconds > 0 || unbounded else {
            throw OrbitError(.invalidWorkload, "the run phase has neither operation_count nor duration_s",
                             at: s.source("operation_count").location ?? path,
                             hint: "set operation_count > 0 or duration_s > 0")
        }
        // The key is the zero-padded decimal record number: it must fit in key_size digits.
        let inserts = mix.contains { $0.0 == .insert || $0.0 == .leaseStore } ? max(operationCount, 1) : 0
        let maxKey = UInt64(recordCount) + UInt64(inserts) + UInt64(threads) + 1
        let digits = String(maxKey).count
        guard keySize >= digits || keyStyle != .decimal(size: keySize) else {
            throw OrbitError(.invalidWorkload, "key_size \(keySize) is too small for \(maxKey) keys",
                             at: s.source("key_size").location ?? path,
                             hint: "keys are zero-padded decimal record numbers: use key_size >= \(digits)")
        }
        if usesLeases, mix.contains(where: { !$0.0.name.hasPrefix("lease_") }) {
            throw OrbitError(.invalidWorkload, "lease operations and key-value operations cannot be mixed in one workload",
                             at: mixLocation, hint: "use either lease_* proportions or read/update/insert/delete/scan/read_modify_write")
        }
        if recordTrace != nil, usesLeases {
            throw OrbitError(.invalidWorkload, "record_trace records key-value operations; lease workloads are not traced",
                             at: mixLocation, hint: "drop record_trace (--record-trace) for this workload")
        }
    }
}

/// `warmup: auto` (fio's `ss=iops_slope`): throughput is sampled every tenth of the window; the warm-up
/// ends once the least-squares slope over the last window's samples, times the window, is below
/// `bound` times their mean, or after `maxSeconds`.
public struct AutoWarmup: Sendable, Hashable {
    public var windowSeconds: Double
    public var bound: Double
    public var maxSeconds: Double

    public init(windowSeconds: Double, bound: Double, maxSeconds: Double) {
        self.windowSeconds = windowSeconds
        self.bound = bound
        self.maxSeconds = maxSeconds
    }

    /// Samples per window.
    public static let samples = 10

    /// The fitted change of throughput over the window as a fraction of its mean (|slope| · window /
    /// mean), for `rates` sampled evenly over the window; nil with fewer than 2 or a mean of 0.
    public static func relativeChange(_ rates: [Double]) -> Double? {
        let n = Double(rates.count)
        guard rates.count >= 2 else { return nil }
        let mean = rates.reduce(0, +) / n
        guard mean > 0 else { return nil }
        let xm = (n - 1) / 2
        var sxy = 0.0, sxx = 0.0
        for (i, r) in rates.enumerated() {
            sxy += (Double(i) - xm) * (r - mean)
            sxx += (Double(i) - xm) * (Double(i) - xm)
        }
        let slopePerSample = sxy / sxx
        return abs(slopePerSample) * n / mean
    }
}

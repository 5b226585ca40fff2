import OrbitCore
public import Runner
public import Workloads
import Foundation

/// `orbit-bench run` as a library call: resolve the configuration, prepare data directories, run the
/// workload on each backend in turn (same op stream), write the results directory, render the table.
public struct BenchmarkSession {
    public enum DataPolicy: Sendable {
        /// Refuse to run on a non-empty store directory.
        case requireEmpty
        /// Delete the backend's store first: only a store of that engine, only its own files
        /// (`StoreGuard.removeStore`); anything else in the directory is refused.
        case fresh
        /// Run on whatever the store holds (e.g. readrandom after fillrandom); it must be this
        /// engine's store, and the workload must not load (`load: false`).
        case reuse
    }

    public var configuration: Configuration
    public var outputDirectory: String?
    public var dataPolicy: DataPolicy = .requireEmpty
    /// Replace an earlier run in the results directory (`--overwrite`, see `ResultsGuard`); without
    /// it a results directory holding an earlier run is refused.
    public var overwrite = false
    public var showStatus = true

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Checks everything that can be checked before anything runs or is written: the workload, each
    /// engine's options and limits, the results directory, and each store directory against the data
    /// policy (`StoreGuard`; README "Your stores are safe"). Throws `.invalidArgument` and friends
    /// (exit status 2) having changed nothing.
    public func prepare() throws -> (workload: Workload, runId: String, out: String, dataRoot: String) {
        let workload = try Workload(settings: configuration.settings, path: configuration.workloadPath)
        let s = configuration.settings
        let stamp = Self.timestamp()
        let runId = "\(stamp)-\(workload.name)"
        let out = outputDirectory ?? "results/\(runId)"
        let configured = s.string("data_dir")
        let dataRoot = configured.isEmpty ? out + "/data" : configured
        for backend in configuration.backends {
            try Engines.validate(backend, settings: s)
            if !workload.usesLeases {
                try StoreGuard.checkSizes(backend, settings: s, keySize: workload.keySize, valueSize: workload.valueSize.upperBound,
                                          keySource: "key_size from \(s.source("key_size"))",
                                          valueSource: "value_size from \(s.source("value_size.max"))")
            }
        }
        if workload.memoryLimitMB > 0 {
            // Refused before anything is written when no memory controller is writable here.
            do { try MemoryCgroup.check(limitMB: workload.memoryLimitMB) } catch let e as OrbitError {
                var located = e
                located.location = "memory_limit_mb from \(s.source("memory_limit_mb"))"
                throw located
            }
        }
        if let trace = workload.recordTrace {
            let source = "record_trace from \(s.source("record_trace"))"
            guard configuration.backends.count == 1, workload.repeats + workload.warmupRepeats == 1 else {
                throw OrbitError(.invalidArgument, "a trace records one run of one backend (\(configuration.backends.count) backends, \(workload.repeats + workload.warmupRepeats) repeats given)",
                                 at: source, hint: "give one --backend and no repeats; replay the trace on the others")
            }
            guard !FileManager.default.fileExists(atPath: trace) else {
                throw OrbitError(.invalidArgument, "the trace file exists; a trace never replaces a file", at: "\(source): \(trace)",
                                 hint: "give a new path, or move the old trace away")
            }
        }
        if AgentCoordinator.isDistributed(s) {
            try AgentCoordinator.validate(settings: s, backends: configuration.backends, workload: workload)
        }
        try ResultsGuard.prepare(out, overwrite: overwrite, remove: false)
        if dataPolicy == .reuse, workload.load, workload.runPhase {
            throw OrbitError(.invalidArgument, "--reuse with the load phase on would load the records again over the store",
                             at: "load from \(s.source("load"))",
                             hint: "set load: false (--set load=false) to run on the data the store holds, or use --fresh to start over")
        }
        for backend in configuration.backends where Engines.isDurable(backend) {
            let dir = dataRoot + "/" + backend
            let hint = configured.isEmpty ? "--out" : "--data-dir"
            switch dataPolicy {
            case .requireEmpty:
                if case .ours = try StoreGuard.check(backend, directory: dir, intent: .create, flagHint: hint) {
                    throw OrbitError(.invalidArgument, "the \(backend) store directory is not empty", at: dir,
                                     hint: "pass --fresh to delete it before the run, or --reuse to run on the data it holds")
                }
            case .fresh:
                try StoreGuard.check(backend, directory: dir, intent: .create, flagHint: hint)
                // What --fresh would delete must all be the engine's own files (checked again before deleting).
                if case .entries(let names) = StoreDirectoryListing.list(dir) {
                    let strangers = names.filter { !StoreGuard.isStoreEntry(backend, $0) }
                    if !strangers.isEmpty {
                        throw OrbitError(.invalidArgument,
                                         "--fresh would delete files the \(backend) engine did not write: \(StoreDirectoryListing.few(strangers).joined(separator: ", "))",
                                         at: dir, hint: "move them out of the store directory, or use another \(hint); nothing was deleted")
                    }
                }
            case .reuse:
                try StoreGuard.check(backend, directory: dir, intent: .create, flagHint: hint)
            }
            if !workload.load, workload.runPhase, !workload.usesLeases {
                try Self.requireRecords(backend, directory: dir, workload: workload, settings: s)
            }
        }
        return (workload, runId, out, dataRoot)
    }

    /// A run phase without a load phase needs the records in the store: refuses (exit status 2) a
    /// store that lacks any of 16 records spread over the load range (the first and the last
    /// included), opened read-only, so `run` on a store loaded with fewer records is caught before
    /// it reports a run full of not-found reads.
    static func requireRecords(_ backend: String, directory: String, workload: Workload, settings: Settings) throws {
        let n = workload.insertCount
        guard n > 0 else { return }
        let hint = "load it first: orbit-bench load WORKLOAD --backend \(backend) --data-dir \(parentDirectory(of: directory))"
        guard case .ours = StoreGuard.recognize(backend, at: directory) else {
            throw OrbitError(.invalidArgument, "the run phase needs the \(n) loaded records, and there is no \(backend) store", at: directory,
                             hint: hint)
        }
        let probes = Set((0..<16).map { i in workload.insertStart + (n - 1) * i / 15 }).sorted()
        let keys = probes.map { KeyFormatter.key(UInt64($0), style: workload.keyStyle) }
        let missing: [Int]
        do {
            missing = try Engines.withEngine(backend, directory: directory, settings: settings, access: .readOnly, MissingKeys(keys: keys))
        } catch let e as OrbitError where e.code == .unsupported && e.message.contains("read-only") {
            // An engine that cannot open this store read-only (a managed SeaweedFS cluster writes its
            // directories as it starts): no probe, rather than a write before the run may begin;
            // the run's not_found counts say what the store lacks.
            return
        }
        if let first = missing.first {
            throw OrbitError(.invalidArgument,
                             "the \(backend) store lacks the records the run phase reads: record \(probes[first]) of \(workload.insertStart)..<\(workload.insertStart + n) is missing (\(missing.count) of \(probes.count) probed)",
                             at: directory, hint: hint + " (with the same recordcount), or set record_count to what the store holds")
        }
    }

    struct MissingKeys: EngineBody {
        let keys: [[UInt8]]
        func run<E: StorageEngine>(_ engine: E) throws -> [Int] {
            try keys.indices.filter { try engine.get(keys[$0]) == nil }
        }
    }

    /// Runs every backend and writes the results. Returns the result (also written to disk).
    public func run() throws -> RunResult {
        let (workload, runId, out, dataRoot) = try prepare()
        try ResultsGuard.prepare(out, overwrite: overwrite, remove: true)
        let started = SystemWallClock().nowMillis()
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        let env = EnvironmentInfo.capture(dataDirectory: dataRoot)
        // Record the data directory actually used (with the source of the setting that chose it).
        var settings = configuration.settings
        settings.set("data_dir", .string(dataRoot), from: settings.source("data_dir"))
        let runner = BenchmarkRunner(workload: workload, settings: settings, showStatus: showStatus)
        // Repeats are interleaved (every backend once per repeat, in turn), so a slow spell on this shared
        // machine lands on all backends rather than on one; each repeat starts from an empty store.
        let total = workload.warmupRepeats + workload.repeats
        var measured: [RunRepeat] = []
        for k in 0..<total {
            if total > 1, showStatus {
                let what = k < workload.warmupRepeats ? "warm-up repeat \(k + 1)/\(workload.warmupRepeats) (not counted)"
                    : "repeat \(k - workload.warmupRepeats + 1)/\(workload.repeats)"
                FileHandle.standardError.write(Data("orbit-bench: \(what)\n".utf8))
            }
            var backends: [BackendRun] = []
            for backend in configuration.backends {
                let dir = dataRoot + "/" + backend
                if Engines.isDurable(backend) {
                    // Later repeats delete the store the previous one made (it was empty, or --fresh, before
                    // the first); --reuse runs every repeat on the data the store holds.
                    let clear = dataPolicy == .fresh || (k > 0 && dataPolicy == .requireEmpty)
                    // Deletes only a store of this engine (StoreGuard), never other files.
                    if clear { try StoreGuard.removeStore(backend, directory: dir) }
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
                if AgentCoordinator.isDistributed(settings) {
                    // The load comes from the agents (README "Load from several machines"), merged here.
                    backends.append(try AgentCoordinator(workload: workload, settings: settings).run(backend: backend, directory: dir))
                    continue
                }
                backends.append(try Self.bounded(workload, backend: backend, directory: dir, repeatIndex: k) { try runner.run(backend: backend, directory: dir) })
            }
            if k >= workload.warmupRepeats { measured.append(RunRepeat(index: k - workload.warmupRepeats + 1, backends: backends)) }
        }
        var result = RunResult(runId: runId, workload: workload, settings: settings, environment: env,
                               startedAtMillis: started, backends: measured[0].backends, outputDirectory: out)
        result.warmupRepeats = workload.warmupRepeats
        if measured.count > 1 {
            result.repeats = measured
            result.representatives = configuration.backends.indices.map { i in
                measured[Representative.medianIndex(measured.map { $0.backends[i] })].index
            }
            result.backends = configuration.backends.indices.map { i in measured[result.representatives[i] - 1].backends[i] }
        }
        try ResultsWriter.write(result, to: out)
        return result
    }

    /// Runs `body` (one backend's open, load, run and close) inside a memory cgroup of the workload's
    /// `memory_limit_mb`, when one is set, and records what the cgroup saw.
    /// The store's files leave the page cache first (an earlier run, or the load that filled the store,
    /// cached them outside this cgroup), so every engine starts cold under the same limit.
    static func bounded(_ workload: Workload, backend: String, directory: String, repeatIndex: Int,
                        _ body: () throws -> BackendRun) throws -> BackendRun {
        guard workload.memoryLimitMB > 0 else { return try body() }
        if Engines.isDurable(backend) { MemoryCgroup.evictPageCache(of: directory) }
        let cgroup = try MemoryCgroup(name: "orbit-bench-\(getpid())-\(backend)-\(repeatIndex)",
                                      limitBytes: UInt64(workload.memoryLimitMB) << 20)
        var run: BackendRun
        do {
            try cgroup.enter()
            defer { try? cgroup.leave() }
            run = try body()
        } catch {
            try? cgroup.remove()
            throw error
        }
        run.memory = cgroup.usage()
        try cgroup.remove()
        return run
    }

    static func timestamp() -> String { RunStamp.now() }
}

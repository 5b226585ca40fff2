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
        /// Delete the backend's store directory first.
        case fresh
        /// Run on whatever the store holds (e.g. readrandom after fillrandom).
        case reuse
    }

    public var configuration: Configuration
    public var outputDirectory: String?
    public var dataPolicy: DataPolicy = .requireEmpty
    public var showStatus = true

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Checks everything that can be checked before anything runs or is written.
    public func prepare() throws -> (workload: Workload, runId: String, out: String, dataRoot: String) {
        let workload = try Workload(settings: configuration.settings, path: configuration.workloadPath)
        let stamp = Self.timestamp()
        let runId = "\(stamp)-\(workload.name)"
        let out = outputDirectory ?? "results/\(runId)"
        let configured = configuration.settings.string("data_dir")
        let dataRoot = configured.isEmpty ? out + "/data" : configured
        for backend in configuration.backends {
            try Engines.validate(backend, settings: configuration.settings)
        }
        for backend in configuration.backends where Engines.isDurable(backend) {
            let dir = dataRoot + "/" + backend
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            if !contents.isEmpty, dataPolicy == .requireEmpty {
                throw OrbitError(.invalidArgument, "the \(backend) store directory is not empty", at: dir,
                                 hint: "pass --fresh to delete it before the run, or --reuse to run on the data it holds")
            }
        }
        return (workload, runId, out, dataRoot)
    }

    /// Runs every backend and writes the results. Returns the result (also written to disk).
    public func run() throws -> RunResult {
        let (workload, runId, out, dataRoot) = try prepare()
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
                    if clear, FileManager.default.fileExists(atPath: dir) {
                        do {
                            try FileManager.default.removeItem(atPath: dir)
                        } catch {
                            throw OrbitError(.io, "could not delete the old store", at: dir, underlying: "\(error)")
                        }
                    }
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
                backends.append(try runner.run(backend: backend, directory: dir))
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

    static func timestamp() -> String { RunStamp.now() }
}

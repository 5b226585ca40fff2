import ArgumentParser
import Foundation
import OrbitCore
import Reports
import Runner
import Workloads

/// `orbit-bench replay FILE --backend B [--speed X]`: replays a trace `run --record-trace` wrote, on
/// each backend in turn (a fresh store each), open-loop at the recorded times (`Runner.TraceReplay`).
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a recorded trace (run --record-trace) on one or more backends, open-loop at the recorded inter-arrival times.")

    @Argument(help: "Trace file (docs/formats/trace.md).")
    var trace: String

    @Option(name: .long, help: "Replay speed: 1 at the recorded pace, 2 twice as fast.")
    var speed = 1.0

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Results directory (default results/<stamp>-replay-<trace>).")
    var out: String?

    @Flag(name: .long, help: "Replace an earlier run in --out.")
    var overwrite = false

    func run() throws {
        try guarded {
            let t = try TraceFile.read(trace)
            let counts = t.counts
            let loads = counts[.load] ?? 0
            let runs = counts.filter { $0.key != .load }.reduce(0) { $0 + $1.value }
            let base = URL(fileURLWithPath: trace).deletingPathExtension().lastPathComponent
            var c = try options.build(workload: nil)
            // The workload summary.json describes: what the trace holds.
            var sets: [(String, String)] = [("name", "replay-" + base), ("threads", String(t.threads.count)), ("seed", String(t.seed)),
                                            ("record_count", String(loads)), ("operation_count", String(runs)),
                                            ("description", "replay of \(trace) at speed \(formatDouble(speed, decimals: 3))")]
            for (key, op) in WorkloadKnobs.mixEntries {
                sets.append(("mix." + key, runs > 0 ? "\(Double(counts[op] ?? 0) / Double(runs))" : (op == .insert ? "1" : "0")))
            }
            if runs == 0 { sets.append(("run", "false")) }
            for (name, value) in sets { try c.set(name, value) }
            let workload = try Workload(settings: c.settings)
            let replay = try TraceReplay(trace: t, speed: speed, settings: c.settings)
            guard !c.backends.isEmpty else {
                throw OrbitError(.invalidArgument, "replay needs a backend", at: "--backend", hint: "give --backend NAME (repeatable)")
            }
            let outDir = out ?? "results/\(RunStamp.now())-replay-\(base)"
            let configured = c.settings.string("data_dir")
            let dataRoot = configured.isEmpty ? outDir + "/data" : configured
            for backend in c.backends {
                try Engines.validate(backend, settings: c.settings)
                let dir = dataRoot + "/" + backend
                if Engines.isDurable(backend),
                   case .ours = try StoreGuard.check(backend, directory: dir, intent: .create, flagHint: configured.isEmpty ? "--out" : "--data-dir") {
                    throw OrbitError(.invalidArgument, "the \(backend) store directory is not empty; a replay starts from an empty store", at: dir,
                                     hint: "give another --out or --data-dir")
                }
            }
            try ResultsGuard.prepare(outDir, overwrite: overwrite, remove: true)
            try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
            let started = SystemWallClock().nowMillis()
            var backends: [BackendRun] = []
            for backend in c.backends {
                let dir = dataRoot + "/" + backend
                if Engines.isDurable(backend) { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
                backends.append(try replay.run(backend: backend, directory: dir))
            }
            let result = RunResult(runId: "\(RunStamp.now())-replay-\(base)", workload: workload, settings: c.settings,
                                   environment: EnvironmentInfo.capture(dataDirectory: dataRoot), startedAtMillis: started,
                                   backends: backends, outputDirectory: outDir)
            try ResultsWriter.write(result, to: outDir)
            print("replay of \(trace): \(t.threads.count) threads, \(loads) load and \(runs) run operations, speed \(formatDouble(speed, decimals: 3)), target \(formatDouble(replay.targetOpsPerSecond, decimals: 0)) ops/s")
            print(SummaryTable.render(result), terminator: "")
            print("results: \(outDir)")
            if backends.contains(where: { !$0.errors.isEmpty }) { throw ExitCode(1) }
        }
    }
}

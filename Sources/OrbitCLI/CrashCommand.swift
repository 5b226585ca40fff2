import ArgumentParser
import CrashLab
import Foundation
import OrbitCore
import Plots
import Runner

/// `orbit-bench crash WORKLOAD`: crash-recovery experiments (kills; power loss, corruption and I/O errors
/// as those methods are in the build). Exit status: 0 every promise held, 3 a promise was broken,
/// 2 bad input, 1 a failure while running.
struct CrashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash",
        abstract: "Crash-recovery experiment: crash each backend (crash_methods), recover, verify against an oracle; write results/<run-id>/crash.csv.",
        discussion: """
            Writes crash.csv, crash-summary.txt, summary.json and plots/ (gnuplot) under --out. Exit status: \
            0 every engine kept its durability promise, 3 a promise was broken, 2 bad input, 1 a failure while running.
            """)

    @Argument(help: "Crash workload file (YAML), e.g. workloads/crash-recovery.yaml.")
    var workload: String

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Results directory (default results/<run-id>).")
    var out: String?

    @Option(name: .long, help: "Seed of every random choice (the `seed` knob): kill points, operations.")
    var seed: Int?

    @Option(name: .long, help: "Crash methods to run (a comma-separated list; the same as --set crash_methods=...).")
    var method: String?

    @Option(name: .long, help: "differential: run this replay file (written by a failing stream) once (--set crash.differential_replay=FILE).")
    var replay: String?

    @Flag(name: .long, help: "No progress lines.")
    var quiet = false

    @Flag(name: .long, help: "Do not draw plots.")
    var noPlot = false

    @Flag(name: .long, help: "Delete an earlier crash experiment's directory (<data-dir>/<backend>, and only one crash made) first.")
    var fresh = false

    @Flag(name: .long, help: "Refused: every crash experiment starts from stores of its own (use --fresh).")
    var reuse = false

    @Flag(name: .long, help: "Replace an earlier run in --out (only the files orbit-bench writes there).")
    var overwrite = false

    func run() throws {
        var broken = false
        try guarded {
            var extra: [String] = []
            if let seed { extra.append("seed=\(seed)") }
            if let method { extra.append("crash_methods=\(method)") }
            if let replay { extra.append("crash.differential_replay=\(replay)") }
            let c = try options.build(workload: workload, extra: extra)
            var e = CrashExperiment(configuration: c)
            e.outputDirectory = out
            try checkBeforeRunning(e)
            if !quiet { e.progress = { FileHandle.standardError.write(Data(("orbit-bench: " + $0 + "\n").utf8)) } }
            let outcome = try e.run()
            print(outcome.summaryText, terminator: "")
            print("results: \(outcome.outputDirectory)")
            if !noPlot {
                do {
                    let plots = try Plotter.plot(directories: [outcome.outputDirectory])
                    print("plots: \(outcome.outputDirectory)/plots (\(plots.count) plots)")
                } catch {
                    FileHandle.standardError.write(Data("orbit-bench: notice: no plots: \(error)\n".utf8))
                }
            }
            broken = outcome.anyBroken
        }
        if broken {
            FileHandle.standardError.write(Data("orbit-bench: a durability promise was broken (exit status \(CrashExperiment.brokenExitStatus))\n".utf8))
            throw ExitCode(CrashExperiment.brokenExitStatus)
        }
    }
}

/// The checks `crash` makes before anything runs (README "Your stores are safe"): the same refusals
/// as `run` for a non-empty data directory, every method supported by every engine, key and value
/// sizes within each engine's limits, no earlier run in --out; then it claims each
/// `<data-dir>/<backend>` as an experiment directory (a marker file), so that a later `--fresh`
/// deletes only a directory crash made.
extension CrashCommand {
    static let experimentMarker = "ORBIT-CRASH-EXPERIMENT"

    func checkBeforeRunning(_ e: CrashExperiment) throws {
        guard !(fresh && reuse) else {
            throw OrbitError(.invalidArgument, "--fresh and --reuse exclude each other", at: "flags --fresh --reuse")
        }
        guard !reuse else {
            throw OrbitError(.invalidArgument, "crash starts every experiment from stores of its own; --reuse does not apply", at: "--reuse",
                             hint: "use --fresh to clear an earlier crash experiment's directory, or another --data-dir")
        }
        let (plan, backends, methods) = try e.prepare()
        let s = e.configuration.settings
        for b in backends {
            // A method that does not apply to an engine was refused by prepare(), before anything ran.
            try StoreGuard.checkSizes(b, settings: s, keySize: plan.keySize, valueSize: plan.valueSize,
                                      keySource: "key_size from \(s.source("key_size"))", valueSource: "value_size from \(s.source("value_size.max"))")
        }
        if let out { try ResultsGuard.prepare(out, overwrite: overwrite, remove: false) }
        let configured = s.string("data_dir")
        guard let root = configured.isEmpty ? out.map({ $0 + "/data" }) : configured else { return }  // a new results/<run-id>
        // An earlier crash's own data directory under --out goes with --overwrite.
        let clear = fresh || (configured.isEmpty && overwrite)
        var claimed: [String] = []
        for b in backends {
            let dir = root + "/" + b
            try StoreGuard.checkPath(dir, intent: .create, flagHint: configured.isEmpty ? "--out" : "--data-dir")
            guard case .entries(let names) = StoreDirectoryListing.list(dir), !names.isEmpty else {
                if case .notADirectory = StoreDirectoryListing.list(dir) {
                    throw OrbitError(.invalidArgument, "\(dir) is a file, not a directory", at: configured.isEmpty ? "--out" : "--data-dir")
                }
                continue
            }
            if names.contains(Self.experimentMarker) {
                guard clear else {
                    throw OrbitError(.invalidArgument, "the \(b) experiment directory is not empty (an earlier crash experiment)", at: dir,
                                     hint: "pass --fresh to delete it first, or give another --data-dir; nothing was run")
                }
                claimed.append(dir)
                continue
            }
            let what: String
            if case .ours(let markers) = StoreGuard.recognize(b, at: dir) {
                what = "holds \(StoreGuard.withArticle(b)) store (\(markers.joined(separator: ", ")))"
            } else if let other = StoreGuard.otherOwner(of: dir, besides: "")?.name {
                what = "holds \(StoreGuard.withArticle(other)) store"
            } else {
                what = "holds files crash did not write (\(StoreDirectoryListing.few(names).joined(separator: ", ")))"
            }
            throw OrbitError(.invalidArgument, "the \(b) store directory is not empty: \(dir) \(what)", at: dir,
                             hint: "crash makes its own stores under <data-dir>/<backend>/<method> and never opens an existing one; "
                                 + "give an empty --data-dir (--fresh deletes only an earlier crash experiment's directory); nothing was run")
        }
        // Every check passed: now (and only now) clear and claim.
        if let out { try ResultsGuard.prepare(out, overwrite: overwrite, remove: true) }
        for dir in claimed { try POSIXFileSystem().removeTree(dir) }
        for b in backends {
            let dir = root + "/" + b
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try "a crash experiment's directory: orbit-bench crash --fresh deletes it\n".write(
                    toFile: dir + "/" + Self.experimentMarker, atomically: false, encoding: .utf8)
            } catch {
                throw OrbitError(.invalidArgument, "cannot create the experiment directory", at: dir,
                                 hint: "choose a --data-dir you can write", cause: .library("\(error)"))
            }
        }
    }
}

/// The child of a kill experiment (hidden): opens the store and writes, reporting each operation on
/// stdout, until the parent kills it.
struct CrashWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-worker", abstract: "internal: the child of orbit-bench crash",
                                                    shouldDisplay: false)

    @Option var backend: String
    @Option var store: String
    @Option var firstOp: Int
    @Option var seed: UInt64
    @Option var set: [String] = []

    func run() throws {
        try guarded {
            try KillWorker.run(backend: backend, directory: store, settings: childSettings(set, backend), firstOp: firstOp, seed: seed)
        }
    }
}

/// The children of the file-damage, concurrent-open and resource-limits methods (hidden): a store
/// holder (`--role hold`) and a store grown under a lowered descriptor limit (`--role grow`).
struct CrashLabChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-lab-child", abstract: "internal: a child of orbit-bench crash",
                                                    shouldDisplay: false)

    @Option var role: String
    @Option var backend: String
    @Option var store: String
    @Option var seed: UInt64
    @Option var set: [String] = []

    func run() throws {
        try guarded {
            try CrashLabChild.run(role: role, backend: backend, directory: store, settings: childSettings(set, backend), seed: seed)
        }
    }
}

/// A crash child's settings: its parent's `--set` assignments for `backend`.
private func childSettings(_ sets: [String], _ backend: String) throws -> Settings {
    var c = Configuration()
    try c.applyFlags(sets: sets, backends: [backend], dataDir: nil)
    return c.settings
}

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
            var c = Configuration()
            try c.applyFlags(sets: set, backends: [backend], dataDir: nil)
            try KillWorker.run(backend: backend, directory: store, settings: c.settings, firstOp: firstOp, seed: seed)
        }
    }
}

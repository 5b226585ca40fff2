import ArgumentParser
import Foundation
import OrbitCore
import Repro
import Runner

/// `orbit-bench repro ...`: reproductions of published tables on this machine.
struct ReproCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro", abstract: "Reproduce a published table on this machine.",
        subcommands: [LatencyTableCommand.self])
}

/// `orbit-bench repro latency-table`
struct LatencyTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency-table",
        abstract: "The origin's backend latency table (write, read, memory, disk, CPU, crash recovery) measured here, beside its published figures.",
        discussion: "Writes table.md, table.csv, environment.txt, run-<durability>/ (the full results, repeats, crash.csv) and plots/ under --out.")

    @Option(name: .long, help: "Measured repeats (medians with min–max).")
    var `repeat` = 3

    @Option(name: .long, help: "Whole-run repeats first, not counted.")
    var warmupRepeats = 1

    @Option(name: .long, help: "Output directory.")
    var out = "results/latency-table"

    @Option(name: .long, help: "Backend (repeatable; default cow, lsm, rocksdb, memory, lmdb).")
    var backend: [String] = []

    @Option(name: .long, help: "Durability mode (repeatable; default none): none, every-write, group, periodic[:ms].")
    var durability: [String] = []

    @Option(name: .long, help: "Leases stored by the load phase.")
    var recordCount = 50_000

    @Option(name: .long, help: "Lease operations of the run phase.")
    var operationCount = 200_000

    @Option(name: .long, help: ArgumentHelp("Engine knob (repeatable), e.g. --set rocksdb.block_cache_mb=64.", valueName: "name=value"))
    var set: [String] = []

    @Flag(name: .long, help: "No crash-recovery cycles (no worker processes are killed).")
    var noCrash = false

    @Flag(name: .long, help: "No progress lines.")
    var quiet = false

    @Flag(name: .long, help: "Replace an earlier table in --out (only the files orbit-bench writes there).")
    var overwrite = false

    @Flag(name: .long, help: "Leave out repeats/, metrics.csv and interval-*.csv/.hlog once the table and plots are made (a small set to commit).")
    var slim = false

    func run() throws {
        try guarded {
            // No mixed results: an earlier table in --out is refused unless --overwrite (ResultsGuard).
            try ResultsGuard.prepare(out, overwrite: overwrite, remove: true)
            var t = LatencyTable()
            t.repeats = `repeat`
            t.warmupRepeats = warmupRepeats
            t.out = out
            if !backend.isEmpty { t.backends = backend.flatMap { $0.split(separator: ",").map(String.init) } }
            if !durability.isEmpty { t.durabilities = durability }
            t.recordCount = recordCount
            t.operationCount = operationCount
            t.extraSets = set
            t.showStatus = !quiet
            t.slim = slim
            t.executable = noCrash ? nil : ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            let loadBefore = EnvironmentFile.loadAverage()
            let outcome = try t.run()
            let env = try EnvironmentFile.write(to: out + "/environment.txt", dataDirectory: out, loadBefore: loadBefore,
                                                seconds: outcome.seconds)
            print(outcome.markdown, terminator: "")
            print("\nenvironment: \(env)")
            print("written: \(out)/table.md, \(out)/table.csv, \(out)/environment.txt, \(outcome.plots.count) plots in \(out)/plots, results in "
                + outcome.runDirectories.joined(separator: ", "))
            print("took \(formatDouble(outcome.seconds, decimals: 0)) s")
        }
    }
}

/// The crash worker of `repro latency-table` (hidden): runs the workload on a store, then stores leases
/// until it is killed.
struct ReproWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_repro-worker", abstract: "internal: the crash worker of repro latency-table",
                                                    shouldDisplay: false)

    @Option var backend: String
    @Option var dataDir: String
    @Option var set: [String] = []

    func run() throws {
        try guarded {
            var c = Configuration()
            try c.applyFlags(sets: set, backends: [backend], dataDir: dataDir)
            try KillRecovery.worker(backend: backend, directory: dataDir, settings: c.settings)
        }
    }
}

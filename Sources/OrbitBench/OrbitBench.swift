import ArgumentParser
import Foundation
import OrbitCore
import Reports
import Runner
import Workloads

/// The thin CLI: parses arguments, calls the libraries, maps errors to exit statuses
/// (2: bad input, nothing run or written; 1: a failure while running).
@main
struct OrbitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orbit-bench",
        abstract: "Storage-engine benchmarking and research harness.",
        subcommands: [RunCommand.self, ListCommand.self, KVCommand.self, InspectCommand.self])
}

/// Options shared by commands that open engines.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON config file (the seeds' shape: backend, data_dir, rocksdb_config, ...).")
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Set a knob or workload field (repeatable), e.g. --set record_count=20000.", valueName: "name=value"))
    var set: [String] = []

    @Option(name: .long, help: "Directory holding one store per backend (<dir>/<backend>).")
    var dataDir: String?

    @Option(name: .long, help: "Backend to run (repeatable): memory, rocksdb, lmdb, cow.")
    var backend: [String] = []

    func build(workload: String?) throws -> Configuration {
        var c = Configuration()
        if let config { try c.applyJSONConfig(path: config) }
        if let workload { try c.applyWorkloadFile(path: workload) }
        try c.applyEnvironment()
        try c.applyFlags(sets: set, backends: backend, dataDir: dataDir)
        return c
    }
}

/// Runs `body`, printing an OrbitError as "orbit-bench: error: ..." and exiting with its status.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as OrbitError {
        FileHandle.standardError.write(Data("orbit-bench: error: \(e)\n".utf8))
        throw ExitCode(e.exitStatus)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a workload file on one or more backends and write results/<run-id>/.")

    @Argument(help: "Workload file (YAML), e.g. workloads/write-heavy.yaml.")
    var workload: String

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Results directory (default results/<run-id>).")
    var out: String?

    @Flag(name: .long, help: "Delete each backend's store directory before running.")
    var fresh = false

    @Flag(name: .long, help: "Run on the data the store directories already hold.")
    var reuse = false

    @Flag(name: .long, help: "No status line.")
    var quiet = false

    func run() throws {
        try guarded {
            guard !(fresh && reuse) else {
                throw OrbitError(.invalidArgument, "--fresh and --reuse exclude each other", at: "flags --fresh --reuse")
            }
            var session = BenchmarkSession(configuration: try options.build(workload: workload))
            session.outputDirectory = out
            session.dataPolicy = fresh ? .fresh : (reuse ? .reuse : .requireEmpty)
            session.showStatus = !quiet
            let result = try session.run()
            print(SummaryTable.render(result), terminator: "")
            print("results: \(result.outputDirectory)")
            if result.backends.contains(where: { !$0.errors.isEmpty }) { throw ExitCode(1) }
        }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List backends and bundled workloads.")

    @Option(name: .long, help: "Directory of workload files.")
    var workloads = "workloads"

    func run() throws {
        print("backends:")
        for (name, summary) in Engines.descriptions { print("  \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(summary)") }
        print("\nworkloads (\(workloads)/):")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: workloads)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        for f in files {
            var c = Configuration()
            let path = workloads + "/" + f
            do {
                try c.applyWorkloadFile(path: path)
                print("  \(f.padding(toLength: 22, withPad: " ", startingAt: 0)) \(c.settings.string("description"))")
            } catch {
                print("  \(f.padding(toLength: 22, withPad: " ", startingAt: 0)) (invalid: \(error))")
            }
        }
        print("\nsettings (--set name=value; environment variable; JSON config key):")
        for k in Configuration.allKnobs where !WorkloadKnobs.all.contains(where: { $0.name == k.name }) {
            let json = (k.jsonSection.map { $0 + "." } ?? "") + k.jsonKey
            print("  \(k.name) = \(k.defaultValue)  [\(k.environment); \(json)]  \(k.allowed) — \(k.help)")
        }
    }
}

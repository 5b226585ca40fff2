import ArgumentParser
import Foundation
import OrbitCore
import Plots
import Reports
import Runner
import Workloads

/// The thin CLI: parses arguments, calls the libraries, maps errors to exit statuses
/// (2: bad input, nothing run or written; 1: a failure while running). A library, so tests run the
/// commands in-process (with an engine they registered); the executable's main calls `main()`.
public struct OrbitBenchCLI: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "orbit-bench",
        abstract: "Storage-engine benchmarking and research harness.",
        subcommands: [RunCommand.self, LoadCommand.self, ListCommand.self, KVCommand.self, ServeCommand.self, InspectCommand.self, ExportCommand.self, ImportCommand.self, ValidateCommand.self, CheckCommand.self,
                      PlotCommand.self, ReportCommand.self, CompareCommand.self, SearchRateCommand.self, ReplayCommand.self, ReproCommand.self, ReproWorkerCommand.self,
                      CrashCommand.self, CrashWorkerCommand.self, CrashLabChildCommand.self, AgentCommand.self])

    /// ArgumentParser exits 64 (EX_USAGE) for a bad argument; orbit-bench's contract is 2 for every
    /// bad input (README "Your stores are safe"), so usage errors are mapped to 2 here. Help and
    /// version requests keep their 0; every other status is the command's own.
    public init() {}

    public static func main() {
        Engines.install()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

/// Options shared by commands that open engines.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON config file (the seeds' shape: backend, data_dir, rocksdb_config, ...).")
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Set a knob or workload field (repeatable), e.g. --set record_count=20000.", valueName: "name=value"))
    var set: [String] = []

    @Option(name: .long, help: "Directory holding one store per backend (<dir>/<backend>).")
    var dataDir: String?

    @Option(name: .long, help: "Backend to run (repeatable): memory, rocksdb, lmdb, cow, lsm.")
    var backend: [String] = []

    @Option(name: .long, help: ArgumentHelp("Key file for encryption at rest (the knob encryption_key_path): 32 bytes or 64 hex digits, mode 0600.",
                                            valueName: "file"))
    var encryptionKeyPath: String?

    func build(workload: String?, propertyFiles: [String] = [], properties: [String] = [],
               extra: [String] = [], knobFlags: [(flag: String, knob: String, value: String)] = []) throws -> Configuration {
        var c = Configuration()
        if let config { try c.applyJSONConfig(path: config) }
        var files = propertyFiles
        if let workload {
            if Configuration.isPropertyFile(workload) { files.insert(workload, at: 0) } else { try c.applyWorkloadFile(path: workload) }
        }
        if !files.isEmpty || !properties.isEmpty {
            guard workload == nil || Configuration.isPropertyFile(workload!) else {
                throw OrbitError(.invalidArgument, "-P and -p go with YCSB property files, not with a YAML workload", at: "flag -P/-p",
                                 hint: "give the YAML fields with --set, or use a property file")
            }
            try c.applyPropertyFiles(files, overrides: properties)
        }
        try c.applyEnvironment()
        let keyFlag = encryptionKeyPath.map { [(flag: "--encryption-key-path", knob: CoreKnobs.encryptionKeyPath, value: $0)] } ?? []
        try c.applyFlags(sets: extra + set, backends: backend, dataDir: dataDir, knobFlags: knobFlags + keyFlag)
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

/// The workload of `run` and `load`: a YAML workload file, or YCSB property files (`-P`, in order)
/// with `-p key=value` overrides.
struct WorkloadOptions: ParsableArguments {
    @Argument(help: "Workload file: YAML (.yaml/.yml) or a YCSB property file (anything else, e.g. workloads/ycsb/workloada).")
    var workload: String?

    @Option(name: .customShort("P"), help: ArgumentHelp("YCSB property file (repeatable; read in order, later ones win).", valueName: "file"))
    var propertyFiles: [String] = []

    @Option(name: .customShort("p"), help: ArgumentHelp("YCSB property override (repeatable), e.g. -p recordcount=100000.", valueName: "key=value"))
    var properties: [String] = []

    func validate() throws {
        guard workload != nil || !propertyFiles.isEmpty else {
            throw ValidationError("give a workload file or at least one -P property file")
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workload (YAML or YCSB properties) on one or more backends: load phase, then run phase; write results/<run-id>/.")

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Measured repeats of the whole run, backends interleaved, a fresh store each (the `repeat` knob); tables show medians with min–max.")
    var `repeat`: Int?

    @Option(name: .long, help: "Whole-run repeats done first and not counted (the `warmup_repeats` knob).")
    var warmupRepeats: Int?

    @Flag(name: .long, help: "Draw the plots (gnuplot) into <out>/plots after the run (the `plots` knob).")
    var plot = false

    @Option(name: .long, help: ArgumentHelp("Write every operation (time, thread, op, key, value size) to this new trace file (the `record_trace` knob; docs/formats/trace.md); `orbit-bench replay` replays it.", valueName: "file"))
    var recordTrace: String?

    @Option(name: .long, help: ArgumentHelp("Generate the load on these `orbit-bench agent`s, each with its share, and merge their raw histograms (the `agents` knob; server backends with an address only).",
                                            valueName: "host:port,..."))
    var agents: String?

    func run() throws {
        try guarded {
            var flags: [(flag: String, knob: String, value: String)] = []
            if let a = agents { flags.append(("--agents \(a)", "agents", a)) }
            if let r = `repeat` { flags.append(("--repeat \(r)", "repeat", String(r))) }
            if let w = warmupRepeats { flags.append(("--warmup-repeats \(w)", "warmup_repeats", String(w))) }
            if plot { flags.append(("--plot", "plots", "true")) }
            if let t = recordTrace { flags.append(("--record-trace \(t)", "record_trace", t)) }
            var c = try options.build(workload: workload.workload, propertyFiles: workload.propertyFiles,
                                      properties: workload.properties, knobFlags: flags)
            // YCSB's habit: `run` of a property file on a --data-dir is the transaction phase only (as
            // `ycsb run`), on the store `load` filled; --fresh (load and run on a new store) or an
            // explicit `load` setting keep the old behaviour. Without a data dir the store is new, so
            // the run loads first.
            let ycsb = workload.workload.map(Configuration.isPropertyFile) ?? !workload.propertyFiles.isEmpty
            var transactionsOnly = false
            if ycsb, !c.settings.string("data_dir").isEmpty, !output.fresh, c.settings.source("load") == .builtinDefault {
                c = try options.build(workload: workload.workload, propertyFiles: workload.propertyFiles,
                                      properties: workload.properties, extra: ["load=false"], knobFlags: flags)
                transactionsOnly = true
            }
            try output.execute(c, reuseImplied: transactionsOnly)
        }
    }
}

/// `orbit-bench load`: the load phase only (YCSB's `-load`), e.g. into --data-dir for later `run`s with --reuse.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Run only the load phase of a workload (YAML or YCSB properties) and write results/<run-id>/.")

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            try output.execute(try options.build(workload: workload.workload, propertyFiles: workload.propertyFiles,
                                                 properties: workload.properties, extra: ["run=false", "load=true"]))
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Results directory (default results/<run-id>).")
    var out: String?

    @Flag(name: .long, help: "Delete each backend's store directory before running.")
    var fresh = false

    @Flag(name: .long, help: "Run on the data the store directories already hold.")
    var reuse = false

    @Flag(name: .long, help: "Replace an earlier run in --out (only the files orbit-bench writes there; never data/).")
    var overwrite = false

    @Flag(name: .long, help: "No status line.")
    var quiet = false

    /// `reuseImplied`: the command itself runs on the data the store holds (`run` of a YCSB property
    /// file on a --data-dir), as if --reuse were given.
    func execute(_ configuration: Configuration, reuseImplied: Bool = false) throws {
        guard !(fresh && reuse) else {
            throw OrbitError(.invalidArgument, "--fresh and --reuse exclude each other", at: "flags --fresh --reuse")
        }
        for n in configuration.notices { FileHandle.standardError.write(Data("orbit-bench: notice: \(n)\n".utf8)) }
        var session = BenchmarkSession(configuration: configuration)
        session.outputDirectory = out
        session.dataPolicy = fresh ? .fresh : (reuse || reuseImplied ? .reuse : .requireEmpty)
        session.overwrite = overwrite
        session.showStatus = !quiet
        let result = try session.run()
        print(SummaryTable.render(result), terminator: "")
        if result.workload.ycsbOutput {
            for b in result.backends {
                if result.backends.count > 1 { print("# YCSB-style results, backend \(b.backend)") }
                print(YCSBOutput.render(b, measurementInterval: result.workload.measurementInterval), terminator: "")
            }
        }
        print("results: \(result.outputDirectory)")
        if result.workload.plots {
            let plots = try Plotter.plot(directories: [result.outputDirectory])
            print("plots: \(result.outputDirectory)/plots (\(plots.count) plots: PNG, SVG and the gnuplot script of each)")
        }
        // A workload's `thresholds:` marks the run failed as `orbit-bench check` would.
        let thresholds = Thresholds.from(settings: configuration.settings)
        let withinThresholds = try thresholds.isEmpty || CheckCommand.evaluate(result.outputDirectory, thresholds)
        if result.backends.contains(where: { !$0.errors.isEmpty }) || !withinThresholds { throw ExitCode(1) }
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
        let ycsb = workloads + "/ycsb"
        let propertyFiles = ((try? FileManager.default.contentsOfDirectory(atPath: ycsb)) ?? []).sorted()
        if !propertyFiles.isEmpty {
            print("\nYCSB property files (\(ycsb)/; run as `orbit-bench run \(ycsb)/workloada`):")
            for f in propertyFiles {
                let text = (try? String(contentsOfFile: ycsb + "/" + f, encoding: .utf8)) ?? ""
                let title = text.split(separator: "\n").first { $0.hasPrefix("# Workload") }.map { String($0.dropFirst(2)) } ?? ""
                print("  \(f.padding(toLength: 22, withPad: " ", startingAt: 0)) \(title)")
            }
        }
        print("\nsettings (--set name=value; environment variable; JSON config key):")
        for k in Configuration.allKnobs where !WorkloadKnobs.all.contains(where: { $0.name == k.name }) {
            let json = (k.jsonSection.map { $0 + "." } ?? "") + k.jsonKey
            print("  \(k.name) = \(k.defaultValue)  [\(k.environment); \(json)]  \(k.allowed) — \(k.help)")
        }
    }
}

import ArgumentParser
import Foundation
import OrbitCore
import Plots
import Reports

/// `orbit-bench plot RESULTS_DIR...`
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a results directory's plots with gnuplot: PNG, SVG and the .gp script of each.",
        discussion: "Plots: " + Plotter.kinds.joined(separator: ", ")
            + ". Several directories are drawn together (each series labelled with its run id) and need --out.")

    @Argument(help: "Results directories (what `orbit-bench run` or a crash experiment wrote).")
    var directories: [String]

    @Option(name: .long, help: "Where the plots go (default <dir>/plots for one directory).")
    var out: String?

    func run() throws {
        try guarded {
            let plots = try Plotter.plot(directories: directories, out: out)
            for p in plots { print(p.png) }
            print("\(plots.count) plots (PNG, SVG and the gnuplot script of each) in \(out ?? directories[0] + "/plots")")
        }
    }
}

/// `orbit-bench report RESULTS_DIR...`
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A comparison table across runs and backends: prints Markdown, writes report.md, report.csv and report.html.",
        discussion: "report.html is one self-contained page: the tables, every plot inline as SVG (drawn with gnuplot into <out>/plots), and each run's environment and effective configuration.")

    @Argument(help: "Results directories.")
    var directories: [String]

    @Option(name: .long, help: "Directory for report.md and report.csv (default: the results directory when there is one).")
    var out: String?

    func run() throws {
        try guarded {
            guard !directories.isEmpty else {
                throw OrbitError(.invalidArgument, "no results directory given", hint: "orbit-bench report RESULTS_DIR...")
            }
            guard out != nil || directories.count == 1 else {
                throw OrbitError(.invalidArgument, "several results directories need --out", at: "flag --out",
                                 hint: "name the directory report.md and report.csv go to")
            }
            let runs = try directories.map(ResultsDirectory.read)
            let rows = try Report.rows(runs)
            let md = Report.markdown(rows, runs: runs)
            let dir = out ?? directories[0]
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try write(md, to: dir + "/report.md")
            try write(Report.csv(rows), to: dir + "/report.csv")
            var plots: [Plotter.Plot] = []
            var plotNote: String?
            do { plots = try Plotter.plot(runs: runs, out: dir + "/plots") } catch let e as OrbitError { plotNote = e.message }
            try write(ReportPage.html(rows: rows, runs: runs, plots: plots, plotNote: plotNote), to: dir + "/report.html")
            print(md, terminator: "")
            if let plotNote { print("\nnote: report.html has no plots: \(plotNote)") }
            print("\nwritten: \(dir)/report.md, \(dir)/report.csv, \(dir)/report.html")
        }
    }
}

/// `orbit-bench compare A B`
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Each metric's ratio B/A with its spread and confidence intervals; exit status 1 when any metric regressed.",
        discussion: "A regression: higher latency or lower throughput beyond --threshold and, with repeats, 95% confidence intervals "
            + "of the medians that do not overlap. Refuses runs of different workloads or durability modes, or with no row in common, "
            + "unless --force. Exit status: 0 no regression; 1 a regression; 2 bad input or a refused comparison.")

    @Argument(help: "Baseline results directory.")
    var a: String

    @Argument(help: "Results directory compared with the baseline.")
    var b: String

    @Option(name: .long, help: "Change that counts, in percent (default 5).")
    var threshold: Double = 5

    @Option(name: .long, help: "Also write the comparison as CSV to this file.")
    var csv: String?

    @Flag(name: .long, help: "Compare even runs of different workloads or durability modes, or with no row in common.")
    var force = false

    func run() throws {
        var regressions = 0
        try guarded {
            guard threshold.isFinite, threshold >= 0, threshold < 1000 else {
                throw OrbitError(.invalidArgument, "--threshold \(threshold) is out of range", at: "flag --threshold",
                                 hint: "a percentage from 0 to 1000, e.g. --threshold 5")
            }
            let ra = try ResultsDirectory.read(a), rb = try ResultsDirectory.read(b)
            let outcome = try Compare.compare(ra, rb, threshold: threshold / 100, force: force)
            print(Compare.markdown(outcome, a: ra, b: rb), terminator: "")
            if let csv { try write(Compare.csv(outcome), to: csv) }
            regressions = outcome.regressions
        }
        if regressions > 0 { throw ExitCode(1) }
    }
}

func write(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw OrbitError(.io, "cannot write file", at: path, cause: .library("\(error)"))
    }
}

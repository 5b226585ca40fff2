import OrbitCore
public import Reports
import Foundation

/// `orbit-bench plot`: reads results directories, writes one gnuplot script per plot into the output
/// directory and runs gnuplot on each, leaving `<name>.gp`, `<name>.png` and `<name>.svg` side by side.
public enum Plotter {
    /// One drawn plot.
    public struct Plot: Sendable {
        public var name: String
        public var script: String
        public var png: String
        public var svg: String
    }

    /// The plot names `plot` can draw (spectra are one per operation type: latency-spectrum-<op>).
    public static let kinds = [
        "latency-spectrum-<op>", "throughput-over-time", "p99-over-time", "memory-over-time", "disk-over-time",
        "amplification", "crash-recovery-time", "crash-unsynced-lost",
    ]

    /// Default output: `<dir>/plots` for one directory; several need `out`.
    public static func defaultOutput(for directories: [String]) throws -> String {
        guard directories.count == 1 else {
            throw OrbitError(.invalidArgument, "several results directories need --out", at: "flag --out",
                             hint: "name the directory the combined plots go to, e.g. --out results/compare-plots")
        }
        return directories[0] + "/plots"
    }

    /// Draws every plot the directories have data for. Plots of several directories put all their
    /// series together (each labelled with its run id).
    @discardableResult
    public static func plot(directories: [String], out: String? = nil) throws -> [Plot] {
        guard !directories.isEmpty else {
            throw OrbitError(.invalidArgument, "no results directory given", hint: "orbit-bench plot RESULTS_DIR...")
        }
        let runs = try directories.map(ResultsDirectory.read)
        return try plot(runs: runs, out: out ?? defaultOutput(for: directories))
    }

    public static func plot(runs: [ResultsDirectory], out: String) throws -> [Plot] {
        let scripts = try PlotKinds.all(PlotKinds.Context(runs: runs))
        _ = try Gnuplot.executable()  // fail before writing anything when gnuplot is missing
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw OrbitError(.io, "cannot create the plots directory", at: out, cause: .library("\(error)"))
        }
        var plots: [Plot] = []
        for s in scripts {
            let gp = out + "/" + s.name + ".gp"
            do {
                try s.render().write(toFile: gp, atomically: true, encoding: .utf8)
            } catch {
                throw OrbitError(.io, "cannot write the gnuplot script", at: gp, cause: .library("\(error)"))
            }
            try Gnuplot.run(script: s.name + ".gp", in: out)
            plots.append(Plot(name: s.name, script: gp, png: out + "/" + s.name + ".png", svg: out + "/" + s.name + ".svg"))
        }
        return plots
    }
}

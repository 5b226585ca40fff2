import ArgumentParser
import Foundation
import OrbitCore
import Reports
import Workloads

/// `orbit-bench check RESULTS_DIR [--thresholds FILE]`: each alert threshold against the run; exit
/// status 1 when one is breached (the breaches listed), 2 for a malformed thresholds file.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Evaluate a results directory against alert thresholds (default: the origin's recommended values); exit status 1 on a breach.")

    @Argument(help: "A results directory (`orbit-bench run` wrote it).") var results: String
    @Option(help: "YAML thresholds file (metric: value, e.g. read_latency_p95: 10ms); default: the recommended thresholds.")
    var thresholds: String?
    @Flag(help: "Print the recommended thresholds as a YAML file and exit.") var printDefaults = false

    func run() throws {
        if printDefaults { print(Thresholds.recommendedYAML, terminator: ""); return }
        try guarded {
            let t = try thresholds.map { try Thresholds.load(path: $0) } ?? Thresholds.recommended
            if try !Self.evaluate(results, t) { throw ExitCode(1) }
        }
    }

    /// Prints the table and the breaches; false when a threshold is breached.
    static func evaluate(_ directory: String, _ t: Thresholds) throws -> Bool {
        let rows = try ThresholdCheck.evaluate(ResultsDirectory.read(directory), t)
        print(ThresholdCheck.render(rows), terminator: "")
        return !rows.contains(where: \.breached)
    }
}

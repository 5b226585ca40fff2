import ArgumentParser
import Foundation
import OrbitCore
import Reports
import Runner

/// `orbit-bench search-rate WORKLOAD --slo 'p99<=5ms'`: the highest open-loop target rate whose
/// intended latencies meet the SLO, by bisection over short runs (`Reports.RateSearch`).
struct SearchRateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-rate",
        abstract: "Find the highest target rate (open loop) whose intended latencies meet an SLO, by bisection over short runs.")

    @OptionGroup var workload: WorkloadOptions
    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("Latency bound on intended latency, e.g. 'p99<=5ms' or 'p50<=1ms,p99.9<20ms'.", valueName: "slo"))
    var slo: String

    @Option(name: .customLong("probe-s"), help: "Seconds of each probe's run phase.")
    var probeSeconds = 5.0

    @Option(name: .customLong("warmup-s"), help: "Seconds of warm-up before each probe's run phase.")
    var warmupSeconds = 1.0

    @Option(name: .long, help: "Stop when the highest passing and lowest failing rates are within this fraction.")
    var tolerance = 0.05

    @Option(name: .long, help: "Most probes (the closed-loop one included).")
    var maxProbes = 12

    @Option(name: .long, help: "Times a failing probe is run again (it passes if any run passes).")
    var retries = 1

    @Option(name: .long, help: "Results directory (default results/<stamp>-search-rate-<workload>): probe-<k>/ per probe, search-rate.csv.")
    var out: String?

    @Flag(name: .long, help: "Replace an earlier search in --out.")
    var overwrite = false

    @Flag(name: .long, help: "Show each probe's status line.")
    var status = false

    func run() throws {
        try guarded {
            let parsed = try LatencySLO(parsing: slo)
            let c = try options.build(workload: workload.workload, propertyFiles: workload.propertyFiles, properties: workload.properties)
            var search = RateSearch(configuration: c, slo: parsed)
            search.probeSeconds = probeSeconds
            search.warmupSeconds = warmupSeconds
            search.tolerance = tolerance
            search.maxProbes = maxProbes
            search.retries = retries
            search.outputDirectory = out
            search.overwrite = overwrite
            search.showStatus = status
            let outcome = try search.run { print($0); fflush(nil) }
            if outcome.answer == nil { throw ExitCode(1) }
        }
    }
}

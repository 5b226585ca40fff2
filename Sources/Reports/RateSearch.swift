public import OrbitCore
public import Runner
import Workloads
import Foundation

/// A latency bound on the intended latency (completion − scheduled start) of an open-loop run:
/// `p99<=5ms`, or several joined by commas, `p50<=1ms,p99.9<20ms,max<=1s`.
public struct LatencySLO: Sendable, CustomStringConvertible {
    public struct Clause: Sendable {
        /// 0-100; 100 is the maximum.
        public var percentile: Double
        public var limitNanos: UInt64
        /// `<` rather than `<=`.
        public var strict: Bool
        public var text: String

        public func holds(_ valueNanos: UInt64) -> Bool { strict ? valueNanos < limitNanos : valueNanos <= limitNanos }
    }

    public var clauses: [Clause]
    public var description: String { clauses.map(\.text).joined(separator: ",") }

    static let allowed = "one or more of pNN[.N] (or max) then <= or <, then a number with a unit (ns, us, µs, ms, s), joined by commas: 'p99<=5ms', 'p50<=1ms,p99.9<20ms' (p999 means p99.9, p9999 p99.99)"

    /// Parses the SLO text; `source` names where it came from in the error (exit status 2).
    public init(parsing text: String, source: String = "flag --slo") throws {
        func bad(_ why: String) -> OrbitError {
            OrbitError(.invalidArgument, "bad SLO '\(text)': \(why)", at: source, hint: "allowed: " + Self.allowed)
        }
        var out: [Clause] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let part = raw.filter { !$0.isWhitespace }
            guard !part.isEmpty else { throw bad("an empty clause") }
            guard let op = part.range(of: "<=") ?? part.range(of: "<") else { throw bad("'\(part)' has no <= or <") }
            let lhs = part[..<op.lowerBound].lowercased(), rhs = String(part[op.upperBound...])
            var percentile: Double
            if lhs == "max" {
                percentile = 100
            } else if lhs.hasPrefix("p"), let p = Double(lhs.dropFirst()), p > 0 {
                percentile = p
                // YCSB's and HdrHistogram's spellings: p999 is p99.9, p9999 p99.99.
                if !lhs.contains("."), p > 100, lhs.hasPrefix("p99") { percentile = Double("99." + lhs.dropFirst(3)) ?? p }
                guard percentile <= 100 else { throw bad("percentile '\(lhs)' is above 100") }
            } else {
                throw bad("'\(lhs)' is not a percentile")
            }
            let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
            guard let (unit, scale) = units.first(where: { rhs.hasSuffix($0.0) }),
                  let number = Double(rhs.dropLast(unit.count)), number > 0, number.isFinite else {
                throw bad("'\(rhs)' is not a positive number with a unit")
            }
            out.append(Clause(percentile: percentile, limitNanos: UInt64((number * scale).rounded()),
                              strict: part[op] == "<", text: part))
        }
        clauses = out
    }
}

/// `orbit-bench search-rate`: the highest target rate (open loop) whose intended latencies meet an SLO,
/// found by bisection over short runs, each with its own warm-up and a fresh store.
///
/// A closed-loop probe first gives the ceiling C (what the backend does flat out); the open-loop
/// probes then bisect between the highest rate that met the SLO (0 at first) and the lowest that did
/// not (C if it fails, else C doubled until one fails) until they are within `tolerance` of each
/// other. A probe passes when every clause holds on the run phase's intended latencies (all
/// operation types merged), the run was not SATURATED and it achieved at least 95% of the target;
/// a probe that failed though it achieved 90% of its target is run again `retries` times.
public struct RateSearch {
    public var configuration: Configuration
    public var slo: LatencySLO
    public var probeSeconds = 5.0
    public var warmupSeconds = 1.0
    /// Stop when the bracket is narrower than this fraction of its upper end.
    public var tolerance = 0.05
    public var maxProbes = 12
    /// A probe that fails though it achieved 90% of its target or more is run again this many times
    /// (it passes if any run passes): on a shared machine one slow spell must not end the search low.
    /// Above the capacity a probe cannot pass by luck, since it cannot achieve more than the backend does.
    public var retries = 1
    /// Each probe's results go to `<out>/probe-<k>`; the probes' table to `<out>/search-rate.csv`.
    public var outputDirectory: String?
    public var overwrite = false
    public var showStatus = false

    public struct Probe: Sendable {
        public var index: Int
        /// 0: the closed-loop probe.
        public var target: Double
        public var achieved: Double
        /// Each clause's measured value, ns.
        public var values: [UInt64]
        public var saturated: Bool
        public var maxLagNanos: UInt64
        public var passed: Bool
        public var directory: String
    }

    public struct Outcome: Sendable {
        public var probes: [Probe]
        /// The highest target that met the SLO (nil: none did).
        public var answer: Double?
        /// The lowest target that did not (nil: none was found failing).
        public var failedAbove: Double?
        public var directory: String
    }

    public init(configuration: Configuration, slo: LatencySLO) {
        self.configuration = configuration
        self.slo = slo
    }

    /// Runs the search, calling `log` with a line per probe and the answer.
    public func run(log: (String) -> Void) throws -> Outcome {
        let backends = configuration.backends
        guard backends.count == 1 else {
            throw OrbitError(.invalidArgument, "search-rate searches one backend at a time; \(backends.count) given (\(backends.joined(separator: ",")))",
                             at: "--backend", hint: "give exactly one --backend")
        }
        guard configuration.settings.string("data_dir").isEmpty else {
            throw OrbitError(.invalidArgument, "search-rate keeps each probe's store in the probe's results directory and deletes it after the probe",
                             at: "data_dir from \(configuration.settings.source("data_dir"))", hint: "drop --data-dir (and data_dir); use --out")
        }
        guard probeSeconds > 0, warmupSeconds >= 0, tolerance > 0, tolerance < 1, maxProbes >= 2, retries >= 0 else {
            throw OrbitError(.invalidArgument, "probe seconds must be > 0, warm-up >= 0, tolerance in (0, 1), at least 2 probes and retries >= 0",
                             at: "flags --probe-s --warmup-s --tolerance --max-probes --retries")
        }
        let backend = backends[0]
        let workload = try Workload(settings: configuration.settings, path: configuration.workloadPath)
        if workload.isMultiPhase {
            throw OrbitError(.invalidArgument, "search-rate probes one run phase at a time; this workload has phases",
                             at: configuration.settings.phases[0].source.location ?? configuration.workloadPath,
                             hint: "give search-rate a workload without 'phases'")
        }
        let out = outputDirectory ?? "results/\(RunStamp.now())-search-rate-\(workload.name)"
        try ResultsGuard.prepare(out, overwrite: overwrite, remove: false)
        // Every probe's configuration is checked before the first one runs.
        _ = try probeConfiguration(target: 1)
        try ResultsGuard.prepare(out, overwrite: overwrite, remove: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        var probes: [Probe] = []
        func probe(_ target: Double) throws -> Probe {
            let p = try runProbe(index: probes.count, target: target, backend: backend, out: out)
            probes.append(p)
            log(line(p))
            try writeFile(out + "/search-rate.csv", csv(probes))
            return p
        }
        let ceiling = try probe(0).achieved
        guard ceiling > 0 else {
            throw OrbitError(.engine, "the closed-loop probe completed no operation", at: out + "/probe-0")
        }
        var lo = 0.0
        var hi: Double?
        var next = ceiling.rounded()
        while probes.count < maxProbes {
            var p = try probe(next)
            var again = 0
            // A clear overload (under 90% of the target achieved) is not noise: no second run.
            while !p.passed, p.achieved >= 0.9 * next, again < retries, probes.count < maxProbes {
                p = try probe(next)
                again += 1
            }
            if p.passed { lo = next } else { hi = next }
            guard let h = hi else {
                next = (lo * 2).rounded()  // the ceiling met the SLO: look higher
                continue
            }
            if h - lo <= tolerance * h { break }
            let mid = ((lo + h) / 2).rounded()
            if mid <= lo || mid >= h { break }
            next = mid
        }
        let outcome = Outcome(probes: probes, answer: lo > 0 ? lo : nil, failedAbove: hi, directory: out)
        if let a = outcome.answer {
            log("search-rate: \(formatDouble(a, decimals: 0)) ops/s is the highest target meeting \(slo) on \(backend)"
                + (hi.map { " (\(formatDouble($0, decimals: 0)) ops/s did not)" } ?? " (the last probe; higher rates were not tried)")
                + "; \(probes.count) probes; results: \(out)")
        } else {
            log("search-rate: no target met \(slo) on \(backend), down to \(formatDouble(hi ?? 0, decimals: 0)) ops/s; \(probes.count) probes; results: \(out)")
        }
        return outcome
    }

    /// The workload of one probe: the target (0: closed loop), a duration and a warm-up of their own.
    func probeConfiguration(target: Double) throws -> Configuration {
        var c = configuration
        for (name, value) in [("target_ops_s", formatDouble(target, decimals: 3)), ("duration_s", formatDouble(probeSeconds, decimals: 3)),
                              ("operation_count", "0"), ("warmup_s", formatDouble(warmupSeconds, decimals: 3)), ("warmup_ops", "0"),
                              ("repeat", "1"), ("warmup_repeats", "0"), ("plots", "false")] {
            try c.set(name, value)
        }
        return c
    }

    func runProbe(index: Int, target: Double, backend: String, out: String) throws -> Probe {
        var session = BenchmarkSession(configuration: try probeConfiguration(target: target))
        let dir = out + "/probe-\(index)"
        session.outputDirectory = dir
        session.showStatus = showStatus
        let result = try session.run()
        // The probe's store was made by this probe, in its own directory: deleted (its results stay).
        try StoreGuard.removeStore(backend, directory: dir + "/data/" + backend, flagHint: "--out")
        let b = result.backends[0]
        if let e = b.errors.first {
            throw OrbitError(.engine, "probe \(index) (\(target == 0 ? "closed loop" : formatDouble(target, decimals: 0) + " ops/s")) failed: \(e)", at: dir)
        }
        let run = b.operations.filter { $0.phase == "run" }
        var merged = makeLatencyHistogram()
        for op in run { merged.add(op.intended) }
        let values = slo.clauses.map { $0.percentile >= 100 ? merged.max : merged.valueAtPercentile($0.percentile) }
        // Open loop: over the schedule's window (TargetOutcome); the closed-loop probe: over the run phase.
        let achieved = b.target?.achieved ?? (b.runSeconds > 0 ? Double(run.reduce(0) { $0 + $1.count }) / b.runSeconds : 0)
        let meets = zip(slo.clauses, values).allSatisfy { $0.holds($1) }
        let saturated = b.target?.saturated ?? false
        return Probe(index: index, target: target, achieved: achieved, values: values, saturated: saturated,
                     maxLagNanos: b.target?.maxLagNanos ?? 0,
                     passed: target > 0 && meets && !saturated && achieved >= 0.95 * target, directory: dir)
    }

    func line(_ p: Probe) -> String {
        let figures = zip(slo.clauses, p.values).map { c, v in
            "\(c.text.prefix { $0 != "<" }) \(formatDouble(Double(v) / 1e6, decimals: 3)) ms"
        }.joined(separator: ", ")
        guard p.target > 0 else {
            return "probe \(p.index): closed loop → \(formatDouble(p.achieved, decimals: 0)) ops/s, \(figures) (the ceiling)"
        }
        let verdict = p.passed ? "meets \(slo)" : (p.saturated ? "SATURATED" : "misses \(slo)")
        return "probe \(p.index): target \(formatDouble(p.target, decimals: 0)) ops/s → achieved \(formatDouble(p.achieved, decimals: 0)) ops/s, "
            + "intended \(figures), lag up to \(formatDouble(Double(p.maxLagNanos) / 1e6, decimals: 1)) ms: \(verdict)"
    }

    func csv(_ probes: [Probe]) -> String {
        var out = CSV.row(["probe", "target_ops_s", "achieved_ops_s"] + slo.clauses.map { "intended_\($0.text.prefix { $0 != "<" })_us" }
            + ["saturated", "max_schedule_lag_ms", "passed", "results"])
        for p in probes {
            out += CSV.row([String(p.index), formatDouble(p.target, decimals: 1), formatDouble(p.achieved, decimals: 1)]
                + p.values.map { formatDouble(Double($0) / 1000, decimals: 3) }
                + [String(p.saturated), formatDouble(Double(p.maxLagNanos) / 1e6, decimals: 3), String(p.passed), p.directory])
        }
        return out
    }

    func writeFile(_ path: String, _ text: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw OrbitError(.io, "cannot write results file", at: path, cause: .library("\(error)"))
        }
    }
}

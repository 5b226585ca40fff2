import OrbitCore
public import Runner
import Foundation

/// `orbit-bench crash` as a library call: runs every crash method of the workload on every backend,
/// streams crash.csv, and writes crash-summary.txt and summary.json into results/<run-id>/.
///
/// ```swift
/// var c = Configuration()
/// try c.applyWorkloadFile(path: "workloads/crash-recovery.yaml")
/// try c.applyFlags(sets: ["cycles=20"], backends: ["lsm"], dataDir: nil)
/// let outcome = try CrashExperiment(configuration: c).run()
/// ```
public struct CrashExperiment: Sendable {
    public var configuration: Configuration
    /// Results directory (default results/<run-id>).
    public var outputDirectory: String?
    /// Progress lines (a line per engine and method, every tenth of a sweep, every broken cycle).
    public var progress: (@Sendable (String) -> Void)?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public struct Outcome: Sendable {
        public var runId: String
        public var outputDirectory: String
        public var records: [CrashRecord]
        public var rows: [CrashSummaryRow]
        /// The summary table and the promise per engine and mode (crash-summary.txt).
        public var summaryText: String
        public var anyBroken: Bool { rows.contains { !$0.held } }
    }

    /// The exit status of `orbit-bench crash` when a promise was broken (2 is bad input, 1 a failure).
    public static let brokenExitStatus: Int32 = 3

    /// Checks everything that can be checked before anything runs or is written.
    public func prepare() throws -> (plan: CrashPlan, backends: [String], methods: [CrashRecord.Method]) {
        let s = configuration.settings
        let plan = try CrashPlan(settings: s)
        let backends = configuration.backends
        guard !backends.isEmpty else {
            throw OrbitError(.invalidConfig, "no backend to crash", at: "backends from \(s.source("backends"))",
                             hint: "give --backend rocksdb|lsm|cow|lmdb or backends: in the workload")
        }
        for m in plan.methods where CrashMethods.sweep(for: m) == nil {
            throw OrbitError(.invalidConfig, "method \(m.rawValue) is not in this build", at: "crash_methods from \(s.source("crash_methods"))",
                             hint: "available: " + CrashMethods.available.map(\.rawValue).joined(separator: ", "))
        }
        let needsDurable = plan.methods.contains { CrashMethods.sweep(for: $0)!.needsDurableEngine }
        for b in backends {
            guard !needsDurable || Engines.isDurable(b) else {
                throw OrbitError(.invalidConfig, "backend \(b) keeps nothing after its process ends: there is nothing to recover",
                                 at: "backends from \(s.source("backends"))", hint: "crash the durable backends: rocksdb, lsm, cow, lmdb")
            }
            // A method an engine does not support is refused before anything runs (bad input).
            for m in plan.methods where !CrashMethods.sweep(for: m)!.supports(engine: b) {
                let engines = Engines.names().filter { CrashMethods.sweep(for: m)!.supports(engine: $0) }
                throw OrbitError(.invalidConfig, "method \(m.rawValue) does not apply to backend \(b)",
                                 at: "crash_methods from \(s.source("crash_methods")), backends from \(s.source("backends"))",
                                 hint: "\(m.rawValue) runs on: " + engines.joined(separator: ", ")
                                     + (m == .kill && ServerKillSweep.supports(engine: b) ? "; a server backend's crash is --method server-kill" : ""))
            }
            try Engines.validate(b, settings: s)
        }
        // A differential replay file is read before anything is written (a bad one is bad input).
        if plan.methods.contains(.differential), let file = DifferentialSweep.Plan(settings: s).replay {
            _ = try DifferentialSweep.readReplay(file)
        }
        return (plan, backends, plan.methods)
    }

    public func run() throws -> Outcome {
        let (plan, backends, methods) = try prepare()
        let s = configuration.settings
        let stamp = Self.timestamp()
        let runId = "\(stamp)-\(s.string("name"))"
        let out = outputDirectory ?? "results/\(runId)"
        let configured = s.string("data_dir")
        let dataRoot = configured.isEmpty ? out + "/data" : configured
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        } catch {
            throw OrbitError(.io, "cannot create the results directory", at: out, cause: .library("\(error)"))
        }
        let env = EnvironmentInfo.capture(dataDirectory: dataRoot)
        let started = Date()
        let csvPath = out + "/crash.csv"
        guard FileManager.default.createFile(atPath: csvPath, contents: Data(CrashCSV.row(CrashRecord.csvColumns).utf8)),
              let csv = FileHandle(forWritingAtPath: csvPath) else {
            throw OrbitError(.io, "cannot write crash.csv", at: csvPath)
        }
        defer { try? csv.close() }
        try csv.seekToEnd()
        var records: [CrashRecord] = []
        var corruptionSummaries: [CorruptionSummary] = []
        var corruptionFile: FileHandle? = nil
        defer { try? corruptionFile?.close() }
        func corruptionCSV(_ out: String) throws -> FileHandle {
            if let f = corruptionFile { return f }
            let path = out + "/corruption.csv"
            guard FileManager.default.createFile(atPath: path, contents: Data(CorruptionCSV.header.utf8)),
                  let f = FileHandle(forWritingAtPath: path) else { throw OrbitError(.io, "cannot write corruption.csv", at: path) }
            try f.seekToEnd()
            corruptionFile = f
            return f
        }
        let durability = s.durability()
        for backend in backends {
            for method in methods {
                let sweep = CrashMethods.sweep(for: method)!
                guard sweep.supports(engine: backend) else {
                    progress?("\(backend) \(method.rawValue): not supported for this engine, skipped")
                    continue
                }
                let context = CrashSweepContext(engine: backend, durability: durability, settings: s, seed: UInt64(s.int("seed")),
                                                count: plan.cycles, workDirectory: dataRoot + "/\(backend)/\(method.rawValue)",
                                                recordCount: plan.recordCount, valueSize: plan.valueSize)
                try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
                progress?("\(backend) \(durability) \(method.rawValue): \(plan.cycles) cycles, seed \(context.seed)")
                let step = max(1, plan.cycles / 10)
                var n = 0
                func record(_ r: CrashRecord) {
                    records.append(r)
                    csv.write(Data(CrashCSV.row(r.csvCells).utf8))
                    n += 1
                    if r.verdict == .broken {
                        progress?("  BROKEN: \(backend) \(method.rawValue) cycle \(r.cycle) \(r.crashPointOrTime): \(r.detail)")
                    } else if n % step == 0 {
                        progress?("  \(backend) \(method.rawValue): \(n)/\(plan.cycles) cycles, last recovery \(formatDouble(r.recoveryMs, decimals: 2)) ms")
                    }
                }
                if method == .corruption {
                    // Every probe to corruption.csv; the crash records are one per file type.
                    let probes = try corruptionCSV(out)
                    let summary = try CorruptionSweep.sweep(context, options: CorruptionSweep.options(for: context)) { p in
                        probes.write(Data(CorruptionCSV.row(p).utf8))
                    }
                    corruptionSummaries.append(summary)
                    for r in summary.records() { record(r) }
                } else {
                    try sweep.run(context) { r in record(r) }
                }
            }
        }
        let rows = CrashSummaryRow.rows(records)
        var text = CrashSummaryRow.table(rows)
        text += "\npromises (durabilityPromise(for:)), verdict per engine and mode:\n"
        var seen = Set<String>()
        for r in rows where seen.insert(r.engine + r.durability).inserted {
            let mode = DurabilityMode(parsing: r.durability) ?? durability
            let broken = rows.filter { $0.engine == r.engine && $0.durability == r.durability }.reduce(0) { $0 + $1.broken }
            text += "  \(r.engine) \(r.durability): \(Engines.durabilityPromise(r.engine, mode)) — \(broken == 0 ? "held" : "BROKEN")\n"
        }
        text += Self.serverKillLines(rows, records)
        text += Self.nodeKillLines(records)
        if !corruptionSummaries.isEmpty {
            text += "\ncorruption sweep (every probe in corruption.csv; detection rate over checksummed regions):\n"
            text += CorruptionSummary.renderTable(corruptionSummaries)
        }
        text += "\nseed \(s.int("seed")); a kill must lose nothing acknowledged (every durable engine promises at least process-crash);"
            + " lost_unsynced counts acknowledged writes that were not yet synced.\n"
        try text.write(toFile: out + "/crash-summary.txt", atomically: true, encoding: .utf8)
        let outcome = Outcome(runId: runId, outputDirectory: out, records: records, rows: rows, summaryText: text)
        try writeSummaryJSON(outcome, env: env, started: started, backends: backends, durability: durability,
                             to: out + "/summary.json")
        return outcome
    }

    func writeSummaryJSON(_ o: Outcome, env: EnvironmentInfo, started: Date, backends: [String], durability: DurabilityMode,
                          to path: String) throws {
        let s = configuration.settings
        func json(_ v: KnobValue) -> Any {
            switch v {
            case .int(let i): i
            case .double(let d): d
            case .bool(let b): b
            case .string(let t): t
            }
        }
        let root: [String: Any] = [
            "schema": 1,
            "kind": "crash",
            "run_id": o.runId,
            "started_at_ms": Int(started.timeIntervalSince1970 * 1000),
            "seconds": Date().timeIntervalSince(started),
            "workload": ["name": s.string("name"), "description": s.string("description"),
                         "path": configuration.workloadPath ?? NSNull(), "seed": s.int("seed")] as [String: Any],
            "seed": s.int("seed"),
            "effective_config": s.entries.map { ["name": $0.name, "value": json($0.value), "source": $0.source.description] as [String: Any] },
            "environment": ([
                "cpu_model": env.cpuModel, "cores": env.cores, "memory_bytes": env.memoryBytes, "kernel": env.kernel,
                "hostname": env.hostname, "data_dir_filesystem": env.dataDirFilesystem, "swift": env.swiftVersion,
                "build": env.buildConfiguration, "allocator": env.allocator, "git_commit": env.gitCommit,
            ] as [String: Any]).merging(env.libraryVersionFields) { a, _ in a },
            "backends": backends.map { b -> [String: Any] in
                ["backend": b, "durability": durability.description,
                 "durability_promise": Engines.durabilityPromise(b, durability).description]
            },
            "crash": o.rows.map { r -> [String: Any] in
                var d = Dictionary(uniqueKeysWithValues: zip(CrashSummaryRow.columns, r.cells.map { $0 as Any }))
                d["held"] = r.held
                return d
            },
            "promises_held": !o.anyBroken,
            "node_kill": Self.unavailability(o.records).map { u -> [String: Any] in
                ["engine": u.engine, "durability": u.durability, "cycles": u.cycles, "violations": u.violations,
                 "unavailable_write_p50_ms": u.write.p50, "unavailable_write_p99_ms": u.write.p99, "unavailable_write_max_ms": u.write.max,
                 "unavailable_read_p50_ms": u.read.p50, "unavailable_read_p99_ms": u.read.p99, "unavailable_read_max_ms": u.read.max]
            },
        ]
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        try (String(decoding: data, as: UTF8.self) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func timestamp() -> String { RunStamp.now() }

    /// node-kill's unavailability per engine and mode: p50, p99 (nearest rank) and max of the
    /// kill-to-write and kill-to-read times of its cycles, and the cycles with a violation.
    struct Unavailability {
        var engine: String
        var durability: String
        var cycles: Int
        var violations: Int
        var write: (p50: Double, p99: Double, max: Double)
        var read: (p50: Double, p99: Double, max: Double)
    }

    static func unavailability(_ records: [CrashRecord]) -> [Unavailability] {
        var order: [String] = []
        var groups: [String: [CrashRecord]] = [:]
        for r in records where r.method == .nodeKill {
            let k = r.engine + "|" + r.durability
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(r)
        }
        func stats(_ v: [Double]) -> (p50: Double, p99: Double, max: Double) {
            let s = v.sorted()
            guard !s.isEmpty else { return (0, 0, 0) }
            func rank(_ q: Double) -> Double { s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))] }
            return (rank(0.5), rank(0.99), s.last!)
        }
        return order.map { k in
            let rs = groups[k]!
            return Unavailability(engine: rs[0].engine, durability: rs[0].durability, cycles: rs.count,
                                  violations: rs.filter { $0.verdict == .broken }.count,
                                  write: stats(rs.compactMap(\.unavailableWriteMs)), read: stats(rs.compactMap(\.unavailableReadMs)))
        }
    }

    static func nodeKillLines(_ records: [CrashRecord]) -> String {
        let u = unavailability(records)
        guard !u.isEmpty else { return "" }
        func f(_ v: Double) -> String { formatDouble(v, decimals: 1) }
        var text = "\nnode kills (unavailability: from the kill to the first acknowledged write / successful read begun after it, ms):\n"
        for x in u {
            text += "  \(x.engine) \(x.durability): \(x.cycles) kills, \(x.violations) violations; write p50 \(f(x.write.p50)) p99 \(f(x.write.p99)) max \(f(x.write.max)); "
                + "read p50 \(f(x.read.p50)) p99 \(f(x.read.p99)) max \(f(x.read.max))\n"
        }
        return text
    }

    /// The server-kill rows' losses: acknowledged writes lost (records and operations), batches lost
    /// whole, and the oldest lost write's age at the kill (from each record's `detail`).
    static func serverKillLines(_ rows: [CrashSummaryRow], _ records: [CrashRecord]) -> String {
        let mine = rows.filter { $0.method == CrashRecord.Method.serverKill.rawValue }
        guard !mine.isEmpty else { return "" }
        func field(_ detail: String, _ name: String) -> Double? {
            guard let range = detail.range(of: name + "=") else { return nil }
            return Double(detail[range.upperBound...].prefix { $0 != ";" })
        }
        var text = "\nserver kills (a lost acknowledged write breaks the promise only where it keeps acknowledged writes over a process crash):\n"
        for r in mine {
            let rs = records.filter { $0.engine == r.engine && $0.durability == r.durability && $0.method == .serverKill }
            let lostRecords = rs.reduce(0) { $0 + $1.lostSynced + $1.lostUnsynced }
            let lostOps = rs.compactMap { field($0.detail, "lost_acked_ops") }.reduce(0, +)
            let lostBatches = rs.compactMap { field($0.detail, "lost_batches") }.reduce(0, +)
            let cycles = rs.filter { (field($0.detail, "lost_acked_ops") ?? 0) > 0 }.count
            let oldest = rs.compactMap { field($0.detail, "oldest_lost_age_ms") }.max()
            text += "  \(r.engine) \(r.durability): \(r.cycles) kills, \(Int(lostOps)) acknowledged operations lost (\(lostRecords) records) in \(cycles) kills, "
                + "\(Int(lostBatches)) batches lost whole, oldest lost write \(oldest.map { formatDouble($0, decimals: 1) + " ms" } ?? "-") before the kill; "
                + "recovery p50 \(formatDouble(r.recoveryP50Ms, decimals: 1)) ms, max \(formatDouble(r.recoveryMaxMs, decimals: 1)) ms\n"
        }
        return text
    }
}

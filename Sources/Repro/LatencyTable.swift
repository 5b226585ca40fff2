import OrbitCore
import Runner
import Foundation
import Plots
import Reports
import Workloads

/// `orbit-bench repro latency-table`: the origin's backend comparison table (write latency, read latency,
/// memory, disk, CPU, crash recovery), measured on this machine with the lease workload, beside the
/// origin's published figures and a note on how each side was measured.
public struct LatencyTable {
    /// The origin's published figures (its README's table), by backend.
    public struct Published: Sendable {
        public var engine: String
        public var write: String
        public var read: String
        public var memory: String
        public var disk: String
        public var cpu: String
        public var recovery: String
    }

    /// The origin's published figures, under the origin's own backend names (the seeds' spellings,
    /// which the registry takes as aliases: `EngineRegistry.canonicalName`), in the origin's order.
    static let publishedByOriginName: [(origin: String, figures: Published)] = [
        ("CowBTree", Published(engine: "COW B+ Tree", write: "~41 µs", read: "<1 µs", memory: "Low", disk: "Low", cpu: "Low", recovery: "WAL Replay")),
        ("LsmTree", Published(engine: "LSM-Tree", write: "~38 µs", read: "~0.3 µs", memory: "Medium", disk: "Medium (write amp)",
                              cpu: "Medium (compaction)", recovery: "WAL + SSTable")),
        ("RocksDB", Published(engine: "RocksDB", write: "~53 µs", read: "~19 µs", memory: "High", disk: "High (write amp)", cpu: "High",
                              recovery: "Built-in")),
    ]

    /// The origin's published figures (its README's table), by backend.
    public static var published: [String: Published] {
        Dictionary(uniqueKeysWithValues: publishedByOriginName.map { (Engines.canonicalName($0.origin), $0.figures) })
    }

    /// A backend's column title: its display name (`EngineDescriptor.displayName`), "(reference)" for an
    /// engine the origin's table does not have.
    public static func engineName(_ backend: String) -> String {
        guard let d = try? Engines.descriptor(backend) else { return backend }
        return published[d.name] == nil ? d.displayName + " (reference)" : d.displayName
    }

    /// The origin's engines, then every other built-in engine as a reference, in registry order.
    public static var defaultBackends: [String] {
        let origin = publishedByOriginName.map { Engines.canonicalName($0.origin) }
        return origin + Engines.builtinNames.filter { !origin.contains($0) }
    }

    /// What the origin called write and read latency: storing a lease and getting one.
    public static let writeOp = "lease_store"
    public static let readOp = "lease_get"

    /// The workload, as `--set` assignments (so the crash worker gets exactly the same one). Sized so
    /// that `--repeat 3` on five backends, with the kill-recovery cycles, stays well under 10 minutes on
    /// a loaded 2-core machine.
    public static func workloadSets(recordCount: Int, operationCount: Int) -> [String] {
        [
            "name=latency-table",
            "description=the origin's latency table: actor leases - 50% get, 30% store, 20% renew (lease-churn's key pattern)",
            "record_count=\(recordCount)", "operation_count=\(operationCount)", "warmup_ops=\(max(1000, operationCount / 10))",
            "threads=1", "seed=42", "key_size=16", "key_distribution.type=zipfian", "key_distribution.constant=0.99",
            "lease.actor_types=8", "lease.nodes=16", "lease.duration_ms=30000",
            "mix.lease_get=0.5", "mix.lease_store=0.3", "mix.lease_renew=0.2",
            "interval_s=0.1", "metrics_sample_rate=0.01",
        ]
    }

    public var repeats = 3
    public var warmupRepeats = 1
    public var backends = defaultBackends
    public var durabilities = ["none"]
    public var recordCount = 50_000
    public var operationCount = 200_000
    public var out = "results/latency-table"
    /// This binary, for the crash worker (nil: no kill-recovery cycles).
    public var executable: String?
    /// Extra `--set` assignments (engine knobs), after the workload's.
    public var extraSets: [String] = []
    public var showStatus = true
    public var plots = true
    /// Leave out the bulky files once the table and plots are made: `repeats/`, metrics.csv and the
    /// interval-*.csv histograms (for a small set to commit).
    public var slim = false

    public init() {}

    /// One measured column: a backend in a durability mode.
    public struct Column: Sendable {
        public var backend: String
        public var durability: String
        public var repeats: Int
        public var write: SummaryRow?
        public var read: SummaryRow?
        /// Median, min, max over the repeats.
        public var engineMemory: (Double, Double, Double)
        /// Process heap growth during the run (peak - start).
        public var heapGrowth: (Double, Double, Double)
        public var disk: (Double, Double, Double)
        /// CPU time / wall time of the backend's run (open to close), percent of one core.
        public var cpuPercent: (Double, Double, Double)
        /// CPU time / operations (load + warm-up + run), µs.
        public var cpuMicrosPerOp: (Double, Double, Double)
        public var recovery: [KillRecovery.Cycle]
        public var runId: String
    }

    public struct Outcome: Sendable {
        public var columns: [Column]
        public var markdown: String
        public var csv: String
        public var runDirectories: [String]
        public var plots: [Plotter.Plot]
        public var seconds: Double
    }

    public func run() throws -> Outcome {
        let started = MonotonicClock.nanoseconds()
        guard repeats >= 1, warmupRepeats >= 0 else {
            throw OrbitError(.invalidArgument, "--repeat must be at least 1 and --warmup-repeats at least 0", at: "flags --repeat --warmup-repeats")
        }
        for d in durabilities where DurabilityMode(parsing: d) == nil {
            throw OrbitError(.invalidArgument, "unknown durability mode '\(d)'", at: "flag --durability \(d)", hint: "allowed: " + DurabilityMode.allowedSpellings)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var columns: [Column] = []
        var dirs: [String] = []
        for mode in durabilities {
            let runDir = out + "/run-" + mode.replacing(":", with: "-")
            if FileManager.default.fileExists(atPath: runDir) { try POSIXFileSystem().removeTree(runDir) }
            let sets = Self.workloadSets(recordCount: recordCount, operationCount: operationCount) + ["durability=\(mode)"] + extraSets
            var c = Configuration()
            try c.applyFlags(sets: sets + ["repeat=\(repeats)", "warmup_repeats=\(warmupRepeats)"], backends: backends, dataDir: nil)
            var session = BenchmarkSession(configuration: c)
            session.outputDirectory = runDir
            session.dataPolicy = .fresh
            session.showStatus = showStatus
            let result = try session.run()
            dirs.append(runDir)

            // Kill-recovery cycles: one per measured repeat for every backend that keeps a store.
            var cycles: [String: [KillRecovery.Cycle]] = [:]
            if let executable {
                for k in 1...repeats {
                    for b in backends where Engines.isDurable(b) {
                        if showStatus { FileHandle.standardError.write(Data("orbit-bench: crash recovery \(b) \(k)/\(repeats) (SIGKILL of a worker)\n".utf8)) }
                        let dir = runDir + "/crash-data/" + b
                        try? POSIXFileSystem().removeTree(dir)
                        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                        cycles[b, default: []].append(try KillRecovery.cycle(executable: executable, backend: b, directory: dir,
                                                                             sets: sets, settings: result.settings))
                        try? POSIXFileSystem().removeTree(dir)
                    }
                }
                try? POSIXFileSystem().removeTree(runDir + "/crash-data")
                try crashCSV(cycles, backends: backends).write(toFile: runDir + "/crash.csv", atomically: true, encoding: .utf8)
            }
            // The stores of the last repeat are not part of the result set.
            try? POSIXFileSystem().removeTree(runDir + "/data")

            let rows = SummaryRow.rows(result)
            let reps = result.repeats.count > 1 ? result.repeats.map(\.backends) : [result.backends]
            for (i, b) in result.backends.enumerated() {
                func spread(_ f: (BackendRun) -> Double) -> (Double, Double, Double) {
                    let v = reps.map { f($0[i]) }
                    return (SummaryRow.median(v), v.min() ?? 0, v.max() ?? 0)
                }
                columns.append(Column(
                    backend: b.backend, durability: b.durability.description, repeats: reps.count,
                    write: rows.first { $0.backend == b.backend && $0.phase == "run" && $0.operation == Self.writeOp },
                    read: rows.first { $0.backend == b.backend && $0.phase == "run" && $0.operation == Self.readOp },
                    engineMemory: spread { Double($0.finalStats.memoryUsageBytes) },
                    heapGrowth: spread { Double($0.heapGrowthBytes) },
                    disk: spread { Double($0.finalStats.diskUsageBytes) },
                    cpuPercent: spread { $0.wallSeconds > 0 ? 100 * $0.cpuSeconds / $0.wallSeconds : 0 },
                    cpuMicrosPerOp: spread { b in
                        let ops = b.operations.reduce(0) { $0 + $1.count } + UInt64(result.workload.warmupOps * result.workload.threads)
                        return ops > 0 ? b.cpuSeconds * 1e6 / Double(ops) : 0
                    },
                    recovery: cycles[b.backend] ?? [], runId: result.runId))
            }
        }
        var plots: [Plotter.Plot] = []
        if self.plots {
            plots = try Plotter.plot(directories: dirs, out: out + "/plots")
        }
        if slim {
            for dir in dirs {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                for f in files where f == "repeats" || f == "metrics.csv" || (f.hasPrefix("interval-") && (f.hasSuffix(".csv") || f.hasSuffix(".hlog"))) {
                    try POSIXFileSystem().removeTree(dir + "/" + f)
                }
            }
        }
        let seconds = Double(MonotonicClock.nanoseconds() - started) / 1e9
        let md = markdown(columns, seconds: seconds)
        let csv = Self.csv(columns)
        try md.write(toFile: out + "/table.md", atomically: true, encoding: .utf8)
        try csv.write(toFile: out + "/table.csv", atomically: true, encoding: .utf8)
        return Outcome(columns: columns, markdown: md, csv: csv, runDirectories: dirs, plots: plots, seconds: seconds)
    }

    /// crash.csv (the CrashLab columns) of the kill-recovery cycles, so `plot` draws recovery time
    /// against store size. Counts the parent cannot know are left empty, never made up.
    func crashCSV(_ cycles: [String: [KillRecovery.Cycle]], backends: [String]) -> String {
        var out = CSV.row(["cycle", "engine", "durability", "method", "crash_point_or_time", "ops_acknowledged", "ops_synced",
                           "ops_recovered", "lost_synced", "lost_unsynced", "resurrected", "recovery_ms", "verdict", "store_bytes", "detail"])
        var n = 0
        for b in backends {
            for c in cycles[b] ?? [] {
                n += 1
                let ok = c.error == nil && c.found
                out += CSV.row([String(n), c.backend, c.durability, "kill", "after workload + \(c.writesAfterWorkload) lease stores",
                                "", "", "", "", "", "", formatDouble(c.recoveryMs, decimals: 3), ok ? "ok" : "broken", String(c.storeBytes),
                                c.error ?? (c.found ? "first read (lease a0) served" : "lease a0 stored by the load phase was not found")])
            }
        }
        return out
    }

    // MARK: - Rendering

    static func us(_ r: SummaryRow?, _ f: SummaryRow.Figure) -> String {
        guard let r else { return "—" }
        return spread((r.median(f), r.min(f), r.max(f)), decimals: 2, unit: " µs")
    }

    /// "median unit (min–max)"; the range only when the repeats differ at this precision.
    static func spread(_ v: (Double, Double, Double), scale: Double = 1, decimals: Int, unit: String) -> String {
        let m = formatDouble(v.0 / scale, decimals: decimals)
        let lo = formatDouble(v.1 / scale, decimals: decimals), hi = formatDouble(v.2 / scale, decimals: decimals)
        return lo == hi ? m + unit : "\(m)\(unit) (\(lo)–\(hi))"
    }

    static func mib(_ v: (Double, Double, Double), repeats: Int) -> String {
        spread(v, scale: 1_048_576, decimals: 1, unit: " MiB")
    }

    static func recovery(_ c: Column) -> String {
        guard Engines.isDurable(c.backend) else { return "n/a (nothing survives a process exit)" }
        guard !c.recovery.isEmpty else { return "not measured" }
        let ms = c.recovery.map(\.recoveryMs)
        let broken = c.recovery.filter { $0.error != nil || !$0.found }.count
        var s = formatDouble(SummaryRow.median(ms), decimals: 2) + " ms"
        if ms.count > 1 { s += " (\(formatDouble(ms.min()!, decimals: 2))–\(formatDouble(ms.max()!, decimals: 2)))" }
        if broken > 0 { s += " — \(broken) of \(ms.count) reopen(s) FAILED or lost the first lease" }
        return s
    }

    func markdown(_ columns: [Column], seconds: Double) -> String {
        var s = "# The origin's latency table, reproduced on this machine\n\n"
        let reps = columns.first?.repeats ?? repeats
        s += "Workload `latency-table`: \(recordCount) actor leases stored by the load phase, then \(operationCount) lease operations "
        s += "(50% get, 30% store, 20% renew; zipfian 0.99 over the leases), 1 client thread, seed 42, "
        s += "\(max(1000, operationCount / 10)) warm-up operations per backend run. "
        s += "Medians of \(reps) measured repeat\(reps == 1 ? "" : "s") (\(warmupRepeats) warm-up repeat\(warmupRepeats == 1 ? "" : "s") not counted), "
        s += "backends interleaved in each repeat, a fresh store each; (min–max) over the repeats. Took \(formatDouble(seconds, decimals: 0)) s.\n\n"
        s += "## Measured, in the origin's layout\n\n"
        s += "| Feature | " + columns.map { "\(Self.engineName($0.backend)) `\($0.backend)`" }.joined(separator: " | ") + " |\n"
        s += "|---|" + columns.map { _ in "---|" }.joined() + "\n"
        func row(_ title: String, _ cell: (Column) -> String) {
            s += "| \(title) | " + columns.map(cell).joined(separator: " | ") + " |\n"
        }
        row("**Durability mode**") { "`\($0.durability)`" }
        row("**Write latency** (lease store, p50)") { Self.us($0.write, .p50) }
        row("Write latency p99") { Self.us($0.write, .p99) }
        row("**Read latency** (lease get, p50)") { Self.us($0.read, .p50) }
        row("Read latency p99") { Self.us($0.read, .p99) }
        row("**Memory usage** (engine's own accounting, end of run)") { c in
            let d = try? Engines.descriptor(c.backend)
            return Self.mib(c.engineMemory, repeats: c.repeats) + (d?.memoryAccountNote.map { " (\(d!.displayName): \($0))" } ?? "")
        }
        row("Process heap growth during the run (peak − start, jemalloc; harness included)") { Self.mib($0.heapGrowth, repeats: $0.repeats) }
        row("**Disk usage** (engine's files, end of run)") { Self.mib($0.disk, repeats: $0.repeats) }
        row("**CPU usage** (process CPU time / wall time, % of one core)") { Self.spread($0.cpuPercent, decimals: 0, unit: "%") }
        row("CPU time per operation (load + warm-up + run)") { Self.spread($0.cpuMicrosPerOp, decimals: 1, unit: " µs") }
        row("**Crash recovery** (reopen + first read after SIGKILL)") { Self.recovery($0) }
        row("Reopen + first read after a clean close (for comparison)") { c in
            let ms = c.recovery.compactMap(\.cleanReopenMs)
            guard !ms.isEmpty else { return Engines.isDurable(c.backend) ? "—" : "n/a" }
            return Self.spread((SummaryRow.median(ms), ms.min()!, ms.max()!), decimals: 2, unit: " ms")
        }
        s += "\n## The origin's published figures\n\n"
        s += "| Feature | " + columns.map { "\(Self.engineName($0.backend)) `\($0.backend)`" }.joined(separator: " | ") + " |\n"
        s += "|---|" + columns.map { _ in "---|" }.joined() + "\n"
        func origin(_ title: String, _ f: (Published) -> String) {
            s += "| \(title) | " + columns.map { c in Self.published[c.backend].map(f) ?? "— (not in the origin's table)" }.joined(separator: " | ") + " |\n"
        }
        origin("Write Latency") { $0.write }
        origin("Read Latency") { $0.read }
        origin("Memory Usage") { $0.memory }
        origin("Disk Usage") { $0.disk }
        origin("CPU Usage") { $0.cpu }
        origin("Crash Recovery") { $0.recovery }
        s += "\n## One row per backend\n\n"
        s += "| backend | durability | write p50 µs | write p99 µs | read p50 µs | read p99 µs | engine memory MiB | disk MiB | CPU % | CPU µs/op | recovery ms | origin write | origin read |\n"
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
        for c in columns {
            let rec = c.recovery.isEmpty ? (Engines.isDurable(c.backend) ? "—" : "n/a") : formatDouble(SummaryRow.median(c.recovery.map(\.recoveryMs)), decimals: 2)
            s += "| \(c.backend) | \(c.durability) | \(c.write.map { formatDouble($0.median(.p50), decimals: 2) } ?? "—") | "
                + "\(c.write.map { formatDouble($0.median(.p99), decimals: 2) } ?? "—") | \(c.read.map { formatDouble($0.median(.p50), decimals: 2) } ?? "—") | "
                + "\(c.read.map { formatDouble($0.median(.p99), decimals: 2) } ?? "—") | \(formatDouble(c.engineMemory.0 / 1_048_576, decimals: 1)) | "
                + "\(formatDouble(c.disk.0 / 1_048_576, decimals: 1)) | \(formatDouble(c.cpuPercent.0, decimals: 0)) | "
                + "\(formatDouble(c.cpuMicrosPerOp.0, decimals: 1)) | \(rec) | "
                + "\(Self.published[c.backend]?.write ?? "—") | \(Self.published[c.backend]?.read ?? "—") |\n"
        }
        s += """

        ## How each side was measured

        **The origin's figures**: three operations per engine, in a debug build, on engines that never touched
        disk (its hand-written COW B+ tree and LSM-tree kept everything in memory; its crash recovery was
        simulated in-process). Memory, disk, CPU and recovery were adjectives, not measurements.

        **Ours**: a release build; the lease workload above through the same metering layer for every
        backend (the engine call timed between two monotonic clock reads, HdrHistogram with 3 significant
        digits, one histogram per thread and operation, merged); a warm-up phase and warm-up repeats not
        counted; real files on this machine's disk with the durability mode in every column (`none`: writes
        reach the OS before the ack, survive a process kill, not a power loss; `every-write` syncs each ack).
        Write latency is `lease_store` (encode, primary record and node index entry in one atomic batch);
        read latency is `lease_get` (one point read and decode). Memory is the engine's own accounting at the
        end of the run (memtables, caches, indexes; `memory` counts its map); the process heap growth is
        jemalloc's `stats.allocated` sampled every 100 ms, highest minus first, and includes the harness's
        own histograms and samples. Disk is the bytes of the engine's files at the end. CPU usage is the
        process's user + system CPU time over the wall time from open to close (load, warm-up, run,
        background flushes and compactions), in % of one core: on a loaded machine it shows how much CPU the
        run got as much as how much it needed, so CPU time per operation is given beside it.
        Crash recovery: a worker process (this binary, `_repro-worker`) opens a fresh store, runs the same
        workload, keeps storing leases and is killed with SIGKILL 200 ms into that; the time is from the
        start of the reopen to the first lease read served (the lease the load phase stored first), one
        cycle per repeat; the store is then closed cleanly and the same reopen + first read timed again,
        for comparison (what the kill itself costs: WAL replay, and for RocksDB the flush of the replayed
        memtable it does while opening). The machine is shared and loaded: see environment.txt beside this file for the
        load average; figures from a loaded machine are slower and noisier than a quiet one.

        """
        return s
    }

    public static let csvColumns = [
        "backend", "engine", "durability", "repeats", "write_op", "write_p50_us", "write_p50_us_min", "write_p50_us_max",
        "write_p99_us", "read_op", "read_p50_us", "read_p50_us_min", "read_p50_us_max", "read_p99_us",
        "engine_memory_bytes", "process_heap_growth_bytes", "disk_bytes", "cpu_percent", "cpu_percent_min", "cpu_percent_max",
        "recovery_ms", "recovery_ms_min", "recovery_ms_max", "recovery_method", "origin_write", "origin_read", "run_id",
        "cpu_us_per_op", "clean_reopen_ms",
    ]

    static func csv(_ columns: [Column]) -> String {
        var out = CSV.row(csvColumns)
        for c in columns {
            func f(_ r: SummaryRow?, _ fig: SummaryRow.Figure, _ which: Int) -> String {
                guard let r else { return "" }
                let v = which == 0 ? r.median(fig) : (which == 1 ? r.min(fig) : r.max(fig))
                return formatDouble(v, decimals: 3)
            }
            let ms = c.recovery.map(\.recoveryMs)
            let method = !Engines.isDurable(c.backend) ? "n/a: nothing survives" : (ms.isEmpty ? "not measured" : "reopen + first read after SIGKILL of a worker process")
            out += CSV.row([
                c.backend, engineName(c.backend), c.durability, String(c.repeats),
                writeOp, f(c.write, .p50, 0), f(c.write, .p50, 1), f(c.write, .p50, 2), f(c.write, .p99, 0),
                readOp, f(c.read, .p50, 0), f(c.read, .p50, 1), f(c.read, .p50, 2), f(c.read, .p99, 0),
                String(Int64(c.engineMemory.0)), String(Int64(c.heapGrowth.0)), String(Int64(c.disk.0)),
                formatDouble(c.cpuPercent.0, decimals: 1), formatDouble(c.cpuPercent.1, decimals: 1), formatDouble(c.cpuPercent.2, decimals: 1),
                ms.isEmpty ? "" : formatDouble(SummaryRow.median(ms), decimals: 3), ms.min().map { formatDouble($0, decimals: 3) } ?? "",
                ms.max().map { formatDouble($0, decimals: 3) } ?? "", method,
                published[c.backend]?.write ?? "", published[c.backend]?.read ?? "", c.runId,
                formatDouble(c.cpuMicrosPerOp.0, decimals: 3),
                c.recovery.compactMap(\.cleanReopenMs).isEmpty ? "" : formatDouble(SummaryRow.median(c.recovery.compactMap(\.cleanReopenMs)), decimals: 3),
            ])
        }
        return out
    }
}

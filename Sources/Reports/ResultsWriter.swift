import OrbitCore
public import Runner
import Workloads
import Foundation
import Histogram

/// Writes a run's results directory, per the results contract (docs/architecture.md, "The results
/// contract"; every file and column: results/README.md): columns are extended, never renamed
/// without bumping `schema`.
public enum ResultsWriter {
    public static let schemaVersion = 1

    public static let summaryColumns = [
        "backend", "workload", "durability", "operation", "count", "micros_per_op", "ops_per_s", "mb_per_s",
        "p50_us", "p75_us", "p99_us", "p999_us", "p9999_us", "max_us",
        // Extensions (schema 1): which phase, failures, reads that found nothing.
        "phase", "errors", "not_found",
        // Extensions (schema 1, YCSB issue): intended latency (completion - scheduled start); equal to
        // the service-time figures in closed-loop runs.
        "intended_p50_us", "intended_p99_us", "intended_p999_us", "intended_max_us",
        // Extensions (schema 1, plots issue): `repeat` > 1 makes every figure above the median over the
        // measured repeats; these give how many repeats had the row and the min and max of the main figures.
        "repeats", "micros_per_op_min", "micros_per_op_max", "ops_per_s_min", "ops_per_s_max",
        "p50_us_min", "p50_us_max", "p99_us_min", "p99_us_max", "p999_us_min", "p999_us_max",
        // Extensions (schema 1, server backends): bytes the operations sent and received on the wire
        // (TCP payload, protocol framing included; 0 for engines without a server).
        "net_bytes_sent", "net_bytes_received",
        // Extensions (schema 1, memory-bounded runs): the memory cgroup's limit (0: none) and the
        // highest charge it saw (anonymous memory plus page cache) during the backend's run.
        "memory_limit_mb", "peak_memory_bytes",
        // Extensions (schema 1, cost per operation): the process's CPU time, context switches and
        // storage I/O over the row's phase (/proc/self/io; the data directory's device from
        // /proc/diskstats, device-wide) divided by every operation of that phase. Empty where the
        // kernel gives no figure; a server backend's server is not counted (its own process).
        "cpu_user_us_per_op", "cpu_system_us_per_op", "context_switches_per_op",
        "process_read_bytes_per_op", "process_write_bytes_per_op", "device_read_bytes_per_op", "device_write_bytes_per_op",
        // Extensions (schema 1, statistics): with repeats, the 95% bootstrap confidence interval of the
        // median of each of these figures (2,000 resamples, seeded from the run's seed); empty for a
        // single run. `compare` calls a change a regression only when these intervals separate.
    ] + SummaryRow.intervalFigures.flatMap { [$0.column + "_ci_low", $0.column + "_ci_high"] }
    /// Columns of interval-<backend>-<op>.csv: each interval's HdrHistogram as (value, count) buckets.
    public static let intervalColumns = ["elapsed_s", "length_s", "latency", "value_ns", "count"]
    public static let metricsColumns = [
        "timestamp_ns", "backend", "thread", "operation", "latency_ns", "intended_latency_ns", "memory_used_bytes",
        "disk_bytes_read", "disk_bytes_written", "success",
        // Extensions (schema 1, server backends): the call's bytes on the wire.
        "net_bytes_sent", "net_bytes_received",
        // Extensions (schema 1, multi-phase workloads): load, run, or the run phase's name.
        "phase",
    ]
    public static let timeseriesColumns = [
        "elapsed_s", "backend", "operation", "count", "ops_per_s", "p50_us", "p95_us", "p99_us", "p999_us", "max_us",
        // Extensions (schema 1, open loop): every operation type's rate in the interval beside the target
        // (0: closed loop); open loop only, how late the latest operation started, how many started more
        // than 1 ms late, and how many were due and not started at the interval's end.
        "achieved_ops_s", "target_ops_s", "schedule_lag_ms", "late_ops", "backlog_ops",
        // Extensions (schema 1, multi-phase workloads): load, run, or the run phase's name.
        "phase",
    ]
    public static let statsColumns = ["elapsed_s", "backend"] + StorageStats.csvColumns + ["process_heap_bytes"]
        + StorageStats.internalsColumns

    /// Writes every file of the contract into `directory` (created if needed).
    public static func write(_ result: RunResult, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeFile(directory + "/summary.csv", summaryCSV(result))
        try writeFile(directory + "/metrics.csv", metricsCSV(result))
        try writeFile(directory + "/timeseries.csv", timeseriesCSV(result))
        try writeFile(directory + "/stats.csv", statsCSV(result))
        for b in result.backends {
            // A workload with phases: the load phase's files here, each run phase's in phases/<name>/.
            let multi = result.workload.isMultiPhase
            func place(_ phase: String) throws -> String {
                guard multi, phase != "load" else { return directory }
                let dir = directory + "/phases/" + phase
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                return dir
            }
            for op in b.operations where op.phase != "load" || op.operation == .load {
                let dir = try place(op.phase)
                try writeFile(dir + "/latency-\(b.backend)-\(op.operation.name).hgrm", hgrm(op.histogram))
                if let ih = op.intendedHistogram {
                    try writeFile(dir + "/latency-\(b.backend)-\(op.operation.name)-intended.hgrm", hgrm(ih))
                }
            }
            var keys: [(phase: String, op: OperationType)] = []
            for t in b.timeseries where !keys.contains(where: { $0.op == t.operation && (!multi || $0.phase == t.phase) }) {
                keys.append((t.phase, t.operation))
            }
            keys.sort { $0.op.rawValue < $1.op.rawValue }
            for key in keys {
                let rows = b.timeseries.filter { $0.operation == key.op && (!multi || $0.phase == key.phase) }
                let dir = try place(key.phase)
                try writeFile(dir + "/interval-\(b.backend)-\(key.op.name).csv", intervalCSV(rows))
                try writeFile(dir + "/interval-\(b.backend)-\(key.op.name).hlog", IntervalLog.render(rows, startMillis: result.startedAtMillis))
            }
            if result.workload.ycsbOutput {
                try writeFile(directory + "/ycsb-\(b.backend).txt", YCSBOutput.render(b, measurementInterval: result.workload.measurementInterval))
            }
        }
        try writeFile(directory + "/summary.json", summaryJSON(result))
        if result.repeats.count > 1 {
            // Each measured repeat in full, as a single run writes it.
            for rep in result.repeats {
                var one = result
                one.backends = rep.backends
                one.repeats = []
                one.runId = result.runId + "-repeat-\(rep.index)"
                try write(one, to: directory + "/repeats/\(rep.index)")
            }
        }
    }

    static func writeFile(_ path: String, _ text: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw OrbitError(.io, "cannot write results file", at: path, cause: .library("\(error)"))
        }
    }

    static func us(_ v: Double) -> String { formatDouble(v, decimals: 3) }
    static func usOf(_ nanos: UInt64) -> String { formatDouble(Double(nanos) / 1000, decimals: 3) }

    /// summary.csv: one row per backend, phase and operation. With repeats every figure is the median
    /// over the measured repeats, and the spread columns at the end give min and max.
    public static func summaryCSV(_ r: RunResult) -> String {
        var out = CSV.row(summaryColumns)
        var memory: [String: MemoryCgroup.Usage] = [:]
        for b in r.backends { if let m = b.memory { memory[b.backend] = m } }
        var costs: [String: PhaseCost] = [:]
        for b in r.backends { for c in b.costs { costs[b.backend + "\u{0}" + c.phase] = c } }
        for row in SummaryRow.rows(r) {
            func m(_ f: SummaryRow.Figure) -> Double { row.median(f) }
            func int(_ f: SummaryRow.Figure) -> String { String(UInt64(m(f).rounded())) }
            out += CSV.row([
                row.backend, r.workload.name, row.durability, row.operation, int(.count),
                us(m(.microsPerOp)), formatDouble(m(.opsPerSecond), decimals: 1), formatDouble(m(.mbPerSecond), decimals: 3),
                us(m(.p50)), us(m(.p75)), us(m(.p99)), us(m(.p999)), us(m(.p9999)), us(m(.max)),
                row.phase, int(.errors), int(.notFound),
                us(m(.intendedP50)), us(m(.intendedP99)), us(m(.intendedP999)), us(m(.intendedMax)),
                String(row.repeats),
                us(row.min(.microsPerOp)), us(row.max(.microsPerOp)),
                formatDouble(row.min(.opsPerSecond), decimals: 1), formatDouble(row.max(.opsPerSecond), decimals: 1),
                us(row.min(.p50)), us(row.max(.p50)), us(row.min(.p99)), us(row.max(.p99)),
                us(row.min(.p999)), us(row.max(.p999)),
                int(.netBytesSent), int(.netBytesReceived),
                String(r.workload.memoryLimitMB), memory[row.backend].map { String($0.peakBytes) } ?? "",
            ] + costCells(costs[row.backend + "\u{0}" + row.phase])
              + SummaryRow.intervalFigures.flatMap { f, _ -> [String] in
                guard let ci = row.interval[f] else { return ["", ""] }
                return f == .opsPerSecond ? [formatDouble(ci.low, decimals: 1), formatDouble(ci.high, decimals: 1)] : [us(ci.low), us(ci.high)]
            })
        }
        return out
    }

    static func costCells(_ c: PhaseCost?) -> [String] {
        guard let c else { return ["", "", "", "", "", "", ""] }
        func o(_ v: Double?) -> String { v.map { formatDouble($0, decimals: 1) } ?? "" }
        return [formatDouble(c.cpuUserMicrosPerOp, decimals: 3), formatDouble(c.cpuSystemMicrosPerOp, decimals: 3),
                formatDouble(c.contextSwitchesPerOp, decimals: 4),
                o(c.processReadBytesPerOp), o(c.processWriteBytesPerOp), o(c.deviceReadBytesPerOp), o(c.deviceWriteBytesPerOp)]
    }

    public static func metricsCSV(_ r: RunResult) -> String {
        var out = CSV.row(metricsColumns)
        for b in r.backends {
            for s in b.samples {
                let m = s.metrics
                out += [String(s.timestampNanos), b.backend, String(s.thread), m.operationType.name, String(m.latencyNanos),
                        String(s.intendedLatencyNanos), String(m.memoryUsedBytes), String(m.diskBytesRead),
                        String(m.diskBytesWritten), m.success ? "true" : "false",
                        String(m.netBytesSent), String(m.netBytesReceived), s.phase].joined(separator: ",") + "\n"
            }
        }
        return out
    }

    public static func timeseriesCSV(_ r: RunResult) -> String {
        var out = CSV.row(timeseriesColumns)
        for b in r.backends {
            for t in b.timeseries {
                var cells = [formatDouble(t.elapsedSeconds, decimals: 3), b.backend, t.operation.name, String(t.count),
                             formatDouble(t.opsPerSecond, decimals: 1)]
                if let l = t.latency {
                    cells += [usOf(l.p50), usOf(l.p95), usOf(l.p99), usOf(l.p999), usOf(l.max)]
                } else {
                    cells += ["", "", "", "", ""]  // no operation completed: no latency, not a zero one
                }
                cells += [formatDouble(t.achievedOpsPerSecond, decimals: 1), formatDouble(t.targetOpsPerSecond, decimals: 1)]
                if let f = t.schedule {
                    cells += [formatDouble(Double(f.lagNanos) / 1e6, decimals: 3), String(f.lateOps), String(f.backlogOps)]
                } else {
                    cells += ["", "", ""]  // closed loop: no schedule to keep
                }
                cells.append(t.phase)
                out += CSV.row(cells)
            }
        }
        return out
    }

    /// One operation's per-interval HdrHistograms: for each interval (and, open loop, for the service and
    /// the intended latencies) every non-empty bucket as (value_ns, count): enough to rebuild each
    /// interval's histogram and plot any percentile over time.
    public static func intervalCSV(_ rows: [TimeseriesRow]) -> String {
        var out = CSV.row(intervalColumns)
        for r in rows {
            let lead = formatDouble(r.elapsedSeconds, decimals: 3) + "," + formatDouble(r.lengthSeconds, decimals: 3) + ","
            for (kind, figures) in [("service", r.latency), ("intended", r.intendedLatency)] {
                guard let figures else { continue }
                for b in figures.buckets {
                    out += lead + kind + "," + String(b.value) + "," + String(b.count) + "\n"
                }
            }
        }
        return out
    }

    public static func statsCSV(_ r: RunResult) -> String {
        var out = CSV.row(statsColumns)
        for b in r.backends {
            for s in b.statsRows {
                out += CSV.row([formatDouble(s.elapsedSeconds, decimals: 3), b.backend] + s.stats.csvCells + [String(s.processHeapBytes)]
                              + s.stats.internalsCells)
            }
        }
        return out
    }

    /// HdrHistogram's percentile distribution, values in microseconds (the format HdrHistogram's
    /// plotting tools read).
    public static func hgrm(_ h: LatencyHistogram) -> String {
        var s = ""
        h.outputPercentileDistribution(to: &s, outputValueUnitScalingRatio: 1000)
        return s
    }

    // MARK: - summary.json

    public static func summaryJSON(_ r: RunResult) throws -> String {
        var root: [String: Any] = [
            "schema": schemaVersion,
            "run_id": r.runId,
            "started_at_ms": r.startedAtMillis,
            "workload": [
                "name": r.workload.name, "description": r.workload.description, "path": r.workload.path ?? NSNull(),
                "seed": r.workload.seed, "threads": r.workload.threads, "record_count": r.workload.recordCount,
                "operation_count": r.workload.operationCount,
                "mix": Dictionary(uniqueKeysWithValues: r.workload.mix.map { ($0.op.name, $0.proportion) }),
                "key_distribution": r.workload.keyDistribution.name,
                "target_ops_s": r.workload.targetOpsPerSecond, "table": r.workload.table,
                "phases": r.workload.runPhases.map { p -> [String: Any] in
                    let pw = p.workload
                    return ["name": p.name, "background": p.background, "threads": pw.threads,
                            "operation_count": pw.operationCount, "duration_s": pw.durationSeconds,
                            "target_ops_s": pw.targetOpsPerSecond, "key_distribution": pw.keyDistribution.name,
                            "mix": Dictionary(uniqueKeysWithValues: pw.mix.map { ($0.op.name, $0.proportion) }),
                            "value_size": [pw.valueSize.lowerBound, pw.valueSize.upperBound],
                            "scan_length": [pw.scanLength.lowerBound, pw.scanLength.upperBound]]
                },
            ] as [String: Any],
            "seed": r.workload.seed,
            "op_stream_digest": r.backends.first.map { hex($0.opStreamDigest) } ?? NSNull(),
            "op_stream_digests_agree": Set(r.backends.map(\.opStreamDigest)).count <= 1,
            "op_stream_reproducible": r.backends.allSatisfy(\.opStreamReproducible),
            "repeat_count": max(1, r.repeats.count),
            "warmup_repeats": r.warmupRepeats,
            "effective_config": r.settings.entries.map { e -> [String: Any] in
                ["name": e.name, "value": jsonValue(e.value), "source": e.source.description]
            },
        ]
        let env = r.environment
        root["environment"] = ([
            "cpu_model": env.cpuModel, "cores": env.cores, "memory_bytes": env.memoryBytes, "kernel": env.kernel,
            "hostname": env.hostname, "data_dir_filesystem": env.dataDirFilesystem, "swift": env.swiftVersion,
            "build": env.buildConfiguration, "allocator": env.allocator, "git_commit": env.gitCommit,
        ] as [String: Any]).merging(env.libraryVersionFields) { a, _ in a }
        root["backends"] = r.backends.map { b -> [String: Any] in
            var d: [String: Any] = [
                "backend": b.backend, "durability": b.durability.description,
                "durability_promise": b.promise.description,
                "data_dir": b.dataDirectory ?? NSNull(), "open_s": b.openSeconds, "load_s": b.loadSeconds,
                "warmup_s": b.warmupSeconds, "run_s": b.runSeconds, "op_stream_digest": hex(b.opStreamDigest),
                "op_stream_reproducible": b.opStreamReproducible,
                "errors": b.errors,
                "operations": b.operations.map(operationJSON),
            ]
            d["final_stats"] = statsJSON(b.finalStats)
            if let s = b.server {
                d["server"] = ["mode": s.mode, "endpoint": s.endpoint, "version": s.version,
                               "settings": s.settings.map { ["name": $0.name, "value": $0.value] }] as [String: Any]
            }
            if let wu = b.warmup {
                var j: [String: Any] = ["mode": wu.mode, "ended_s": wu.seconds, "reason": wu.reason]
                if let c = wu.relativeChange { j["relative_change"] = c }
                if let r = wu.opsPerSecond { j["window_ops_s"] = r }
                if let a = wu.settings { j["window_s"] = a.windowSeconds; j["bound"] = a.bound; j["max_s"] = a.maxSeconds }
                d["warmup"] = j
            }
            d["cpu_s"] = b.cpuSeconds
            d["wall_s"] = b.wallSeconds
            d["cost"] = b.costs.map { c -> [String: Any] in
                var x: [String: Any] = [
                    "phase": c.phase, "operations": c.operations, "cpu_user_s": c.usage.userSeconds, "cpu_system_s": c.usage.systemSeconds,
                    "voluntary_context_switches": c.usage.voluntarySwitches, "involuntary_context_switches": c.usage.involuntarySwitches,
                    "scope": b.server == nil ? "process" : "client process (the server's own CPU and I/O not counted)",
                ]
                x["process_read_bytes"] = c.usage.processReadBytes ?? NSNull()
                x["process_write_bytes"] = c.usage.processWriteBytes ?? NSNull()
                x["device_read_bytes"] = c.usage.deviceReadBytes ?? NSNull()
                x["device_write_bytes"] = c.usage.deviceWriteBytes ?? NSNull()
                return x
            }
            if let m = b.memory {
                d["memory_regime"] = [
                    "limit_bytes": m.limitBytes, "cgroup": m.cgroup, "controller": m.version, "peak_bytes": m.peakBytes,
                    "page_cache_bytes_at_end": m.pageCacheBytes, "anonymous_bytes_at_end": m.anonymousBytes,
                    "limit_hits": m.limitHits, "oom_kills": m.oomKills,
                ] as [String: Any]
            } else {
                d["memory_regime"] = "unbounded"
            }
            d["peak_process_heap_bytes"] = b.peakHeapBytes
            if r.repeats.count > 1, let i = r.backends.firstIndex(where: { $0.backend == b.backend }) {
                d["representative_repeat"] = i < r.representatives.count ? r.representatives[i] : NSNull()
                d["repeats"] = r.repeats.compactMap { rep -> [String: Any]? in
                    guard i < rep.backends.count else { return nil }
                    let x = rep.backends[i]
                    return [
                        "repeat": rep.index, "open_s": x.openSeconds, "load_s": x.loadSeconds, "warmup_s": x.warmupSeconds,
                        "run_s": x.runSeconds, "cpu_s": x.cpuSeconds, "wall_s": x.wallSeconds,
                        "peak_process_heap_bytes": x.peakHeapBytes, "errors": x.errors,
                        "operations": x.operations.map(operationJSON),
                        "final_stats": statsJSON(x.finalStats),
                    ]
                }
            }
            if let t = b.target { d["target"] = targetJSON(t) }
            if !b.agents.isEmpty { d["agents"] = b.agents.map(agentJSON) }
            d["phases"] = b.phases.map { p -> [String: Any] in
                var x: [String: Any] = ["name": p.name, "background": p.background, "threads": p.threads,
                                        "start_s": p.startSeconds, "end_s": p.endSeconds, "operations": p.operations]
                if let t = p.target { x["target"] = targetJSON(t) }
                return x
            }
            return d
        }
        let data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One agent of a `run --agents` run: where, its share, its figures, and its raw histograms
    /// (docs/formats/agent-protocol.md, "Raw histograms"), from which the merged ones were made.
    static func agentJSON(_ a: AgentOutcome) -> [String: Any] {
        func raw(_ h: RawHistogram) -> [String: Any] { ["min_ns": h.min, "max_ns": h.max, "buckets": h.buckets] }
        return [
            "address": a.address, "index": a.index, "hostname": a.hostname,
            "share": ["threads": a.threads, "insert_start": a.insertStart, "insert_count": a.insertCount,
                      "operation_count": a.operationCount, "target_ops_s": a.targetOpsPerSecond, "seed": a.seed] as [String: Any],
            "load_s": a.loadSeconds, "run_s": a.runSeconds, "errors": a.errors,
            "operations": a.operations.map { op -> [String: Any] in
                var x = operationJSON(op)
                x["histogram"] = raw(RawHistogram(op.histogram))
                if let ih = op.intendedHistogram { x["intended_histogram"] = raw(RawHistogram(ih)) }
                return x
            },
        ]
    }

    static func targetJSON(_ t: TargetOutcome) -> [String: Any] {
        ["target_ops_s": t.target, "achieved_ops_s": t.achieved, "behind_schedule_ms": Double(t.behindNanos) / 1e6,
         "reached": t.reached, "saturated": t.saturated, "late_ops": t.lateOps,
         "max_schedule_lag_ms": Double(t.maxLagNanos) / 1e6,
         "backlog_ops": t.backlogs]
    }

    static func operationJSON(_ op: OperationSummary) -> [String: Any] {
        [
            "phase": op.phase, "operation": op.operation.name, "count": op.count, "errors": op.errors,
            "not_found": op.notFound, "micros_per_op": op.microsPerOp, "ops_per_s": op.opsPerSecond,
            "mb_per_s": op.mbPerSecond, "p50_us": op.percentileMicros(50), "p75_us": op.percentileMicros(75),
            "p99_us": op.percentileMicros(99), "p999_us": op.percentileMicros(99.9),
            "p9999_us": op.percentileMicros(99.99), "max_us": op.maxMicros,
            "intended_p50_us": Double(op.intended.valueAtPercentile(50)) / 1000,
            "intended_p99_us": Double(op.intended.valueAtPercentile(99)) / 1000,
            "intended_p999_us": Double(op.intended.valueAtPercentile(99.9)) / 1000,
            "intended_max_us": Double(op.intended.max) / 1000,
        ]
    }

    static func statsJSON(_ s: StorageStats) -> [String: Any] {
        var stats: [String: Any] = [:]
        for (name, cell) in zip(StorageStats.csvColumns + StorageStats.internalsColumns, s.csvCells + s.internalsCells) where !cell.isEmpty {
            stats[name] = Double(cell) ?? cell
        }
        stats["total_keys_is_estimate"] = s.totalKeysIsEstimate
        for e in s.extra { stats[e.name] = e.value }
        return stats
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    static func jsonValue(_ v: KnobValue) -> Any {
        switch v {
        case .int(let i): i
        case .double(let d): d
        case .bool(let b): b
        case .string(let s): s
        }
    }
}

public import Runner
import OrbitCore

/// The table printed at the end of a run: one row per backend, phase and operation, the durability
/// mode beside every figure.
public enum SummaryTable {
    public static func render(_ r: RunResult) -> String {
        let header = ["backend", "durability", "memory limit", "phase", "operation", "count", "µs/op", "ops/s", "MB/s",
                      "p50 µs", "p99 µs", "p99.9 µs", "max µs", "errors", "not_found", "cpu µs/op"]
        let repeated = r.repeats.count > 1
        // The memory regime of every row: the cgroup limit, or none.
        let memoryRegime = r.workload.memoryLimitMB > 0 ? "cgroup \(r.workload.memoryLimitMB) MiB" : "unbounded"
        var rows: [[String]] = []
        var costs: [String: PhaseCost] = [:]
        for b in r.backends { for c in b.costs { costs[b.backend + "\u{0}" + c.phase] = c } }
        for row in SummaryRow.rows(r) {
            // With repeats: the median, and (min–max) over the repeats for the main figures.
            func cell(_ f: SummaryRow.Figure, _ decimals: Int) -> String {
                let m = formatDouble(row.median(f), decimals: decimals)
                guard repeated else { return m }
                return m + " (" + formatDouble(row.min(f), decimals: decimals) + "–" + formatDouble(row.max(f), decimals: decimals) + ")"
            }
            rows.append([
                row.backend, row.durability, memoryRegime, row.phase, row.operation, String(UInt64(row.median(.count).rounded())),
                cell(.microsPerOp, 2), repeated ? cell(.opsPerSecond, 0) : formatDouble(row.median(.opsPerSecond).rounded(), decimals: 0),
                formatDouble(row.median(.mbPerSecond), decimals: 1), cell(.p50, 2), cell(.p99, 2), cell(.p999, 2),
                formatDouble(row.median(.max), decimals: 1), String(UInt64(row.median(.errors).rounded())),
                String(UInt64(row.median(.notFound).rounded())),
                // CPU per operation of the phase (user + system, every thread of the process).
                costs[row.backend + "\u{0}" + row.phase].map { formatDouble($0.cpuUserMicrosPerOp + $0.cpuSystemMicrosPerOp, decimals: 2) } ?? "",
            ])
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i < 5 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        var out = "workload \(r.workload.name)  seed \(r.workload.seed)  threads \(r.workload.threads)  build \(r.environment.buildConfiguration)  run \(r.runId)\n"
        if let agents = r.backends.first(where: { !$0.agents.isEmpty })?.agents {
            // run --agents: the figures below are the agents' merged; each agent its share.
            out += "agents: \(agents.count), merged exactly (raw histograms); per agent \(r.workload.threads) threads, seed \(r.workload.seed) + agent index:"
                + agents.map { " \($0.address) (\($0.hostname), records \($0.insertStart)..<\($0.insertStart + $0.insertCount))" }.joined(separator: ",") + "\n"
        }
        if r.workload.threads > 1 {
            out += "thread streams: SeededRNG(seed \(r.workload.seed), stream t) for threads t = 0...\(r.workload.threads - 1)\n"
        }
        if r.workload.targetOpsPerSecond > 0 {
            out += "open loop: target \(formatDouble(r.workload.targetOpsPerSecond, decimals: 0)) ops/s, \(formatDouble(r.workload.targetOpsPerSecond / Double(r.workload.threads * max(1, r.backends.map(\.agents.count).max() ?? 0)), decimals: 1)) per thread; p99 is service time, intended latencies in summary.csv\n"
        }
        if repeated {
            out += "medians of \(r.repeats.count) repeats (backends interleaved, a fresh store each\(r.warmupRepeats > 0 ? "; \(r.warmupRepeats) warm-up repeat\(r.warmupRepeats == 1 ? "" : "s") not counted" : "")); (min–max) over the repeats\n"
        }
        out += line(header) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows { out += line(row) + "\n" }
        for b in r.backends {
            out += "\(b.backend): durability \(b.durability) — promise: \(b.promise.description)\n"
            if let dir = b.dataDirectory { out += "  store: \(dir)\n" }
            if let replication = b.server?.settings.first(where: { $0.name == "replication" }) {
                out += "  replication: \(replication.value)\n"
            }
            for c in b.costs {
                func bytes(_ v: Double?) -> String { v.map { formatDouble($0, decimals: 0) + " B" } ?? "n/a" }
                out += "  cost per \(c.phase) op\(b.server == nil ? "" : " (client process only)"): CPU \(formatDouble(c.cpuUserMicrosPerOp, decimals: 2)) µs user + \(formatDouble(c.cpuSystemMicrosPerOp, decimals: 2)) µs system, "
                    + "\(formatDouble(c.contextSwitchesPerOp, decimals: 3)) context switches, process I/O \(bytes(c.processReadBytesPerOp)) read / \(bytes(c.processWriteBytesPerOp)) written, "
                    + "device \(bytes(c.deviceReadBytesPerOp)) / \(bytes(c.deviceWriteBytesPerOp)) (device-wide)\n"
            }
            if let m = b.memory {
                out += "  memory: \(m.version) limit \(m.limitBytes >> 20) MiB, peak \(formatDouble(Double(m.peakBytes) / 1_048_576, decimals: 1)) MiB"
                    + " (page cache \(formatDouble(Double(m.pageCacheBytes) / 1_048_576, decimals: 1)) MiB at the end), limit hit \(m.limitHits) times"
                    + (m.oomKills > 0 ? ", OOM KILLS \(m.oomKills)" : "") + "\n"
            }
            for e in b.errors { out += "  ERROR \(e)\n" }
            // Open loop: the run's target, or (phases) each open-loop phase's.
            let targets: [(label: String, target: TargetOutcome)] = r.workload.isMultiPhase
                ? b.phases.compactMap { p in p.target.map { ("phase \(p.name): ", $0) } }
                : b.target.map { [("", $0)] } ?? []
            if r.workload.isMultiPhase {
                let list = b.phases.map { p in
                    "\(p.name)\(p.background ? " (background)" : "") \(formatDouble(p.startSeconds, decimals: 1))–\(formatDouble(p.endSeconds, decimals: 1)) s, \(p.threads) thread\(p.threads == 1 ? "" : "s"), \(p.operations) ops"
                }
                out += "  phases: " + list.joined(separator: "; ") + "\n"
            }
            for (label, t) in targets {
                let behind = formatDouble(Double(t.behindNanos) / 1e6, decimals: 1)
                out += "  " + label
                out += t.reached
                    ? "open loop: target \(formatDouble(t.target, decimals: 0)) ops/s reached (\(formatDouble(t.achieved, decimals: 0)) ops/s)\n"
                    : "TARGET NOT REACHED: \(formatDouble(t.target, decimals: 0)) ops/s asked, \(formatDouble(t.achieved, decimals: 0)) ops/s achieved; \(behind) ms behind schedule at the end — latencies are those of an overloaded system\n"
                if t.saturated {
                    out += "  \(label)SATURATED: the backlog grew through the run (\(t.backlogs.first ?? 0) → \(t.backlogs.dropLast().last ?? t.backlogs.last ?? 0) operations due and not started; \(t.lateOps) started over 1 ms late, lag up to \(formatDouble(Double(t.maxLagNanos) / 1e6, decimals: 1)) ms): \(b.backend) does not sustain \(formatDouble(t.target, decimals: 0)) ops/s\n"
                }
            }
        }
        if r.environment.buildConfiguration == "debug" {
            out += "warning: debug build — figures are not representative; use `swift build -c release`\n"
        }
        return out
    }
}

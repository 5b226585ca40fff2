import OrbitCore
import Reports

/// The plot kinds: each turns the results directories into gnuplot scripts (none when the directories
/// hold no data for it).
enum PlotKinds {
    /// Everything the kinds share: the runs, how series are labelled and styled.
    struct Context {
        var runs: [ResultsDirectory]
        var multi: Bool { runs.count > 1 }

        func label(_ run: ResultsDirectory, _ backend: String, _ extra: String = "") -> String {
            var s = run.label(backend)
            if !extra.isEmpty { s += " " + extra }
            if multi { s += " · " + run.runId }
            return s
        }

        var subtitle: String { subtitle(repeats: true) }

        /// Run ids and workload; `repeats`: say which repeat plots of repeated runs show.
        func subtitle(repeats showRepeats: Bool) -> String {
            let ids = runs.map(\.runId).joined(separator: ", ")
            let workloads = Set(runs.map(\.workload).filter { !$0.isEmpty }).sorted().joined(separator: ", ")
            let repeats = runs.map(\.repeatCount).max() ?? 1
            return (runs.count > 1 ? "runs " : "run ") + ids + (workloads.isEmpty ? "" : " · workload " + workloads)
                + (showRepeats && repeats > 1 ? " · each backend's median repeat of \(repeats)" : "")
                + " · legend: backend (durability mode)"
        }

        /// A colour per backend (the same in every plot), a dash type per `dash` (run, phase or operation),
        /// a point type per `variant`.
        func style(_ backend: String, run: Int, variant: Int = 0, points: Bool = true) -> String {
            let palette = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
            let colour = EngineRegistry.descriptor(named: backend)?.plotColour ?? palette[backend.utf8.reduce(0) { $0 &+ Int($1) } % palette.count]
            return "lc rgb \"\(colour)\" dt \(run + 1)" + (points ? " pt \(variant % 12 + 1)" : "") + " lw 1.5"
        }
    }

    static func all(_ c: Context) throws -> [PlotScript] {
        try spectra(c) + throughput(c) + p99OverTime(c) + memory(c) + disk(c) + amplification(c)
            + crashRecovery(c) + crashLost(c) + nodeKillUnavailability(c)
    }

    // MARK: - Latency percentile spectrum

    /// HdrHistogram style: x = 1/(1-percentile) on a log scale, labelled 50%, 90%, 99%, ...; one plot
    /// per operation type, a line per backend (intended latencies of open-loop runs dashed beside).
    static func spectra(_ c: Context) throws -> [PlotScript] {
        var ops: [String] = []
        for r in c.runs { for h in r.histograms where !ops.contains(h.operation) { ops.append(h.operation) } }
        var out: [PlotScript] = []
        var maxInverse = 1.0
        for op in ops {
            var s = PlotScript(name: "latency-spectrum-\(op)", title: "Latency by percentile: \(op)", subtitle: c.subtitle,
                               xlabel: "percentile (log scale of 1/(1-percentile))", ylabel: "latency (µs, log scale)")
            for (ri, r) in c.runs.enumerated() {
                for h in r.histograms where h.operation == op {
                    let f = try HgrmFile.read(h.path)
                    let pts = f.points.filter { $0.inverse.isFinite && $0.value > 0 }
                    guard !pts.isEmpty else { continue }
                    maxInverse = max(maxInverse, pts.map(\.inverse).max() ?? 1)
                    let label = c.label(r, h.backend, ([h.phase.map { "phase " + $0 } ?? "", h.intended ? "intended" : ""]).filter { !$0.isEmpty }.joined(separator: " "))
                    s.addSeries(pts.map { "\(fmt($0.inverse)) \(fmt($0.value))" }, with: "lines \(c.style(h.backend, run: ri + (h.intended ? 1 : 0), points: false))", title: label)
                }
            }
            let tics = [("50%", 2.0), ("90%", 10), ("99%", 100), ("99.9%", 1000), ("99.99%", 10000), ("99.999%", 100000),
                        ("99.9999%", 1_000_000), ("99.99999%", 10_000_000)]
            let top = tics.first { $0.1 >= maxInverse }?.1 ?? maxInverse
            s.settings = [
                "set logscale x", "set logscale y", "set format y \"%g\"",
                "set xrange [1:\(fmt(top))]",
                // Tic labels are format strings to gnuplot: a literal % is written %%.
                "set xtics (\"0%%\" 1, " + tics.filter { $0.1 <= top }.map { "\"\($0.0.replacing("%", with: "%%"))\" \(fmt($0.1))" }.joined(separator: ", ") + ")",
            ]
            out.append(s)
        }
        return out
    }

    // MARK: - Over time (timeseries.csv, stats.csv)

    /// Operations per second per backend and phase (the run phase's operation types summed).
    static func throughput(_ c: Context) throws -> [PlotScript] {
        var s = PlotScript(name: "throughput-over-time", title: "Throughput over time", subtitle: c.subtitle,
                           xlabel: "time since the load phase started (s)", ylabel: "operations per second")
        var any = false
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.timeseries else { continue }
            any = true
            // The phases: timeseries.csv's `phase` column (multi-phase runs name each), else load and run.
            var phases = ["load", "run"]
            if t.has("phase") {
                phases = []
                for i in t.rows.indices { let p = try t.string(i, "phase"); if !phases.contains(p) { phases.append(p) } }
            }
            for (bi, b) in r.backends.enumerated() {
                for phase in phases {
                    var sums: [(x: Double, y: Double)] = []
                    for i in t.rows.indices where try t.string(i, "backend") == b {
                        let op = try t.string(i, "operation")
                        let inPhase = try t.has("phase") ? t.string(i, "phase") == phase : (op == "load") == (phase == "load")
                        guard inPhase, let x = try t.number(i, "elapsed_s") else { continue }
                        let y = try t.number(i, "ops_per_s") ?? 0
                        if let last = sums.last, last.x == x { sums[sums.count - 1].y += y } else { sums.append((x, y)) }
                    }
                    // A phase's first and last intervals are usually partial; one in which nothing completed
                    // (the phase began or ended just inside it) is left out rather than drawn as a drop to 0.
                    if sums.count > 1, sums.last?.y == 0 { sums.removeLast() }
                    if sums.count > 1, sums.first?.y == 0 { sums.removeFirst() }
                    guard !sums.isEmpty else { continue }
                    s.addSeries(sums.map { "\(fmt($0.x)) \(fmt($0.y))" }, with: "linespoints \(c.style(b, run: 2 * ri + (phase == "load" ? 1 : 0), variant: phase == "load" ? 0 : 1 + bi)) ps 0.6", title: c.label(r, b, phase + " phase"))
                }
            }
        }
        s.settings = ["set yrange [0:*]", "set format y \"%.0f\""]
        return any ? [s] : []
    }

    /// p99 per interval, per backend and operation type.
    static func p99OverTime(_ c: Context) throws -> [PlotScript] {
        var s = PlotScript(name: "p99-over-time", title: "p99 latency over time (per interval)", subtitle: c.subtitle,
                           xlabel: "time since the load phase started (s)", ylabel: "p99 latency (µs, log scale)")
        var any = false
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.timeseries else { continue }
            any = true
            for b in r.backends {
                var ops: [String] = []
                for i in t.rows.indices where try t.string(i, "backend") == b {
                    let op = try t.string(i, "operation")
                    if !ops.contains(op) { ops.append(op) }
                }
                for (oi, op) in ops.enumerated() {
                    var lines: [String] = []
                    for i in t.rows.indices where try t.string(i, "backend") == b && t.string(i, "operation") == op {
                        guard let x = try t.number(i, "elapsed_s") else { continue }
                        // An interval without operations has no p99: a gap in the line, not a zero.
                        if let y = try t.number(i, "p99_us"), y > 0 { lines.append("\(fmt(x)) \(fmt(y))") } else if !lines.isEmpty, lines.last != "" { lines.append("") }
                    }
                    guard lines.contains(where: { !$0.isEmpty }) else { continue }
                    s.addSeries(lines, with: "linespoints \(c.style(b, run: ri * 4 + oi, variant: oi)) ps 0.6", title: c.label(r, b, op))
                }
            }
        }
        s.settings = ["set logscale y", "set format y \"%g\""]
        return any ? [s] : []
    }

    /// A stats.csv column over time, per backend, in MiB.
    static func statsSeries(_ c: Context, columns: [(column: String, what: String)]) throws -> (PlotScript, Bool) {
        var s = PlotScript(name: "", title: "", subtitle: c.subtitle, xlabel: "time since the load phase started (s)", ylabel: "MiB")
        var any = false
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.stats else { continue }
            for b in r.backends {
                for (vi, col) in columns.enumerated() where t.has(col.column) {
                    var lines: [String] = []
                    for i in t.rows.indices where try t.string(i, "backend") == b {
                        guard let x = try t.number(i, "elapsed_s"), let y = try t.number(i, col.column) else { continue }
                        lines.append("\(fmt(x)) \(fmt(y / 1_048_576))")
                    }
                    guard !lines.isEmpty else { continue }
                    any = true
                    s.addSeries(lines, with: "linespoints \(c.style(b, run: ri + vi, variant: vi)) ps 0.5", title: c.label(r, b, col.what))
                }
            }
        }
        s.settings = ["set yrange [0:*]"]
        return (s, any)
    }

    static func memory(_ c: Context) throws -> [PlotScript] {
        var (s, any) = try statsSeries(c, columns: [("memory_usage_bytes", "engine memory"), ("process_heap_bytes", "process heap")])
        s.name = "memory-over-time"
        s.title = "Memory over time: the engine's own accounting (memtables, caches, indexes) and the process heap (jemalloc)"
        s.ylabel = "memory (MiB)"
        return any ? [s] : []
    }

    static func disk(_ c: Context) throws -> [PlotScript] {
        var (s, any) = try statsSeries(c, columns: [("disk_usage_bytes", "")])
        s.name = "disk-over-time"
        s.title = "Disk usage over time (bytes of the engine's files)"
        s.ylabel = "disk usage (MiB)"
        return any ? [s] : []
    }

    // MARK: - Amplification

    /// Write and space amplification per backend at the end of the run (last stats.csv row), as the
    /// engines report them; "n/a" where an engine does not know a figure (never a made-up zero).
    static func amplification(_ c: Context) throws -> [PlotScript] {
        var rows: [String] = []
        var top = 0.0
        for r in c.runs {
            guard let t = r.stats, t.has("write_amplification"), t.has("space_amplification") else { continue }
            for b in r.backends {
                guard let last = t.rows.indices.last(where: { (try? t.string($0, "backend")) == b }) else { continue }
                let w = try t.number(last, "write_amplification"), sp = try t.number(last, "space_amplification")
                top = max(top, w ?? 0, sp ?? 0)
                func cell(_ v: Double?) -> String { v.map { fmt($0) } ?? "?" }
                func text(_ v: Double?) -> String { v.map { formatDouble($0, decimals: 2) } ?? "n/a" }
                rows.append("\(Gnuplot.quote(c.label(r, b))) \(cell(w)) \(cell(sp)) \(text(w)) \(text(sp)) \(fmt(w ?? 0)) \(fmt(sp ?? 0))")
            }
        }
        guard !rows.isEmpty else { return [] }
        var s = PlotScript(name: "amplification", title: "Write and space amplification per backend (end of run)",
                           subtitle: c.subtitle + "\nn/a: the engine does not report it",
                           xlabel: "backend (durability mode)", ylabel: "amplification (×)")
        s.data = [("amp", rows)]
        s.settings = [
            "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.8 border -1",
            "set boxwidth 0.9", "set yrange [0:\(fmt(max(1, top) * 1.2))]", "set xtics nomirror",
            "set grid noxtics ytics", "set key inside top left vertical",
        ]
        let w = 1.0 / 6
        s.clauses = [
            "$amp using 2:xtic(1) lc rgb \"#1f77b4\" title \"write amplification (disk bytes written / user bytes written)\"",
            "$amp using 3 lc rgb \"#ff7f0e\" title \"space amplification (disk bytes / live logical bytes)\"",
            "$amp using ($0-\(fmt(w))):6:4 with labels offset 0,0.8 notitle",
            "$amp using ($0+\(fmt(w))):7:5 with labels offset 0,0.8 notitle",
        ]
        return [s]
    }

    // MARK: - Crash experiments (crash.csv)

    /// Recovery time (open until the first read is served) against the store's size on disk.
    static func crashRecovery(_ c: Context) throws -> [PlotScript] {
        var s = PlotScript(name: "crash-recovery-time", title: "Crash recovery time against store size", subtitle: c.subtitle(repeats: false)
                           + "\nrecovery = from the start of the reopen until the first read is served (crash.csv)", xlabel: "store size on disk (MiB)",
                           ylabel: "recovery time (ms)")
        var any = false
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.crash else { continue }
            for (key, idx) in try crashGroups(t) {
                var lines: [String] = []
                for i in idx {
                    guard let x = try t.number(i, "store_bytes"), let y = try t.number(i, "recovery_ms") else { continue }
                    lines.append("\(fmt(x / 1_048_576)) \(fmt(y))")
                }
                guard !lines.isEmpty else { continue }
                any = true
                s.addSeries(lines, with: "points \(c.style(key.engine, run: ri, variant: key.variant)) ps 1.6", title: crashLabel(c, r, key))
            }
        }
        s.settings = ["set xrange [0:*]", "set yrange [0:*]", "set offsets 0, graph 0.05, graph 0.05, 0"]
        return any ? [s] : []
    }

    /// Unsynced (acknowledged but not yet synced) operations lost in each crash cycle.
    static func crashLost(_ c: Context) throws -> [PlotScript] {
        var s = PlotScript(name: "crash-unsynced-lost", title: "Unsynced operations lost per crash cycle", subtitle: c.subtitle(repeats: false)
                           + "\nacknowledged but not yet synced when the crash came; a lost synced one would be a broken promise (crash.csv)",
                           xlabel: "crash cycle", ylabel: "operations lost (acknowledged, not synced)")
        var any = false
        var maxCycle = 0.0
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.crash else { continue }
            for (key, idx) in try crashGroups(t) {
                var lines: [String] = []
                for i in idx {
                    guard let x = try t.number(i, "cycle"), let y = try t.number(i, "lost_unsynced") else { continue }
                    maxCycle = max(maxCycle, x)
                    lines.append("\(fmt(x)) \(fmt(y))")
                }
                guard !lines.isEmpty else { continue }
                any = true
                s.addSeries(lines, with: "linespoints \(c.style(key.engine, run: ri, variant: key.variant)) ps 1", title: crashLabel(c, r, key))
            }
        }
        // A tic per cycle while they fit (a sweep of 1,000 kill cycles gets gnuplot's own tics).
        s.settings = ["set yrange [0:*]"] + (maxCycle <= 30 ? ["set xtics 1"] : []) + ["set offsets 0.5, 0.5, graph 0.05, 0"]
        return any ? [s] : []
    }

    /// node-kill: per failover cycle, the time from the kill to the next acknowledged write and to
    /// the next successful read (crash.csv's unavailable_write_ms, unavailable_read_ms).
    static func nodeKillUnavailability(_ c: Context) throws -> [PlotScript] {
        var s = PlotScript(name: "node-kill-unavailability", title: "Unavailability per failover", subtitle: c.subtitle(repeats: false)
                           + "\nfrom the kill of one node to the first acknowledged write / successful read begun after it (crash.csv)",
                           xlabel: "failover cycle", ylabel: "unavailable (ms)")
        var any = false
        var maxCycle = 0.0
        for (ri, r) in c.runs.enumerated() {
            guard let t = r.crash, t.has("unavailable_write_ms") else { continue }
            for (key, idx) in try crashGroups(t) {
                for (column, what, dash) in [("unavailable_write_ms", "write", 0), ("unavailable_read_ms", "read", 1)] {
                    var lines: [String] = []
                    for i in idx {
                        guard let x = try t.number(i, "cycle"), let y = try t.number(i, column) else { continue }
                        maxCycle = max(maxCycle, x)
                        lines.append("\(fmt(x)) \(fmt(y))")
                    }
                    guard !lines.isEmpty else { continue }
                    any = true
                    s.addSeries(lines, with: "linespoints \(c.style(key.engine, run: ri + dash, variant: key.variant)) ps 1",
                                title: crashLabel(c, r, key) + " · " + what)
                }
            }
        }
        s.settings = ["set yrange [0:*]"] + (maxCycle <= 30 ? ["set xtics 1"] : []) + ["set offsets 0.5, 0.5, graph 0.05, 0"]
        return any ? [s] : []
    }

    struct CrashKey: Hashable {
        var engine: String
        var durability: String
        var method: String
        var variant: Int
    }

    /// Rows of crash.csv grouped by engine, durability and method, in first-seen order.
    static func crashGroups(_ t: CSVTable) throws -> [(CrashKey, [Int])] {
        var keys: [CrashKey] = []
        var rows: [CrashKey: [Int]] = [:]
        var methods: [String] = []
        for i in t.rows.indices {
            let m = try t.string(i, "method")
            if !methods.contains(m) { methods.append(m) }
            let k = CrashKey(engine: try t.string(i, "engine"), durability: try t.string(i, "durability"), method: m,
                             variant: methods.firstIndex(of: m)! + 1)
            if rows[k] == nil { keys.append(k) }
            rows[k, default: []].append(i)
        }
        return keys.map { ($0, rows[$0]!) }
    }

    static func crashLabel(_ c: Context, _ r: ResultsDirectory, _ k: CrashKey) -> String {
        "\(k.engine) (\(k.durability)) \(k.method)" + (c.multi ? " · " + r.runId : "")
    }

    /// A number as gnuplot reads it (no exponent surprises, no locale).
    static func fmt(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return formatDouble(v, decimals: 6)
    }
}

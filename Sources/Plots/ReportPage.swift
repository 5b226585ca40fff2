import OrbitCore
public import Reports
import Foundation

/// `report.html` (issue 19 item 9): one self-contained page for a results directory or a comparison
/// of several — the summary tables (as `report.md`, one per phase and operation, with the durability
/// mode and memory regime in every row), every plot inline as SVG, and each run's environment and
/// effective configuration from its summary.json. No script, no external file: it opens anywhere.
public enum ReportPage {
    /// The page. `plots`: what `Plotter` drew for these runs (their SVGs are read and inlined);
    /// `plotNote`: why there are none, when there are none (gnuplot missing, say).
    public static func html(rows: [Report.Row], runs: [ResultsDirectory], plots: [Plotter.Plot], plotNote: String?) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>orbit-bench report: \(escape(runs.map(\.runId).joined(separator: ", ")))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
            h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
            h3 { font-size: 1.05em; }
            table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
            th { background: #f2f2f2; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            td:first-child { white-space: nowrap; }
            .plot { margin: 1em 0; } .plot svg { max-width: 100%; height: auto; border: 1px solid #eee; }
            .note { color: #555; } .bad { color: #b00; font-weight: bold; }
            </style>
            </head>
            <body>
            <h1>orbit-bench report</h1>

            """
        out += "<p>Runs: " + runs.map { "<code>\(escape($0.runId))</code>" + ($0.workload.isEmpty ? "" : " (workload \(escape($0.workload)))") }
            .joined(separator: ", ") + ".</p>\n"
        out += "<p class=\"note\">Figures from each run's summary.csv (medians over its repeats where it had repeats; the range is min–max). "
            + "<em>vs best</em>: ops/s as a fraction of the fastest row of the table.</p>\n"
        out += tables(rows)
        out += "<h2>Plots</h2>\n"
        if plots.isEmpty {
            out += "<p class=\"note\">No plots: \(escape(plotNote ?? "the runs have no data to plot")).</p>\n"
        }
        for p in plots {
            out += "<div class=\"plot\"><h3>\(escape(p.name))</h3>\n"
            if let svg = try? String(contentsOfFile: p.svg, encoding: .utf8) {
                out += inlineSVG(svg) + "\n"
            } else {
                out += "<p class=\"bad\">cannot read \(escape(p.svg))</p>\n"
            }
            out += "</div>\n"
        }
        for r in runs { out += runDetails(r) }
        out += "</body>\n</html>\n"
        return out
    }

    static func tables(_ rows: [Report.Row]) -> String {
        var out = ""
        let numeric = ["repeats", "count", "ops/s", "vs best", "µs/op", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "errors", "not found"]
        for (phase, op, members, best) in Report.groups(rows) {
            out += "<h2>\(escape(phase)): \(escape(op))</h2>\n<table>\n<tr>"
            let header = ["run", "backend", "durability", "memory limit"] + numeric
            for h in header { out += "<th>\(escape(h))</th>" }
            out += "</tr>\n"
            for r in members {
                let range = r.withRange
                let ops = Double(r.cell("ops_per_s")) ?? 0
                let limit = r.cell("memory_limit_mb")
                let memory = limit.isEmpty || limit == "0" ? "unbounded" : "cgroup \(limit) MiB"
                let errors = r.cell("errors")
                let cells = [r.runId, r.cell("backend"), r.cell("durability"), memory, r.cell("repeats"), r.cell("count"),
                             range("ops_per_s"), best > 0 ? formatDouble(ops / best, decimals: 2) + "×" : "",
                             r.cell("micros_per_op"), range("p50_us"), range("p99_us"), range("p999_us"), r.cell("max_us"),
                             errors, r.cell("not_found")]
                out += "<tr>"
                for (i, c) in cells.enumerated() {
                    let cls = i >= 4 ? (i == 13 && (Int(errors) ?? 0) > 0 ? " class=\"n bad\"" : " class=\"n\"") : ""
                    out += "<td\(cls)>\(escape(c))</td>"
                }
                out += "</tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    /// The run's environment and effective configuration, from its summary.json.
    static func runDetails(_ r: ResultsDirectory) -> String {
        var out = "<h2>Run <code>\(escape(r.runId))</code></h2>\n"
        guard let data = FileManager.default.contents(atPath: r.path + "/summary.json"),
              let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return out + "<p class=\"note\">no summary.json in \(escape(r.path))</p>\n"
        }
        if let backends = root["backends"] as? [[String: Any]] {
            out += "<h3>Backends</h3>\n<table>\n<tr><th>backend</th><th>durability</th><th>promise</th><th>memory regime</th><th>errors</th></tr>\n"
            for b in backends {
                let regime: String
                if let m = b["memory_regime"] as? [String: Any] {
                    regime = "\(m["controller"] ?? "") limit \(((m["limit_bytes"] as? NSNumber)?.uint64Value ?? 0) >> 20) MiB, peak "
                        + formatDouble(((m["peak_bytes"] as? NSNumber)?.doubleValue ?? 0) / 1_048_576, decimals: 1) + " MiB"
                } else {
                    regime = (b["memory_regime"] as? String) ?? "unbounded"
                }
                let errors = (b["errors"] as? [String]) ?? []
                out += "<tr><td>\(escape("\(b["backend"] ?? "")"))</td><td>\(escape("\(b["durability"] ?? "")"))</td>"
                    + "<td>\(escape("\(b["durability_promise"] ?? "")"))</td><td>\(escape(regime))</td>"
                    + "<td\(errors.isEmpty ? "" : " class=\"bad\"")>\(escape(errors.isEmpty ? "none" : errors.joined(separator: "; ")))</td></tr>\n"
            }
            out += "</table>\n"
        }
        if let env = root["environment"] as? [String: Any] {
            out += "<h3>Environment</h3>\n<table>\n"
            for k in env.keys.sorted() { out += "<tr><th>\(escape(k))</th><td>\(escape(jsonText(env[k])))</td></tr>\n" }
            out += "</table>\n"
        }
        if let config = root["effective_config"] as? [[String: Any]] {
            out += "<h3>Effective configuration</h3>\n<table>\n<tr><th>name</th><th>value</th><th>source</th></tr>\n"
            for e in config {
                out += "<tr><td>\(escape(jsonText(e["name"])))</td><td>\(escape(jsonText(e["value"])))</td><td>\(escape(jsonText(e["source"])))</td></tr>\n"
            }
            out += "</table>\n"
        }
        return out
    }

    static func jsonText(_ v: Any?) -> String {
        switch v {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        case let a as [Any]: return a.map { jsonText($0) }.joined(separator: ", ")
        case let d as [String: Any]: return d.keys.sorted().map { "\($0)=\(jsonText(d[$0]))" }.joined(separator: ", ")
        default: return "\(v!)"
        }
    }

    /// gnuplot's SVG without its XML prolog and doctype, so it can stand inside HTML.
    static func inlineSVG(_ svg: String) -> String {
        guard let start = svg.range(of: "<svg") else { return "" }
        return String(svg[start.lowerBound...])
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

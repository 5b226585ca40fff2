import OrbitCore
import Foundation

/// A results directory read back from disk (what `orbit-bench run` or a crash experiment wrote): the
/// input of `plot`, `report` and `compare`. Every file is optional except that there must be at least
/// one the readers know (summary.csv, timeseries.csv, stats.csv, an .hgrm, crash.csv).
public struct ResultsDirectory: Sendable {
    /// One `latency-<backend>-<op>[-intended].hgrm` file.
    public struct Histogram: Sendable {
        public var backend: String
        public var operation: String
        public var intended: Bool
        public var path: String
        /// A multi-phase run's run phase (the file is in `phases/<phase>/`); nil for the top level's.
        public var phase: String? = nil
    }

    public var path: String
    /// summary.json's run_id, else the directory's name.
    public var runId: String
    public var workload: String
    /// Backend → durability mode (summary.json, else summary.csv, else crash.csv).
    public var durability: [String: String]
    /// Backends in the order the run listed them.
    public var backends: [String]
    /// Measured repeats (summary.json's repeat_count; 1 without repeats).
    public var repeatCount: Int
    public var summary: CSVTable?
    public var timeseries: CSVTable?
    public var stats: CSVTable?
    public var crash: CSVTable?
    public var histograms: [Histogram]

    public static func read(_ path: String) throws -> ResultsDirectory {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw OrbitError(.invalidArgument, "not a results directory", at: path,
                             hint: "give a directory `orbit-bench run` wrote (results/<run-id>) or one holding crash.csv")
        }
        func table(_ name: String) throws -> CSVTable? {
            let p = path + "/" + name
            return FileManager.default.fileExists(atPath: p) ? try CSVTable.read(p) : nil
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var r = ResultsDirectory(path: path, runId: URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent, workload: "",
                                 durability: [:], backends: [], repeatCount: 1,
                                 summary: try table("summary.csv"), timeseries: try table("timeseries.csv"),
                                 stats: try table("stats.csv"), crash: try table("crash.csv"), histograms: [])
        if files.contains("summary.json") {
            let p = path + "/summary.json"
            guard let data = FileManager.default.contents(atPath: p),
                  let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
                throw OrbitError(.invalidArgument, "summary.json is not a JSON object", at: p, hint: "the file `orbit-bench run` writes")
            }
            if let id = root["run_id"] as? String { r.runId = id }
            if let w = root["workload"] as? [String: Any], let name = w["name"] as? String { r.workload = name }
            if let n = root["repeat_count"] as? Int { r.repeatCount = n }
            for b in (root["backends"] as? [[String: Any]]) ?? [] {
                guard let name = b["backend"] as? String else { continue }
                if !r.backends.contains(name) { r.backends.append(name) }
                if let d = b["durability"] as? String { r.durability[name] = d }
            }
        }
        if let s = r.summary {
            for i in s.rows.indices {
                let b = try s.string(i, "backend")
                if !r.backends.contains(b) { r.backends.append(b) }
                if r.durability[b] == nil, s.has("durability") { r.durability[b] = try s.string(i, "durability") }
                if r.workload.isEmpty, s.has("workload") { r.workload = try s.string(i, "workload") }
            }
        }
        if let c = r.crash {
            for i in c.rows.indices {
                let b = try c.string(i, "engine")
                if !r.backends.contains(b) { r.backends.append(b) }
                if r.durability[b] == nil { r.durability[b] = try c.string(i, "durability") }
            }
        }
        // latency-<backend>-<op>[-intended].hgrm; backend names hold no '-', operation names none either.
        // A multi-phase run's run phases have theirs in phases/<phase>/.
        var places: [(dir: String, phase: String?, files: [String])] = [(path, nil, files)]
        if files.contains("phases") {
            for phase in ((try? FileManager.default.contentsOfDirectory(atPath: path + "/phases")) ?? []).sorted() {
                let dir = path + "/phases/" + phase
                places.append((dir, phase, (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []))
            }
        }
        for place in places {
            for f in place.files.sorted() where f.hasPrefix("latency-") && f.hasSuffix(".hgrm") {
                var parts = f.dropFirst("latency-".count).dropLast(".hgrm".count).split(separator: "-").map(String.init)
                let intended = parts.last == "intended"
                if intended { parts.removeLast() }
                guard parts.count == 2 else { continue }
                r.histograms.append(Histogram(backend: parts[0], operation: parts[1], intended: intended,
                                              path: place.dir + "/" + f, phase: place.phase))
            }
        }
        guard r.summary != nil || r.timeseries != nil || r.stats != nil || r.crash != nil || !r.histograms.isEmpty else {
            throw OrbitError(.invalidArgument, "no results files in the directory", at: path,
                             hint: "expected summary.csv, timeseries.csv, stats.csv, latency-*.hgrm or crash.csv")
        }
        return r
    }

    /// "backend (durability)" for labels.
    public func label(_ backend: String) -> String {
        durability[backend].map { "\(backend) (\($0))" } ?? backend
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import OrbitCore

/// No mixed results (README "Your stores are safe"): an `--out` directory that holds an earlier
/// run of `run`, `load`, `crash` or `repro` is refused unless `--overwrite`, which first removes
/// what orbit-bench wrote there.
///
/// Decision: `--overwrite` removes only the entries orbit-bench writes into a results directory
/// (`isResultsEntry`); it never touches `data/` (the stores, guarded by --fresh/--reuse on their
/// own) and refuses, before removing anything, a directory that holds anything else.
public enum ResultsGuard {
    static let files: Set<String> = [
        "summary.json", "summary.csv", "metrics.csv", "timeseries.csv", "stats.csv", "crash.csv", "crash-summary.txt",
        "corruption.csv", "report.md", "report.csv", "table.md", "table.csv", "environment.txt",
        "search-rate.csv",
    ]
    static let directories: Set<String> = ["repeats", "plots", "crash-data"]

    /// Whether `name`, an entry of a results directory, is one orbit-bench writes.
    public static func isResultsEntry(_ name: String) -> Bool {
        if files.contains(name) || directories.contains(name) { return true }
        if name.hasPrefix("run-") { return true }  // repro's per-durability results
        if name.hasPrefix("probe-") { return true }  // search-rate's probes
        for (prefix, suffix) in [("latency-", ".hgrm"), ("interval-", ".csv"), ("interval-", ".hlog"), ("ycsb-", ".txt")]
        where name.hasPrefix(prefix) && name.hasSuffix(suffix) { return true }
        return false
    }

    /// Checks `out` before anything is run or written; with `overwrite`, also empties it of an
    /// earlier run (call it once every other check has passed). `keep` names entries left alone
    /// (the default data directory, `data`).
    public static func prepare(_ out: String, overwrite: Bool, remove: Bool, keep: Set<String> = ["data"]) throws {
        let names: [String]
        switch StoreDirectoryListing.list(out) {
        case .missing:
            try StoreGuard.checkPath(out, intent: .create, flagHint: "--out")  // a file on the way, or no permission
            return
        case .notADirectory: throw OrbitError(.invalidArgument, "\(out) is a file, not a directory", at: "--out")
        case .unreadable(let why): throw OrbitError(.invalidArgument, "cannot use the results directory: \(why)", at: "--out")
        case .entries(let e): names = e.filter { !keep.contains($0) }
        }
        guard access(out, W_OK) == 0 else {
            throw OrbitError(.invalidArgument, "no write permission on the results directory", at: out, hint: "give another --out")
        }
        guard !names.isEmpty else { return }
        let ours = names.filter(isResultsEntry)
        guard overwrite else {
            let what = ours.isEmpty ? "files orbit-bench did not write" : "an earlier run"
            throw OrbitError(.invalidArgument,
                             "the results directory holds \(what) (\(StoreDirectoryListing.few(names).joined(separator: ", ")))",
                             at: out, hint: ours.isEmpty ? "give another --out" : "pass --overwrite to replace it, or give another --out; nothing was run or written")
        }
        let strangers = names.filter { !isResultsEntry($0) }
        guard strangers.isEmpty else {
            throw OrbitError(.invalidArgument,
                             "--overwrite would delete files orbit-bench did not write: \(StoreDirectoryListing.few(strangers).joined(separator: ", "))",
                             at: out, hint: "move them away or give another --out; nothing was deleted")
        }
        guard remove else { return }
        for n in names { try POSIXFileSystem().removeTree(joinPath(out, n)) }
    }
}

import ArgumentParser
import CowBTree
import LSMTree
import OrbitCore
import Runner

/// `orbit-bench inspect cow|lsm DIR`: describes a store on disk and verifies every checksum; exits 1
/// on corruption. The logic lives in the engines' libraries (`CowInspector`, `LSMInspector`).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Inspect and verify an engine's on-disk store (cow: meta pages, tree shape, free list, snapshots, page checksums; "
            + "lsm: levels, files, key ranges, sizes, entry counts, every block, WAL and snapshot checksum).")

    @Argument(help: "Engine whose store to inspect: cow, lsm.")
    var engine: String

    @Argument(help: "The store's directory (e.g. <data_dir>/cow).")
    var directory: String

    func run() throws {
        let backend = CoreKnobs.canonicalBackend(engine)
        if backend == "cow" || backend == "lsm" {
            // Recognise the store first: something that is not a store of this engine is bad input
            // (exit 2, "not an lsm store"), not corruption; nothing is opened before that.
            try guarded { try Self.requireStore(backend, directory) }
        }
        switch backend {
        case "cow":
            let report: CowInspection
            do { report = try CowInspector.inspect(directory: directory) } catch let e as OrbitError {
                print("orbit-bench: \(e)")
                throw ExitCode(e.exitStatus)
            }
            for line in report.lines { print(line) }
            if !report.ok { throw ExitCode(1) }
        case "lsm":
            let report = LSMInspector.inspect(fs: POSIXFileSystem(), directory: directory)
            for line in report.lines { print(line) }
            for p in report.problems { print("CORRUPTION: \(p)") }
            print(report.ok ? "ok: every checksum verified" : "FAILED: \(report.problems.count) problem(s)")
            if !report.ok { throw ExitCode(1) }
        default:
            throw ValidationError("inspect supports: cow, lsm (got '\(engine)')")
        }
    }

    /// Refuses (exit status 2) a directory that is not a store of `backend`, naming what it holds.
    static func requireStore(_ backend: String, _ directory: String) throws {
        switch StoreGuard.recognize(backend, at: directory) {
        case .ours: return
        case .empty:
            let state = StoreDirectoryListing.list(directory) == .missing ? "does not exist" : "is empty"
            throw OrbitError(.invalidArgument, "not \(backend == "lsm" ? "an" : "a") \(backend) store: the directory \(state)", at: directory,
                             hint: "give the store's directory, e.g. <data_dir>/\(backend)")
        case .notOurs(let found):
            let other = StoreGuard.durableBackends.first { b in
                guard b != backend, case .ours = StoreGuard.recognize(b, at: directory) else { return false }
                return true
            }
            let what = other.map { "it holds \(["lsm", "lmdb"].contains($0) ? "an" : "a") \($0) store" } ?? "it holds \(found.joined(separator: ", "))"
            throw OrbitError(.invalidArgument, "not \(backend == "lsm" ? "an" : "a") \(backend) store: \(what)", at: directory,
                             hint: other.map { o in
                                 switch o {
                                 case "cow", "lsm": "orbit-bench inspect \(o) \(directory)"
                                 case "rocksdb": "RocksDB's own tool reads it: ldb --db=\(directory) scan"
                                 default: "LMDB's own tool reads it: mdb_stat \(directory)"
                                 }
                             } ?? "give the store's directory, e.g. <data_dir>/\(backend)")
        }
    }
}

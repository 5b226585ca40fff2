import ArgumentParser
import CowBTree
import LSMTree
import OrbitCore

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
        switch CoreKnobs.canonicalBackend(engine) {
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
}

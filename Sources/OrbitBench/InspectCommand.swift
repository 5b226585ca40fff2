import ArgumentParser
import CowBTree
import OrbitCore

/// `orbit-bench inspect cow DIR`: prints a store's meta pages, tree shape, free list and snapshots,
/// verifying every page in use; exits 1 on corruption.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Inspect and verify an engine's on-disk store (cow: meta pages, tree shape, free list, snapshots, page checksums).")

    @Argument(help: "Engine whose store to inspect: cow.")
    var engine: String

    @Argument(help: "The store's directory (e.g. <data_dir>/cow).")
    var directory: String

    func run() throws {
        guard CoreKnobs.canonicalBackend(engine) == "cow" else {
            throw ValidationError("inspect supports: cow (got '\(engine)')")
        }
        let report: CowInspection
        do { report = try CowInspector.inspect(directory: directory) } catch let e as OrbitError {
            print("orbit-bench: \(e)")
            throw ExitCode(e.exitStatus)
        }
        for line in report.lines { print(line) }
        if !report.ok { throw ExitCode(1) }
    }
}

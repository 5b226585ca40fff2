import ArgumentParser
import Foundation
import OrbitCore
import Runner

/// `orbit-bench inspect cow|lsm DIR`: describes a store on disk and verifies every checksum; exits 1
/// on corruption. The logic lives in the engines' libraries, behind their descriptors' `inspect`.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Inspect and verify an engine's on-disk store (cow: meta pages, tree shape, free list, snapshots, page checksums; "
            + "lsm: levels, files, key ranges, sizes, entry counts, every block, WAL and snapshot checksum).")

    @Argument(help: "Engine whose store to inspect: cow, lsm.")
    var engine: String

    @Argument(help: "The store's directory (e.g. <data_dir>/cow).")
    var directory: String

    @Option(name: .long, help: ArgumentHelp("Key file of an encrypted store (the knob encryption_key_path; default: $ORBIT_ENCRYPTION_KEY_PATH).",
                                            valueName: "file"))
    var encryptionKeyPath: String?

    func run() throws {
        Engines.install()
        let descriptor = EngineRegistry.descriptor(named: engine)
        guard let descriptor, descriptor.capabilities.contains(.inspect) else {
            throw ValidationError("inspect supports: \(Engines.names(with: .inspect).joined(separator: ", ")) (got '\(engine)')")
        }
        // Recognise the store first: something that is not a store of this engine is bad input
        // (exit 2, "not an lsm store"), not corruption; nothing is opened before that.
        try guarded { try Self.requireStore(descriptor.name, directory) }
        let report: EngineInspection
        do {
            // Only the key is read from the environment: inspect takes no other setting.
            var settings = Configuration().settings
            if let path = encryptionKeyPath {
                try settings.set(CoreKnobs.encryptionKeyPath, text: path, from: .flag("--encryption-key-path"))
            } else if let path = ProcessInfo.processInfo.environment["ORBIT_ENCRYPTION_KEY_PATH"] {
                try settings.set(CoreKnobs.encryptionKeyPath, text: path, from: .environment(variable: "ORBIT_ENCRYPTION_KEY_PATH"))
            }
            report = try Engines.inspect(descriptor, directory: directory, settings: settings)
        } catch let e as OrbitError {
            print("orbit-bench: \(e)")
            throw ExitCode(e.exitStatus)
        }
        for line in report.lines { print(line) }
        if !report.ok { throw ExitCode(1) }
    }

    /// Refuses (exit status 2) a directory that is not a store of `backend`, naming what it holds.
    static func requireStore(_ backend: String, _ directory: String) throws {
        switch StoreGuard.recognize(backend, at: directory) {
        case .ours: return
        case .empty:
            let state = StoreDirectoryListing.list(directory) == .missing ? "does not exist" : "is empty"
            throw OrbitError(.invalidArgument, "not \(StoreGuard.withArticle(backend)) store: the directory \(state)", at: directory,
                             hint: "give the store's directory, e.g. <data_dir>/\(backend)")
        case .notOurs(let found):
            let other = StoreGuard.otherOwner(of: directory, besides: backend)?.name
            let what = other.map { "it holds \(StoreGuard.withArticle($0)) store" } ?? "it holds \(found.joined(separator: ", "))"
            throw OrbitError(.invalidArgument, "not \(StoreGuard.withArticle(backend)) store: \(what)", at: directory,
                             hint: other.map { o in
                                 let d = EngineRegistry.descriptor(named: o)
                                 return d?.capabilities.contains(.inspect) == true ? "orbit-bench inspect \(o) \(directory)"
                                     : d?.externalInspectHint(directory: directory) ?? "give the store's directory, e.g. <data_dir>/\(backend)"
                             } ?? "give the store's directory, e.g. <data_dir>/\(backend)")
        }
    }
}

import ArgumentParser
import Foundation
import OrbitCore
import Runner

/// `orbit-bench export|import|validate` (docs/formats/export.md): the CLI over `Runner.Transfer`.
enum TransferCLI {
    static func backend(_ c: Configuration, _ command: String) throws -> String {
        guard c.backends.count == 1 else {
            throw OrbitError(.invalidArgument, "\(command) works on one backend, got \(c.backends.joined(separator: ", "))",
                             at: "--backend", hint: "pass exactly one --backend")
        }
        return c.backends[0]
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a store's entries (<data-dir>/<backend>, opened read-only) to an engine-neutral, checksummed file.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "The export file to write (must not exist).") var output: String

    func run() throws {
        try guarded {
            let c = try options.build(workload: nil)
            let b = try TransferCLI.backend(c, "export")
            let line = ProgressLine("export")
            let s = try Transfer.export(backend: b, settings: c.settings, output: output) { line.update(records: $0, bytes: $1) }
            line.finish()
            print("exported \(s.records) records (\(s.payloadBytes) payload bytes, digest \(String(format: "%08x", s.digest))) from \(b) to \(output)")
        }
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load an export file into a store (<data-dir>/<backend>); the file is verified before anything is written.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "The export file to read.") var input: String
    @Flag(help: "Import into a store that already holds entries (the file's entries overwrite the store's).") var merge = false

    func run() throws {
        try guarded {
            let c = try options.build(workload: nil)
            let b = try TransferCLI.backend(c, "import")
            let line = ProgressLine("import")
            let r = try Transfer.importFile(backend: b, settings: c.settings, input: input, merge: merge) { line.update(records: $0, bytes: $1) }
            line.finish()
            print("imported \(r.records) records (exported from \(r.sourceEngine)) into \(b)")
        }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check an export file (--against FILE alone), or a store (--backend, --data-dir) against an export file or another store; "
            + "exit status 1 on damage or at the first mismatch.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "The export file to check, or to compare the store with.") var against: String?
    @Option(help: "Compare with this backend's store instead of a file.") var againstBackend: String?
    @Option(help: "The data directory of --against-backend's store (default: --data-dir).") var againstDataDir: String?

    func run() throws {
        try guarded {
            guard (against == nil) != (againstBackend == nil) else {
                throw OrbitError(.invalidArgument, "give exactly one of --against FILE and --against-backend B", at: "validate",
                                 hint: "orbit-bench validate --backend B --data-dir D --against FILE")
            }
            if let file = against, options.backend.isEmpty {
                let (h, s) = try Transfer.verifyFile(file)
                print("\(file): ok: \(s.records) records from \(h.sourceEngine) \(h.sourceVersion), digest \(String(format: "%08x", s.digest))")
                return
            }
            let c = try options.build(workload: nil)
            let b = try TransferCLI.backend(c, "validate")
            let report: Transfer.ValidationReport
            if let file = against {
                report = try Transfer.validate(backend: b, settings: c.settings, against: file)
            } else {
                var other = options
                other.backend = [againstBackend!]
                if let d = againstDataDir { other.dataDir = d }
                let oc = try other.build(workload: nil)
                report = try Transfer.validate(backend: b, settings: c.settings, againstBackend: oc.backends[0], againstSettings: oc.settings)
            }
            guard let m = report.mismatch else {
                print("ok: \(report.matched) entries equal")
                return
            }
            func show(_ v: [UInt8]?) -> String { v.map { "'\(KVTool.formatBytes($0, hex: false))'" } ?? "(absent)" }
            print("mismatch after \(report.matched) equal entries: key '\(KVTool.formatBytes(m.key, hex: false))': expected \(show(m.expected)), found \(show(m.found))")
            throw ExitCode(1)
        }
    }
}

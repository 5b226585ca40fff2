import ArgumentParser
import Foundation
import OrbitCore
import Runner

struct KVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv", abstract: "Read and write a store by hand (the store is <data-dir>/<backend>).",
        subcommands: [Get.self, Put.self, Delete.self, Scan.self, Stats.self, Snapshot.self])

    static func backend(_ c: Configuration) throws -> String {
        let b = c.backends
        guard b.count == 1 else {
            throw OrbitError(.invalidArgument, "kv works on one backend, got \(b.joined(separator: ", "))",
                             at: "--backend", hint: "pass exactly one --backend")
        }
        return b[0]
    }

    static func perform(_ options: ConfigOptions, _ action: KVTool.Action) throws -> KVTool.Output {
        let c = try options.build(workload: nil)
        return try KVTool.perform(action, backend: try backend(c), settings: c.settings)
    }

    static func bytes(_ s: String, _ hex: Bool, _ what: String) throws -> [UInt8] { try KVTool.parseBytes(s, hex: hex, what: what) }

    static func write(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's value; exit status 1 if absent.")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "KEY is hex (0x00ff...), and the value is printed as hex (as ldb --hex).") var hex = false
        @Argument var key: String
        func run() throws {
            try guarded {
                guard case .value(let v) = try KVCommand.perform(options, .get(key: KVCommand.bytes(key, hex, "KEY"))) else { return }
                guard let v else {
                    FileHandle.standardError.write(Data("orbit-bench: key not found: \(key)\n".utf8))
                    throw ExitCode(1)
                }
                if hex { print(KVTool.formatBytes(v, hex: true)) } else { KVCommand.write(v + [0x0a]) }
            }
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a key; exit status 0 only once acknowledged under the durability mode.")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "KEY and VALUE are hex (0x00ff...), as ldb --hex.") var hex = false
        @Argument var key: String
        @Argument var value: String
        func run() throws {
            try guarded {
                _ = try KVCommand.perform(options, .put(key: KVCommand.bytes(key, hex, "KEY"), value: KVCommand.bytes(value, hex, "VALUE")))
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key (absent keys are not an error).")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "KEY is hex (0x00ff...), as ldb --hex.") var hex = false
        @Argument var key: String
        func run() throws {
            try guarded { _ = try KVCommand.perform(options, .delete(key: KVCommand.bytes(key, hex, "KEY"))) }
        }
    }

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print keys in [start, end) as key<TAB>value lines (bytes outside printable ASCII as \\xNN, a backslash as \\\\).")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "--start and --end are hex, and keys and values are printed as hex (as ldb --hex).") var hex = false
        @Option(help: "First key (inclusive).") var start: String?
        @Option(help: "End key (exclusive).") var end: String?
        @Option(help: "At most this many entries (0: all).") var limit = 0
        func run() throws {
            try guarded {
                let from = try start.map { try KVCommand.bytes($0, hex, "--start") }
                let to = try end.map { try KVCommand.bytes($0, hex, "--end") }
                guard case .entries(let rows) = try KVCommand.perform(options, .scan(start: from, end: to, limit: limit)) else { return }
                for (k, v) in rows { print("\(KVTool.formatBytes(k, hex: hex))\t\(KVTool.formatBytes(v, hex: hex))") }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the engine's StorageStats.")
        @OptionGroup var options: ConfigOptions
        func run() throws {
            try guarded {
                guard case .stats(let s) = try KVCommand.perform(options, .stats) else { return }
                for (name, cell) in zip(StorageStats.csvColumns + StorageStats.internalsColumns, s.csvCells + s.internalsCells) where !cell.isEmpty { print("\(name)\t\(cell)") }
                print("total_keys_is_estimate\t\(s.totalKeysIsEstimate)")
                for e in s.extra { print("\(e.name)\t\(formatDouble(e.value))") }
            }
        }
    }

    struct Snapshot: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Snapshots: create NAME (durably pins the current state), restore NAME, drop NAME, list.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "create, restore, drop or list.") var verb: String
        @Argument(help: "The snapshot's name (not for list).") var name: String?
        func run() throws {
            try guarded {
                guard let v = KVTool.SnapshotVerb(rawValue: verb) else {
                    throw OrbitError(.invalidArgument, "unknown snapshot verb '\(verb)'", at: "kv snapshot",
                                     hint: "allowed: " + KVTool.SnapshotVerb.allCases.map(\.rawValue).joined(separator: ", "))
                }
                if case .names(let names) = try KVCommand.perform(options, .snapshot(v, name: name)) {
                    for n in names { print(n) }
                }
            }
        }
    }
}

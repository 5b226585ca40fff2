public import OrbitCore
import Workloads
import Foundation

/// Builds the effective `Settings` of a run from every source, in precedence order:
/// built-in defaults < JSON config file < workload file < `ORBIT_*` environment < flags.
///
/// Also the builder API for library users:
/// ```swift
/// let settings = try Configuration()
///     .setting("backends", "rocksdb")
///     .setting("rocksdb.block_cache_mb", "64")
///     .settings
/// ```
public struct Configuration: Sendable {
    /// Every knob the harness knows: core, workload, and each engine's.
    public static var allKnobs: [Knob] {
        Engines.install()  // before CoreKnobs.all reads the registry's names
        return CoreKnobs.all + WorkloadKnobs.all + Engines.allKnobs
    }

    /// Environment variables that are not knobs but are allowed to be set.
    /// Variables that are not knobs: the tests' seed, and a build-time switch (Package.swift reads
    /// ORBIT_NO_JEMALLOC; scripts/tsan.sh exports it, and the processes its tests start inherit it).
    public static let ignoredEnvironment: Set<String> = ["ORBIT_TEST_SEED", "ORBIT_NO_JEMALLOC"]

    public private(set) var settings: Settings
    public private(set) var workloadPath: String?
    /// Notices about ignored YCSB properties (database bindings, client options without effect).
    public private(set) var notices: [String] = []
    /// Knob values from `-p` overrides: applied with the flags, after the environment.
    private var propertyFlagValues: [YCSBProperties.Resolved] = []

    public init() {
        settings = Settings(knobs: Self.allKnobs)
    }

    /// Builder: sets a knob from text, as the API source.
    public mutating func set(_ name: String, _ text: String) throws {
        try settings.set(name, text: text, from: .api)
    }

    /// Builder, fluent form: a copy with the knob set.
    public func setting(_ name: String, _ text: String) throws -> Configuration {
        var copy = self
        try copy.set(name, text)
        return copy
    }

    /// Layer 1: the JSON config file (the seeds' shape: `backend`, `data_dir`, `durability`,
    /// `rocksdb_config: {...}`, ...). Unknown keys and sections are errors.
    public mutating func applyJSONConfig(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OrbitError(.invalidConfig, "cannot read config file", at: path, hint: "--config takes a path to a JSON file")
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(ctx) {
            let detail = (ctx.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? ctx.debugDescription
            throw OrbitError(.invalidConfig, "config file is not valid JSON: \(detail)", at: path)
        } catch {
            throw OrbitError(.invalidConfig, "config file is not valid JSON: \(error)", at: path)
        }
        guard case .object(let top) = root else {
            throw OrbitError(.invalidConfig, "config file must hold a JSON object", at: path,
                             hint: "e.g. {\"backend\": \"rocksdb\", \"rocksdb_config\": {\"block_cache_mb\": 64}}")
        }
        var staged = settings
        let knobs = settings.knobs
        let sections = Set(knobs.compactMap(\.jsonSection))
        let topKeys = knobs.filter { $0.jsonSection == nil && !WorkloadKnobs.all.map(\.name).contains($0.name) }
        for key in top.keys.sorted() {
            let value = top[key]!
            if sections.contains(key) {
                guard case .object(let section) = value else {
                    throw OrbitError(.invalidConfig, "'\(key)' must be a JSON object", at: "\(path): \(key)")
                }
                let inSection = knobs.filter { $0.jsonSection == key }
                for sub in section.keys.sorted() {
                    guard let knob = inSection.first(where: { $0.jsonKey == sub }) else {
                        throw OrbitError(.invalidConfig, "unknown setting '\(sub)' in '\(key)'", at: "\(path): \(key).\(sub)",
                                         hint: "allowed: " + inSection.map(\.jsonKey).joined(separator: ", "))
                    }
                    try apply(knob, section[sub]!, .configFile(path: path, keyPath: "\(key).\(sub)"), &staged)
                }
            } else if let knob = topKeys.first(where: { $0.jsonKey == key }) {
                var v = value
                if knob.name == "backends", case .string(let s) = value { v = .string(Engines.canonicalName(s)) }
                try apply(knob, v, .configFile(path: path, keyPath: key), &staged)
            } else {
                let hint = "allowed: " + (topKeys.map(\.jsonKey) + sections.sorted()).joined(separator: ", ")
                throw OrbitError(.invalidConfig, "unknown key '\(key)'", at: "\(path): \(key)", hint: hint)
            }
        }
        settings = staged
    }

    private func apply(_ knob: Knob, _ json: JSONValue, _ source: ConfigSource, _ s: inout Settings) throws {
        let value: KnobValue
        switch json {
        case .bool(let b): value = .bool(b)
        case .int(let i): value = .int(i)
        case .double(let d): value = .double(d)
        case .string(let str): value = .string(str)
        default:
            throw OrbitError(.invalidConfig, "\(knob.jsonKey): expected \(knob.allowed), found \(json.kindName)",
                             at: source.location)
        }
        s.set(knob.name, try knob.check(value, source), from: source)
    }

    /// Layer 2: the workload file.
    public mutating func applyWorkloadFile(path: String) throws {
        try WorkloadFile.apply(path: path, to: &settings)
        workloadPath = path
    }

    /// Layer 2, YCSB form: property files (`-P`, in order) and `-p key=value` overrides. Values decided
    /// by a file apply now; values decided by a `-p` flag apply with the flags (after the environment).
    public mutating func applyPropertyFiles(_ paths: [String], overrides: [String] = []) throws {
        var p = YCSBProperties()
        for path in paths { try p.add(file: path) }
        for o in overrides { try p.add(override: o) }
        let (values, notes) = try p.resolve(knobs: settings)
        var staged = settings
        for v in values {
            if case .flag = v.source { propertyFlagValues.append(v) } else { staged.set(v.knob, v.value, from: v.source) }
        }
        settings = staged
        notices += notes
        if let first = paths.first { workloadPath = paths.count == 1 ? first : paths.joined(separator: ",") }
    }

    /// Whether a workload path names a YCSB property file rather than a YAML workload: anything not
    /// ending in .yaml/.yml (YCSB's own files have no extension; `.properties` is common).
    public static func isPropertyFile(_ path: String) -> Bool {
        !(path.hasSuffix(".yaml") || path.hasSuffix(".yml"))
    }

    /// Layer 3: `ORBIT_*` environment variables.
    public mutating func applyEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws {
        try settings.applyEnvironment(env, ignoring: Self.ignoredEnvironment)
    }

    /// Layer 4: `--set name=value` flags and `--backend` flags.
    ///
    /// `knobFlags` are dedicated flags that set one knob (`--repeat 3` sets `repeat`): each is the
    /// flag as typed, the knob and the value, so an error names the flag the user gave.
    public mutating func applyFlags(sets: [String], backends: [String], dataDir: String?,
                                    knobFlags: [(flag: String, knob: String, value: String)] = []) throws {
        for v in propertyFlagValues { settings.set(v.knob, v.value, from: v.source) }
        propertyFlagValues = []
        for f in knobFlags { try settings.set(f.knob, text: f.value, from: .flag(f.flag)) }
        for assignment in sets {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw OrbitError(.invalidArgument, "--set expects name=value, got '\(assignment)'", at: "flag --set \(assignment)",
                                 hint: "e.g. --set record_count=20000 or --set rocksdb.block_cache_mb=64")
            }
            let name = String(assignment[..<eq]).trimmingWhitespace()
            let value = String(assignment[assignment.index(after: eq)...])
            let source = ConfigSource.flag("--set \(assignment)")
            // The workload file's shorthands: `value_size=100` sets min and max, `key_distribution=zipfian` the type.
            if let ends = WorkloadKnobs.shorthands[name] {
                for knob in ends { try settings.set(knob, text: value, from: source) }
            } else {
                try settings.set(name, text: value, from: source)
            }
        }
        if !backends.isEmpty {
            let names = backends.flatMap { $0.split(separator: ",").map { Engines.canonicalName(String($0)) } }
            try settings.set("backends", text: names.joined(separator: ","), from: .flag("--backend " + backends.joined(separator: " --backend ")))
        }
        if let dataDir {
            try settings.set("data_dir", text: dataDir, from: .flag("--data-dir \(dataDir)"))
        }
    }

    public var backends: [String] { settings.string("backends").split(separator: ",").map(String.init) }
}

/// A JSON value with booleans, integers and doubles kept apart (JSONSerialization blurs them).
enum JSONValue: Decodable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

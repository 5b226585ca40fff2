/// A configuration knob: one setting, reachable from every configuration source.
///
/// Sources, lowest precedence first: built-in default < JSON config file (`section.json_key`) <
/// workload file < `ORBIT_*` environment variable < `--set name=value` flag. Every accepted knob is
/// honoured; an unknown or out-of-range one is an error naming it, its source and what is allowed.
public struct Knob: Sendable {
    public enum Kind: Sendable {
        case int(ClosedRange<Int>)
        case double(ClosedRange<Double>)
        case bool
        case choice([String])
        /// A non-empty comma-separated list, each item one of the choices (stored as "a,b").
        case list([String])
        case string
        case durability
    }

    /// Canonical name, as used by `--set` and in summary.json: "rocksdb.block_cache_mb", "durability".
    public let name: String
    /// JSON config section (the seeds' shape: "rocksdb_config") or nil for a top-level key.
    public let jsonSection: String?
    /// Key inside the section (or at the top level).
    public let jsonKey: String
    /// Environment variable ("ORBIT_ROCKSDB_BLOCK_CACHE_MB").
    public let environment: String
    public let kind: Kind
    public let defaultValue: KnobValue
    public let help: String
    /// What a value must meet beyond the kind's range (a power of two), when the range alone says too little.
    public let constraint: KnobConstraint?

    public init(_ name: String, section: String? = nil, key: String? = nil, env: String, kind: Kind,
                default defaultValue: KnobValue, help: String, constraint: KnobConstraint? = nil) {
        self.name = name
        self.jsonSection = section
        self.jsonKey = key ?? String(name.split(separator: ".").last!)
        self.environment = env
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
        self.constraint = constraint
    }

    /// "an integer in 1...65536", "one of: a, b".
    public var allowed: String {
        switch kind {
        case .int(let r): "an integer in \(r.lowerBound)...\(r.upperBound)"
        case .double(let r): "a number in \(formatDouble(r.lowerBound))...\(formatDouble(r.upperBound))"
        case .bool: "true or false"
        case .choice(let c): "one of: " + c.joined(separator: ", ")
        case .list(let c): "a list of: " + c.joined(separator: ", ")
        case .string: "a string"
        case .durability: "one of: " + DurabilityMode.allowedSpellings
        }
    }

    /// Parses the textual form (environment variables, flags).
    public func parse(_ text: String, source: ConfigSource) throws -> KnobValue {
        let t = text.trimmingWhitespace()
        switch kind {
        case .int:
            guard let v = Int(t) else { throw bad("'\(text)'", source) }
            return try check(.int(v), source)
        case .double:
            guard let v = Double(t) else { throw bad("'\(text)'", source) }
            return try check(.double(v), source)
        case .bool:
            switch t.lowercased() {
            case "true", "1", "yes", "on": return .bool(true)
            case "false", "0", "no", "off": return .bool(false)
            default: throw bad("'\(text)'", source)
            }
        case .choice, .string, .durability, .list:
            return try check(.string(t), source)
        }
    }

    /// Checks a typed value (JSON and YAML sources) against the kind, range and constraint.
    public func check(_ value: KnobValue, _ source: ConfigSource) throws -> KnobValue {
        switch accept(value) {
        case .success(let v): return v
        case .failure(let refused): throw bad(refused.shown, source)
        }
    }

    private func bad(_ shown: String, _ source: ConfigSource) -> OrbitError {
        OrbitError(.invalidConfig, refusal(Refused(shown: shown)), at: source.location, hint: "allowed: \(allowedInErrors)")
    }

    /// A value the knob refuses, as an error message shows it ("'x' in 'a,x'", "1000").
    public struct Refused: Error {
        public let shown: String
    }

    /// The value in canonical form (a choice as the table spells it, a list without repeats, an
    /// integer given for a number as that number), or what was refused. Written once for every
    /// source, and for options built in code (`OptionTable.check`).
    public func accept(_ value: KnobValue) -> Result<KnobValue, Refused> {
        func no(_ shown: String) -> Result<KnobValue, Refused> { .failure(Refused(shown: shown)) }
        let accepted: KnobValue
        switch (kind, value) {
        case (.int(let r), .int(let v)):
            guard r.contains(v) else { return no(String(v)) }
            accepted = value
        case (.double(let r), .double(let v)):
            guard r.contains(v) else { return no(formatDouble(v)) }
            accepted = value
        case (.double(let r), .int(let v)):
            guard r.contains(Double(v)) else { return no(String(v)) }
            accepted = .double(Double(v))
        case (.bool, .bool):
            accepted = value
        case (.choice(let c), .string(let s)):
            guard let m = c.first(where: { $0.lowercased() == s.lowercased() }) else { return no("'\(s)'") }
            accepted = .string(m)
        case (.list(let c), .string(let s)):
            var items: [String] = []
            for raw in s.split(separator: ",", omittingEmptySubsequences: false) {
                let item = String(raw).trimmingWhitespace()
                guard let m = c.first(where: { $0.lowercased() == item.lowercased() }) else {
                    return no("'\(item)'" + (s.contains(",") ? " in '\(s)'" : ""))
                }
                if !items.contains(m) { items.append(m) }
            }
            accepted = .string(items.joined(separator: ","))
        case (.string, .string):
            accepted = value
        case (.durability, .string(let s)):
            guard let mode = DurabilityMode(parsing: s) else { return no("'\(s)'") }
            accepted = .string(mode.description)
        default:
            return no("\(value.typeName) \(value)")
        }
        if let constraint, !constraint.test(accepted) { return no(accepted.description) }
        return .success(accepted)
    }

    /// "cow.page_size: bad value 1000": the message of every refused value.
    public func refusal(_ refused: Refused) -> String { "\(name): bad value \(refused.shown)" }

    /// What errors say is allowed: the constraint's words when there is one (they include the
    /// range), else `allowed`. (`allowed` stays the kind's range: `orbit-bench list` shows it
    /// beside the help, which states the constraint.)
    public var allowedInErrors: String { constraint?.allowed ?? allowed }
}

/// A condition on a knob's value beyond its kind's range, with the words that say what it allows.
public struct KnobConstraint: Sendable {
    /// What is allowed, range included: "a power of two in 512...65536".
    public let allowed: String
    /// True for an allowed value (given in canonical form, already within the kind's range).
    public let test: @Sendable (KnobValue) -> Bool

    public init(allowed: String, _ test: @escaping @Sendable (KnobValue) -> Bool) {
        self.allowed = allowed
        self.test = test
    }

    /// A condition on an integer knob.
    public static func integer(_ allowed: String, _ test: @escaping @Sendable (Int) -> Bool) -> KnobConstraint {
        KnobConstraint(allowed: allowed) { value in
            guard case .int(let v) = value else { return false }
            return test(v)
        }
    }
}

/// A knob's value, typed.
public enum KnobValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .int(let v): String(v)
        case .double(let v): formatDouble(v, decimals: 6)
        case .bool(let v): v ? "true" : "false"
        case .string(let v): v
        }
    }

    public var typeName: String {
        switch self {
        case .int: "integer"
        case .double: "number"
        case .bool: "boolean"
        case .string: "string"
        }
    }
}

/// Where a setting came from: printed in errors and recorded in summary.json.
public enum ConfigSource: Sendable, Hashable, CustomStringConvertible {
    case builtinDefault
    /// JSON config file, with the key path inside it.
    case configFile(path: String, keyPath: String)
    /// Workload file position (1-based line and column).
    case workload(path: String, line: Int, column: Int)
    case environment(variable: String)
    case flag(String)
    /// Set through the builder API.
    case api
    /// YCSB's default for a property a YCSB property file leaves out (`readproportion=0.95`).
    case ycsbDefault(String)

    public var description: String {
        switch self {
        case .builtinDefault: "default"
        case .configFile(let p, let k): "config \(p) (\(k))"
        case .workload(let p, let l, let c): "workload \(p):\(l):\(c)"
        case .environment(let v): "environment \(v)"
        case .flag(let f): "flag \(f)"
        case .api: "builder API"
        case .ycsbDefault(let p): "YCSB default \(p)"
        }
    }

    /// The location prefix of an error message.
    public var location: String? {
        switch self {
        case .builtinDefault, .api, .ycsbDefault: nil
        case .configFile(let p, let k): "\(p): \(k)"
        case .workload(let p, let l, let c): "\(p):\(l):\(c)"
        case .environment(let v): "environment variable \(v)"
        case .flag(let f): "flag \(f)"
        }
    }
}

extension String {
    /// Leading and trailing spaces, tabs and newlines removed (no Foundation).
    public func trimmingWhitespace() -> String {
        let ws: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !ws($0) }) else { return "" }
        let last = lastIndex(where: { !ws($0) })!
        return String(self[first...last])
    }
}

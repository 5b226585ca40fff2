/// The effective configuration: every known knob's value and where it came from.
///
/// Built by layering sources in precedence order (`apply` overwrites). Engines read their options
/// from it by knob name; the runner writes it, with sources, into summary.json.
public struct Settings: Sendable {
    public let knobs: [Knob]
    private var index: [String: Int]
    private var values: [KnobValue]
    private var sources: [ConfigSource]
    /// A workload file's `phases:`, in order: each phase's own settings over these (empty: the run is one phase).
    public var phases: [PhaseOverlay] = []

    public init(knobs: [Knob]) {
        self.knobs = knobs
        var idx: [String: Int] = [:]
        for (i, k) in knobs.enumerated() {
            precondition(idx[k.name] == nil, "duplicate knob \(k.name)")
            idx[k.name] = i
        }
        index = idx
        values = knobs.map(\.defaultValue)
        sources = knobs.map { _ in .builtinDefault }
    }

    public func knob(named name: String) -> Knob? { index[name].map { knobs[$0] } }

    /// Sets an already-checked value.
    public mutating func set(_ name: String, _ value: KnobValue, from source: ConfigSource) {
        guard let i = index[name] else { preconditionFailure("unknown knob \(name)") }
        values[i] = value
        sources[i] = source
    }

    /// Parses and sets a textual value (environment, flag); unknown names are an error listing the known ones.
    public mutating func set(_ name: String, text: String, from source: ConfigSource) throws {
        guard let i = index[name] else {
            throw OrbitError(.invalidConfig, "unknown setting '\(name)'", at: source.location,
                             hint: "known settings: " + knobs.map(\.name).joined(separator: ", "))
        }
        let v = try knobs[i].parse(text, source: source)
        values[i] = v
        sources[i] = source
    }

    /// Applies every `ORBIT_*` variable that names a knob. Unknown `ORBIT_*` variables are refused
    /// (a typo must not be silently ignored), except those in `ignoring`.
    public mutating func applyEnvironment(_ env: [String: String], ignoring: Set<String> = []) throws {
        let byVar = Dictionary(uniqueKeysWithValues: knobs.map { ($0.environment, $0.name) })
        for (variable, text) in env.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("ORBIT_") {
            if ignoring.contains(variable) { continue }
            guard let name = byVar[variable] else {
                throw OrbitError(.invalidConfig, "unknown environment variable \(variable)",
                                 at: "environment variable \(variable)",
                                 hint: "known: " + knobs.map(\.environment).sorted().joined(separator: ", "))
            }
            try set(name, text: text, from: .environment(variable: variable))
        }
    }

    public func value(_ name: String) -> KnobValue {
        guard let i = index[name] else { preconditionFailure("unknown knob \(name)") }
        return values[i]
    }

    public func source(_ name: String) -> ConfigSource {
        guard let i = index[name] else { preconditionFailure("unknown knob \(name)") }
        return sources[i]
    }

    public func int(_ name: String) -> Int {
        switch value(name) {
        case .int(let v): v
        case .double(let v): Int(v)
        default: preconditionFailure("knob \(name) is not an integer")
        }
    }

    public func double(_ name: String) -> Double {
        switch value(name) {
        case .double(let v): v
        case .int(let v): Double(v)
        default: preconditionFailure("knob \(name) is not a number")
        }
    }

    public func bool(_ name: String) -> Bool {
        guard case .bool(let v) = value(name) else { preconditionFailure("knob \(name) is not a boolean") }
        return v
    }

    public func string(_ name: String) -> String {
        guard case .string(let v) = value(name) else { preconditionFailure("knob \(name) is not a string") }
        return v
    }

    public func durability(_ name: String = "durability") -> DurabilityMode {
        DurabilityMode(parsing: string(name))!
    }

    /// (name, value, source) for every knob, in registration order.
    public var entries: [(name: String, value: KnobValue, source: ConfigSource)] {
        knobs.indices.map { (knobs[$0].name, values[$0], sources[$0]) }
    }
}

/// One phase of a multi-phase workload (`phases:`): its name, whether it runs beside the next phase,
/// and the knob values it sets over the workload's (each with the source that set it).
public struct PhaseOverlay: Sendable {
    public var name: String
    /// Where the phase's mapping (or its `name`) is, for errors.
    public var source: ConfigSource
    public var background: Bool
    public var backgroundSource: ConfigSource
    public var values: [(knob: String, value: KnobValue, source: ConfigSource)]

    public init(name: String, source: ConfigSource, background: Bool, backgroundSource: ConfigSource,
                values: [(knob: String, value: KnobValue, source: ConfigSource)]) {
        self.name = name
        self.source = source
        self.background = background
        self.backgroundSource = backgroundSource
        self.values = values
    }

    /// `settings` with this phase's values set over them (and no phases of its own).
    public func applied(to settings: Settings) -> Settings {
        var s = settings
        s.phases = []
        for v in values { s.set(v.knob, v.value, from: v.source) }
        return s
    }
}

/// An engine's options, each stated once: key, field, kind and range, help. Everything else is
/// derived here, so an option cannot say one thing in its knob and another in its field:
///
/// - the default is the field's value in `Options()`;
/// - the names come from the engine's name and the key (`Knob.init(engine:key:...)`): `--set
///   lsm.memtable_size_mb`, JSON section `lsm_config` key `memtable_size_mb`, environment
///   `ORBIT_LSM_MEMTABLE_SIZE_MB` (an entry may override the environment suffix, as cow's
///   `max_keys_per_node` keeps the seeds' `ORBIT_COW_MAX_KEYS`);
/// - reading from `Settings` (`read`) and range checking (`check`, and `Knob.check` for every
///   configuration source) are written once for every engine.
///
/// ```swift
/// static let optionTable = OptionTable<LSMOptions>(engine: LSMDescriptor.name, [
///     .int("memtable_size_mb", \.memtableSizeMB, 1...4096, "memtable size, MiB"),
///     .bool("paranoid", \.paranoid, "a damaged WAL record before the tail stops open"),
/// ])
/// ```
public struct OptionTable<Options: EngineOptions>: Sendable {
    /// The engine's backend name ("lsm"): the prefix of every derived name.
    public let engine: String
    public let entries: [Entry]
    /// One knob per entry, in table order, with names and defaults derived.
    public let knobs: [Knob]

    public init(engine: String, _ entries: [Entry]) {
        self.engine = engine
        self.entries = entries
        let defaults = Options()
        knobs = entries.map { e in
            Knob(engine: engine, key: e.key, envKey: e.envKey, kind: e.kind, default: e.value(defaults),
                 help: e.help, constraint: e.constraint)
        }
        precondition(Set(entries.map(\.key)).count == entries.count, "\(engine): an option key is stated twice")
    }

    /// One option: its key, the field it is kept in, its kind and range, its help.
    public struct Entry: Sendable {
        public let key: String
        /// Environment suffix when it is not the key (`max_keys` for cow's `max_keys_per_node`).
        public let envKey: String?
        public let kind: Knob.Kind
        public let constraint: KnobConstraint?
        public let help: String
        /// The field, for `OptionTable.name(_:)`.
        let path: any AnyKeyPath & Sendable
        /// The field's value, as a knob value.
        let value: @Sendable (Options) -> KnobValue
        /// Sets the field from the knob of that name in the settings.
        let read: @Sendable (inout Options, Settings, String) -> Void

        /// An integer option in `range`, optionally with a further `constraint`.
        public static func int(_ key: String, _ path: any WritableKeyPath<Options, Int> & Sendable, _ range: ClosedRange<Int>,
                               _ help: String, env envKey: String? = nil, constraint: KnobConstraint? = nil) -> Entry {
            Entry(key: key, envKey: envKey, kind: .int(range), constraint: constraint, help: help, path: path,
                  value: { .int($0[keyPath: path]) }, read: { $0[keyPath: path] = $1.int($2) })
        }

        /// A number option in `range`.
        public static func double(_ key: String, _ path: any WritableKeyPath<Options, Double> & Sendable, _ range: ClosedRange<Double>,
                                  _ help: String, env envKey: String? = nil) -> Entry {
            Entry(key: key, envKey: envKey, kind: .double(range), constraint: nil, help: help, path: path,
                  value: { .double($0[keyPath: path]) }, read: { $0[keyPath: path] = $1.double($2) })
        }

        public static func bool(_ key: String, _ path: any WritableKeyPath<Options, Bool> & Sendable,
                                _ help: String, env envKey: String? = nil) -> Entry {
            Entry(key: key, envKey: envKey, kind: .bool, constraint: nil, help: help, path: path,
                  value: { .bool($0[keyPath: path]) }, read: { $0[keyPath: path] = $1.bool($2) })
        }

        /// A free-form string option (a server's URL; empty: not set).
        public static func string(_ key: String, _ path: any WritableKeyPath<Options, String> & Sendable,
                                  _ help: String, env envKey: String? = nil) -> Entry {
            Entry(key: key, envKey: envKey, kind: .string, constraint: nil, help: help, path: path,
                  value: { .string($0[keyPath: path]) }, read: { $0[keyPath: path] = $1.string($2) })
        }

        /// One of `choices`, kept as the table spells it (settings match it case-insensitively).
        public static func choice(_ key: String, _ path: any WritableKeyPath<Options, String> & Sendable, _ choices: [String],
                                  _ help: String, env envKey: String? = nil) -> Entry {
            Entry(key: key, envKey: envKey, kind: .choice(choices), constraint: nil, help: help, path: path,
                  value: { .string($0[keyPath: path]) }, read: { $0[keyPath: path] = $1.string($2) })
        }
    }

    /// The knob of the option kept in `field`, for messages that name it or its variable. The
    /// field must be in the table.
    public func knob(_ field: PartialKeyPath<Options>) -> Knob {
        let wanted: AnyKeyPath = field
        guard let i = entries.firstIndex(where: { ($0.path as AnyKeyPath) == wanted }) else {
            preconditionFailure("\(engine): \(field) is not in the option table")
        }
        return knobs[i]
    }

    /// The canonical knob name of the option kept in `field` ("lsm.compaction_threshold").
    public func name(_ field: PartialKeyPath<Options>) -> String { knob(field).name }

    /// The options `settings` select: `Options()` with every entry's field set from its knob.
    /// `settings` must hold this table's knobs (values there were checked when they were set).
    public func read(_ settings: Settings) -> Options {
        var options = Options()
        for (e, k) in zip(entries, knobs) { e.read(&options, settings, k.name) }
        return options
    }

    /// Checks every field against its knob's kind, range and constraint: for options built in
    /// code, which no configuration source has checked. A choice must be spelled as the table does.
    public func check(_ options: Options) throws(OptionError) {
        for (e, k) in zip(entries, knobs) {
            let value = e.value(options)
            switch k.accept(value) {
            case .success(let canonical) where canonical == value:
                continue
            case .success:
                throw OptionError([k.name], k.refusal(.init(shown: "'\(value)'")), hint: "allowed: \(k.allowedInErrors)")
            case .failure(let refused):
                throw OptionError([k.name], k.refusal(refused), hint: "allowed: \(k.allowedInErrors)")
            }
        }
    }
}

extension Knob {
    /// An engine option's knob, its names derived from the engine's name and the key: `engine.key`
    /// (`--set`, summary.json), JSON section `engine_config` key `key`, environment variable
    /// `ORBIT_ENGINE_<ENVKEY or KEY>`. The one place these spellings are made.
    public init(engine: String, key: String, envKey: String? = nil, kind: Kind, default defaultValue: KnobValue,
                help: String, constraint: KnobConstraint? = nil) {
        self.init(engine + "." + key, section: engine + "_config", key: key,
                  env: "ORBIT_" + engine.uppercased() + "_" + (envKey ?? key).uppercased(),
                  kind: kind, default: defaultValue, help: help, constraint: constraint)
    }
}

/// Options whose knobs, reading and range checks come from one `OptionTable`: conforming needs
/// only the table (and `validate(durability:)` when some combination of values is refused).
public protocol TableDrivenOptions: EngineOptions {
    static var optionTable: OptionTable<Self> { get }
}

extension TableDrivenOptions {
    public static var knobs: [Knob] { optionTable.knobs }

    /// Reads every option of the table from `settings`, which must hold the table's knobs.
    public init(settings: Settings) { self = Self.optionTable.read(settings) }

    /// No combination is refused unless the type says otherwise.
    public func validate(durability: DurabilityMode) throws {}

    /// Every value's range (with `ranges`), then the combinations (`validate`), however the
    /// options were made. Throws `OrbitError(.invalidConfig)` whose message names the knobs.
    ///
    /// Engines call it at open with `ranges: false`: values from settings were range-checked when
    /// set, and options built in code may go past the knobs on purpose (the crash lab's grow child
    /// holds lsm compaction off with a threshold of 100,000, beyond the knob's 1...64).
    public func check(durability: DurabilityMode, ranges: Bool = true) throws {
        do {
            if ranges { try Self.optionTable.check(self) }
            try validate(durability: durability)
        } catch let e as OptionError {
            throw e.orbitError()
        }
    }
}

extension EngineOptions {
    /// The options `settings` select, their combination with the settings' durability mode
    /// checked before anything is opened or written: a refusal is an `OrbitError` located at each
    /// knob involved and where its value came from. (Values were range-checked when set.)
    public static func validated(from settings: Settings) throws -> Self {
        let options = try Self(settings: settings)
        do {
            let durability = settings.knob(named: OptionError.durabilityKnob) != nil
                ? settings.durability(OptionError.durabilityKnob) : .none
            try options.validate(durability: durability)
        } catch let e as OptionError {
            throw e.orbitError(sources: settings)
        }
        return options
    }
}

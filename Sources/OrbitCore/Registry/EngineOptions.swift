/// An engine's options, as the registry and the harness see them: defaults, the knob table the
/// harness derives its `ORBIT_*`, JSON and `--set` names from, reading from resolved settings, and
/// the check against a durability mode (docs/architecture.md, "The engine registry").
public protocol EngineOptions: Sendable {
    /// The defaults.
    init()
    /// Every option of the engine, stated once (name, default, range, documentation).
    static var knobs: [Knob] { get }
    /// The options the settings select; throws on a value the knob table does not allow.
    init(settings: Settings) throws
    /// Throws when the options cannot keep the promise of `durability` (or are out of range).
    func validate(durability: DurabilityMode) throws
}

/// An engine's options refused: a value out of its knob's range, or a combination the engine cannot
/// honour (lsm's slowdown trigger at or above its stop trigger; rocksdb without a WAL under a
/// syncing durability mode).
///
/// It names the knobs involved by their canonical names, so the harness says where each value
/// came from (`orbitError(sources:)`) without reading the message. Engines throw it from
/// `validate(durability:)` and `OptionTable.check`; it reaches people as an `OrbitError`
/// (`.invalidConfig`, exit status 2).
public struct OptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Canonical knob names ("lsm.l0_stop_writes_trigger", "durability"), in the order the message names them.
    public var knobs: [String]
    public var message: String
    /// What is allowed, or what to change.
    public var hint: String?

    /// The core knob a combination with the durability mode names.
    public static let durabilityKnob = "durability"

    public init(_ knobs: [String], _ message: String, hint: String? = nil) {
        self.knobs = knobs
        self.message = message
        self.hint = hint
    }

    public var description: String { orbitError().description }

    /// The error people see. With `settings`, located at each knob and its source
    /// ("rocksdb.wal from flag --set rocksdb.wal=false, durability from default"); a knob that
    /// `settings` does not hold is left out of the location.
    public func orbitError(sources settings: Settings? = nil) -> OrbitError {
        var location: String?
        if let settings {
            let known = knobs.filter { settings.knob(named: $0) != nil }
            if !known.isEmpty { location = known.map { "\($0) from \(settings.source($0))" }.joined(separator: ", ") }
        }
        return OrbitError(.invalidConfig, message, at: location, hint: hint)
    }
}

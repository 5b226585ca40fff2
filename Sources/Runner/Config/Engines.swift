public import OrbitCore
import BuiltinEngines

/// The engines of this build, and how to open one from settings: a thin face over `EngineRegistry`
/// (the built-in engines are installed on first use; a test may register more).
public enum Engines {
    /// Installs the built-in engines (idempotent); every function below calls it.
    public static func install() { BuiltinEngines.install() }

    /// Every registered engine's knobs, in registry order.
    public static var allKnobs: [Knob] {
        install()
        return EngineRegistry.all.flatMap { knobs(of: $0) }
    }

    private static func knobs<D: EngineDescriptor>(of _: D.Type) -> [Knob] { D.Options.knobs }

    /// The engines of this build (`BuiltinEngines.descriptors`; not those a test registered), in order.
    public static var builtinNames: [String] { BuiltinEngines.descriptors.map { $0.name } }

    /// One line per backend for `orbit-bench list`.
    public static var descriptions: [(name: String, summary: String)] {
        install()
        return EngineRegistry.all.map { ($0.name, $0.summary) }
    }

    /// The registered descriptor for `backend`, or the "unknown backend" error listing the others.
    public static func descriptor(_ backend: String) throws -> any EngineDescriptor.Type {
        install()
        return try EngineRegistry.require(backend)
    }

    /// Opens `backend` with its store in `directory` and runs `body` on it, specialised on the engine's
    /// concrete type. The engine is closed afterwards (also when `body` throws).
    public static func withEngine<B: EngineBody>(_ backend: String, directory: String, settings: Settings,
                                                 access: StoreAccess = .readWrite, _ body: B) throws -> B.Result {
        try EngineRegistry.visit(descriptor(backend), OpenAndRun(directory: directory, settings: settings, access: access, body: body))
    }

    private struct OpenAndRun<B: EngineBody>: EngineDescriptorVisitor {
        let directory: String
        let settings: Settings
        let access: StoreAccess
        let body: B

        func visit<D: EngineDescriptor>(_: D.Type) throws -> B.Result {
            try ClosingAfter(body).run(D.open(directory: directory, settings: settings, access: access))
        }
    }

    /// Checks the backend's options against the settings before anything is opened or written, so a
    /// bad combination is refused up front (exit status 2), naming where each setting came from.
    public static func validate(_ backend: String, settings: Settings) throws {
        install()
        try EngineRegistry.descriptor(named: backend)?.validate(settings: settings)
    }

    /// Whether the backend keeps its store on disk (an unknown name: assumed so).
    public static func isDurable(_ backend: String) -> Bool { capabilities(backend)?.contains(.durable) ?? true }

    /// The backend's capabilities (nil: not registered).
    public static func capabilities(_ backend: String) -> EngineCapabilities? {
        install()
        return EngineRegistry.descriptor(named: backend)?.capabilities
    }

    /// The registered backends with every capability of `capabilities`, in registry order.
    public static func names(with capabilities: EngineCapabilities = [], without excluded: EngineCapabilities = []) -> [String] {
        install()
        return EngineRegistry.names(with: capabilities).filter { Engines.capabilities($0)?.isDisjoint(with: excluded) ?? true }
    }

    public static func durabilityPromise(_ backend: String, _ mode: DurabilityMode) -> DurabilityPromise {
        install()
        guard let d = EngineRegistry.descriptor(named: backend) else {
            return DurabilityPromise(.nothing, "unknown backend '\(backend)'")
        }
        return d.durabilityPromise(for: mode)
    }

    /// The backend name for a spelling (an alias, in any case), or the spelling itself when unknown.
    public static func canonicalName(_ name: String) -> String {
        install()
        return EngineRegistry.canonicalName(name)
    }
}

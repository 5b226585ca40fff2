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
            if let keyPath = Engines.encryptionKeyPath(settings) {
                guard let f = D.self as? any FileLayerEngineDescriptor.Type else { throw Engines.notOnFileLayer(D.name, settings) }
                return try openEncrypted(f, keyPath: keyPath)
            }
            if D.capabilities.contains(.usesFileLayer) { try Engines.refuseEncryptedStore(directory, isStoreEntry: D.isStoreEntry) }
            return try ClosingAfter(body).run(D.open(directory: directory, settings: settings, access: access))
        }

        private func openEncrypted<F: FileLayerEngineDescriptor>(_: F.Type, keyPath: String) throws -> B.Result {
            let fs = try Engines.encryptingFileSystem(keyPath: keyPath, settings: settings)
            try fs.verifyKey(directory: directory, isStoreFile: { F.isStoreEntry($0) && !Engines.isLockFile($0) })
            return try F.open(fs: fs, directory: directory, options: F.Options(settings: settings), durability: settings.durability(),
                              access: access, ClosingAfter(body))
        }
    }

    // MARK: Encryption at rest (`encryption_key_path`; docs/formats/encryption.md)

    /// The key file `settings` names, nil when stores are not encrypted (the knob empty or absent).
    public static func encryptionKeyPath(_ settings: Settings) -> String? {
        guard settings.knob(named: CoreKnobs.encryptionKeyPath) != nil else { return nil }
        let path = settings.string(CoreKnobs.encryptionKeyPath)
        return path.isEmpty ? nil : path
    }

    /// The real file system wrapped in encryption under the key in `keyPath` (read, and its mode
    /// checked, now).
    public static func encryptingFileSystem(keyPath: String, settings: Settings) throws -> EncryptingFileSystem<POSIXFileSystem> {
        let source = settings.source(CoreKnobs.encryptionKeyPath)
        let setting = "\(CoreKnobs.encryptionKeyPath) (\(source))"
        return EncryptingFileSystem(base: POSIXFileSystem(), key: try EncryptionKey.load(path: keyPath, setting: setting))
    }

    /// `descriptor.inspect(directory:)`, through the encrypting file system when `settings` name a
    /// key (checked against the store's files first); an encrypted store without one is refused.
    public static func inspect(_ descriptor: any EngineDescriptor.Type, directory: String, settings: Settings) throws -> EngineInspection {
        guard let keyPath = encryptionKeyPath(settings) else {
            if descriptor.capabilities.contains(.usesFileLayer) {
                try refuseEncryptedStore(directory, isStoreEntry: descriptor.isStoreEntry)
            }
            return try descriptor.inspect(directory: directory)
        }
        guard let f = descriptor as? any FileLayerEngineDescriptor.Type else { throw notOnFileLayer(descriptor.name, settings) }
        return try inspectEncrypted(f, directory: directory, keyPath: keyPath, settings: settings)
    }

    private static func inspectEncrypted<F: FileLayerEngineDescriptor>(_: F.Type, directory: String, keyPath: String,
                                                                     settings: Settings) throws -> EngineInspection {
        let fs = try encryptingFileSystem(keyPath: keyPath, settings: settings)
        try fs.verifyKey(directory: directory, isStoreFile: { F.isStoreEntry($0) && !isLockFile($0) })
        return try F.inspect(fs: fs, directory: directory)
    }

    /// A store's lock file ("LOCK", "cow.lock"): taken through the file system's `lock`, never encrypted.
    static func isLockFile(_ name: String) -> Bool { name.lowercased().hasSuffix("lock") }

    /// The refusal of `encryption_key_path` for an engine that does its own I/O.
    static func notOnFileLayer(_ backend: String, _ settings: Settings) -> OrbitError {
        OrbitError(.invalidConfig, "\(CoreKnobs.encryptionKeyPath): \(backend) does its own I/O, which orbit-bench cannot encrypt",
                   at: settings.source(CoreKnobs.encryptionKeyPath).location,
                   hint: "encryption at rest is for the engines on the file layer: "
                       + names(with: .usesFileLayer).joined(separator: ", ") + "; leave the setting empty for \(backend)")
    }

    /// Refuses to open an encrypted store without its key: an engine would read ciphertext and
    /// call it corruption.
    static func refuseEncryptedStore(_ directory: String, isStoreEntry: (String) -> Bool) throws {
        let fs = POSIXFileSystem()
        guard fs.isDirectory(directory), let names = try? fs.list(directory: directory) else { return }
        for name in names where isStoreEntry(name) && hasEncryptionHeader(fs, joinPath(directory, name)) {
            throw OrbitError(.invalidConfig, "the store is encrypted, and no key was given", at: joinPath(directory, name),
                             hint: "set \(CoreKnobs.encryptionKeyPath) (flag --set \(CoreKnobs.encryptionKeyPath)=FILE, "
                                 + "environment ORBIT_ENCRYPTION_KEY_PATH, JSON \"\(CoreKnobs.encryptionKeyPath)\") to the key it was written with")
        }
    }

    /// Checks the backend's options against the settings before anything is opened or written, so a
    /// bad combination is refused up front (exit status 2), naming where each setting came from.
    public static func validate(_ backend: String, settings: Settings) throws {
        install()
        guard let d = EngineRegistry.descriptor(named: backend) else { return }
        try d.validate(settings: settings)
        if let keyPath = encryptionKeyPath(settings) {
            guard d.capabilities.contains(.usesFileLayer) else { throw notOnFileLayer(d.name, settings) }
            _ = try encryptingFileSystem(keyPath: keyPath, settings: settings)
        }
    }

    /// Whether the backend keeps its store on disk (an unknown name: assumed so).
    public static func isDurable(_ backend: String) -> Bool { capabilities(backend)?.contains(.durable) ?? true }

    /// The backend's capabilities (nil: not registered).
    public static func capabilities(_ backend: String) -> EngineCapabilities? {
        install()
        return EngineRegistry.descriptor(named: backend)?.capabilities
    }

    /// The knob naming an existing server of a server backend by address (nil: the backend has none).
    public static func serverAddressKnob(_ backend: String) -> String? {
        install()
        return EngineRegistry.descriptor(named: backend)?.serverAddressKnob
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

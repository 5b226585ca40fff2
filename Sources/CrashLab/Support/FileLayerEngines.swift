import OrbitCore
import Runner

/// The registered engines that do their I/O through the file layer (`FileLayerEngineDescriptor`),
/// opened on a file system the crash lab chooses (the fault injector), specialised per engine.
enum FileLayerEngines {
    /// The file-layer descriptor registered under `name`; nil: not registered, or it does its own I/O.
    static func descriptor(_ name: String) -> (any FileLayerEngineDescriptor.Type)? {
        Engines.install()
        return EngineRegistry.descriptor(named: name) as? any FileLayerEngineDescriptor.Type
    }

    /// Whether `name` is a registered engine that runs on the file layer.
    static func supports(_ name: String) -> Bool { descriptor(name) != nil }

    /// The registered file-layer engines, in registry order (for hints).
    static var names: [String] { Engines.names(with: .usesFileLayer) }

    /// Opens the engine `name` with its stress options on `fs` in `directory`, runs `body`, closes the
    /// engine (also when `body` throws).
    static func withEngine<FS: FileSystem, B: EngineBody>(_ name: String, fs: FS, directory: String,
                                                          durability: DurabilityMode,
                                                          adjust: (any EngineOptions) -> any EngineOptions = { $0 },
                                                          _ body: B) throws -> B.Result {
        guard let d = descriptor(name) else {
            throw OrbitError(.unsupported, "\(name) does not do its I/O through the file layer",
                             hint: "file-layer engines: " + names.joined(separator: ", "))
        }
        return try open(d, fs: fs, directory: directory, durability: durability, adjust: adjust, body)
    }

    /// The engine's stress options (`FileLayerEngineDescriptor.stressed`) over the options `settings`
    /// selects when they carry the engine's knobs (the defaults otherwise).
    static func stressed<D: FileLayerEngineDescriptor>(_: D.Type, settings: Settings) -> D.Options {
        let configured = D.Options.knobs.first.map { settings.knob(named: $0.name) != nil } ?? false
        return D.stressed(configured ? ((try? D.Options(settings: settings)) ?? D.Options()) : D.Options())
    }

    /// Calls `visitor` with the file-layer descriptor `d` and its engine type over the fault injector
    /// (`encrypted`: over `EncryptingFileSystem<FaultInjectingFileSystem>`, the engine's files
    /// encrypted above the simulated disk).
    static func onFaultInjector<V: FileLayerEngineTypeVisitor>(_ d: any FileLayerEngineDescriptor.Type, encrypted: Bool = false,
                                                               _ visitor: V) throws -> V.Result {
        try typed(d, encrypted: encrypted, visitor)
    }

    private static func typed<D: FileLayerEngineDescriptor, V: FileLayerEngineTypeVisitor>(_: D.Type, encrypted: Bool,
                                                                                           _ visitor: V) throws -> V.Result {
        encrypted ? try D.withEngineType(on: EncryptingFileSystem<FaultInjectingFileSystem>.self, Bind<D, V>(visitor: visitor))
            : try D.withEngineType(on: FaultInjectingFileSystem.self, Bind<D, V>(visitor: visitor))
    }

    /// The key `settings` name (`encryption_key_path`), read and checked; nil: not encrypted.
    static func encryptionKey(_ settings: Settings) throws -> EncryptionKey? {
        try Engines.encryptionKeyPath(settings).map { try Engines.encryptingFileSystem(keyPath: $0, settings: settings).key }
    }

    private struct Bind<D: FileLayerEngineDescriptor, V: FileLayerEngineTypeVisitor>: EngineTypeVisitor {
        let visitor: V
        func visit<E: StorageEngine>(_ type: E.Type) throws -> V.Result { try visitor.visit(D.self, type) }
    }

    private static func open<D: FileLayerEngineDescriptor, FS: FileSystem, B: EngineBody>(
        _: D.Type, fs: FS, directory: String, durability: DurabilityMode,
        adjust: (any EngineOptions) -> any EngineOptions, _ body: B) throws -> B.Result {
        let options = adjust(D.stressOptions) as? D.Options ?? D.stressOptions
        return try D.open(fs: fs, directory: directory, options: options, durability: durability, access: .readWrite,
                          ClosingAfter(body))
    }

    /// Runs `body` specialised on the context's file-layer engine and its engine type over the fault
    /// injector. An engine that does its own I/O is refused: the `method` sweep (which `does` something
    /// "through the file layer") cannot reach it.
    static func sweep<B: FileLayerSweepBody>(_ body: B, _ context: CrashSweepContext, method: CrashRecord.Method, does: String,
                                             onRecord: (CrashRecord) throws -> Void) throws {
        try sweep(body, context, onRecord: onRecord) {
            OrbitError(.unsupported, "the \(method.rawValue) sweep cannot run on \(context.engine)", at: "engine",
                       hint: "it \(does) through the file layer, which only " + names.joined(separator: " and ")
                           + " use; the others do their own I/O")
        }
    }

    /// Runs `body` as above; `unsupported` is the error for an engine that does its own I/O.
    /// `encrypts`: the body opens its engines through `EncryptingFileSystem` when the settings name
    /// a key (the power-loss sweep); otherwise a key in the settings is refused.
    static func sweep<B: FileLayerSweepBody>(_ body: B, _ context: CrashSweepContext, encrypts: Bool = false,
                                             onRecord: (CrashRecord) throws -> Void, unsupported: () -> OrbitError) throws {
        guard let d = descriptor(context.engine) else { throw unsupported() }
        let encrypted = Engines.encryptionKeyPath(context.settings) != nil
        if encrypted && !encrypts {
            throw OrbitError(.invalidConfig, "\(CoreKnobs.encryptionKeyPath): this crash method runs only on plain stores",
                             at: context.settings.source(CoreKnobs.encryptionKeyPath).location,
                             hint: "the kill, power-loss and corruption sweeps run encrypted; leave the setting empty for the others")
        }
        try withoutActuallyEscaping(onRecord) { onRecord in
            try onFaultInjector(d, encrypted: encrypted, SweepVisitor(body: body, context: context, onRecord: onRecord))
        }
    }

    private struct SweepVisitor<B: FileLayerSweepBody>: FileLayerEngineTypeVisitor {
        let body: B
        let context: CrashSweepContext
        let onRecord: (CrashRecord) throws -> Void
        func visit<D: FileLayerEngineDescriptor, E: StorageEngine>(_ d: D.Type, _ e: E.Type) throws {
            try body.run(d, e, context, onRecord)
        }
    }
}

/// A crash sweep written once for every file-layer engine: `D` its descriptor, `E` its engine type
/// over the fault injector.
protocol FileLayerSweepBody {
    func run<D: FileLayerEngineDescriptor, E: StorageEngine>(_: D.Type, _: E.Type, _ context: CrashSweepContext,
                                                             _ onRecord: (CrashRecord) throws -> Void) throws
}

/// Work specialised on a file-layer engine's descriptor and its engine type over the fault injector.
protocol FileLayerEngineTypeVisitor {
    associatedtype Result
    func visit<D: FileLayerEngineDescriptor, E: StorageEngine>(_ descriptor: D.Type, _ engine: E.Type) throws -> Result
}

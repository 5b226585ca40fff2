/// One engine, as the harness knows it: everything Runner, CrashLab, the CLI, `list` and the test
/// support need, exported by the engine's own module in one file (`LSMDescriptor`, `CowDescriptor`,
/// ...) and registered once (`EngineRegistry`; docs/architecture.md, "The engine registry").
///
/// A descriptor is a type (an enum without cases), so a visitor handed `D.Type` is specialised on
/// `D.Engine` and every engine call inside it is direct, never existential.
///
/// Invariant: nothing outside an engine's descriptor (and help text) names an engine: the harness
/// asks the registry, and branches on `capabilities`, never on `name`.
public protocol EngineDescriptor: Sendable {
    associatedtype Engine: StorageEngine
    associatedtype Options: EngineOptions
    /// The formats of the store's files (`fileLayout`, `fileKind`); default: none known.
    associatedtype Layouts: StoreFileLayouts = NoFileLayouts

    /// The backend name in results, flags and workload files ("lsm").
    static var name: String { get }
    /// Other spellings accepted for `name` (the seeds' "LsmTree", "CowBTree"); compared without case,
    /// `_` or `-`.
    static var aliases: [String] { get }
    /// One line for `orbit-bench list`.
    static var summary: String { get }
    /// "a" or "an", as the name is read out in messages ("an lsm store": el-es-em).
    static var article: String { get }
    static var capabilities: EngineCapabilities { get }
    /// The engine's colour in every plot ("#2ca02c"); nil: one from the plots' palette.
    static var plotColour: String? { get }
    /// The engine's name for people ("LSM-tree", "RocksDB"), as column titles print it; default: `name`.
    static var displayName: String { get }
    /// The version of the library the engine wraps ("9.10.0"), recorded in every run's environment
    /// under the engine's name; nil (the default) for an engine written here.
    static var libraryVersion: String? { get }
    /// What the engine's own memory account (`StorageStats.memoryUsageBytes`) leaves out, for tables
    /// that print it ("its pages live in the OS page cache via mmap, not counted"); nil: nothing.
    static var memoryAccountNote: String? { get }
    /// A server backend's knob naming an existing server by address ("redis.url"), empty for a managed
    /// server on loopback; nil (the default): the engine has no such knob. `run --agents` needs it
    /// set, so every agent reaches the same server (docs/formats/agent-protocol.md).
    static var serverAddressKnob: String? { get }

    /// Opens (read-write: creating it in a missing or empty directory) the store in `directory`.
    /// An engine without files ignores `directory`.
    static func open(directory: String, options: Options, durability: DurabilityMode,
                     access: StoreAccess) throws -> Engine
    /// What the engine promises to keep after a crash under `mode`.
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise
    /// Checks the settings' options (and their combination with the durability mode) before anything
    /// is opened or written; the error names the setting and where it came from.
    static func validate(settings: Settings) throws
    /// The largest key and value the engine stores under `options`.
    static func limits(_ options: Options) -> EngineLimits
    /// Options small enough that flushes, compactions and checkpoints happen within a few hundred
    /// operations: the crash lab's and the conformance suite's configuration.
    static var stressOptions: Options { get }
    /// Further configurations worth testing on their own, as (suffix, options): cow's pure
    /// copy-on-write mode ("nowal"). The conformance suite runs each as `<name>-<suffix>`.
    static var variants: [(suffix: String, options: Options)] { get }

    /// The stores the crash lab's corruption and file-damage sweeps build (CrashLab/Corruption):
    /// "closed" (closed cleanly) and "open" (copied while open, after `sync()`), with the engine's
    /// qualifiers appended ("closed,wal=false"). Default: closed and open.
    static var damageStoreVariants: [String] { get }
    /// The options such a store is built with: small enough that a few hundred writes make every
    /// file kind (tables in several levels, WAL segments, checkpoints); the settings' values kept
    /// otherwise. Default: the settings' options.
    static func damageStoreOptions(settings: Settings, variant: String) throws -> Options
    /// The options the resource-limits sweep grows a store with: many small tables (or pages), compaction
    /// held off where the engine allows it. Default: the settings' options.
    static func growthOptions(settings: Settings) throws -> Options
    /// How that sweep counts a store's size under `options` (`StoreGrowth`). Default: `.sst` tables.
    static func growth(_ options: Options) -> StoreGrowth

    /// What the engine's own markers find in `directory` (README "Store safety"); reads only.
    static func recognizeStore(at directory: String) -> StoreRecognition
    /// Whether `name`, an entry of a store directory, is a file this engine writes.
    static func isStoreEntry(_ name: String) -> Bool

    /// Describes the store in `directory` and verifies every checksum (`capabilities` has
    /// `.inspect`); changes no byte.
    static func inspect(directory: String) throws -> EngineInspection
    /// How to look into a store of this engine when orbit-bench has no inspector for it
    /// ("RocksDB's own tool reads it: ..."); nil: no such tool.
    static func externalInspectHint(directory: String) -> String?

    /// The format of one file of a store of this engine (`relativePath` below the store directory,
    /// `bytes` its content), from the engine's own format constants: what CrashLab's corruption,
    /// file-damage and I/O-error sweeps damage and how they name it. Nil: the engine keeps no files.
    static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout?
    /// The kind of a file of the store ("wal", "sstable", "data-page", ...; "other" for a file the
    /// engine does not know): the `fileType` its layout would carry, from the path alone.
    static func fileKind(relativePath: String) -> String
}

/// An engine that does its I/O through the file layer, so it can be opened on any `FileSystem` —
/// the fault injector in particular (power loss, I/O errors, failed fsyncs). Swift has no
/// higher-kinded types: the engine type depends on `FS`, so `open` hands the engine to `body`,
/// which is generic over it.
///
/// The crash lab's simulated-disk methods (power loss, I/O errors, fsync failures) run on any such
/// engine; the requirements after `open` are the engine's own test hooks for them (crash points,
/// what makes its writes durable), with defaults that fit an engine without any.
public protocol FileLayerEngineDescriptor: EngineDescriptor {
    static func open<FS: FileSystem, B: EngineBody>(fs: FS, directory: String, options: Options,
                                                    durability: DurabilityMode, access: StoreAccess,
                                                    _ body: B) throws -> B.Result
    /// Calls `visitor` with the engine's type over `FS` (`LSMTree<FS>.self`), so a caller can be
    /// generic over it before any engine is open.
    static func withEngineType<FS: FileSystem, V: EngineTypeVisitor>(on _: FS.Type, _ visitor: V) throws -> V.Result

    /// `options` made small, the way `stressOptions` is (the settings' own values kept otherwise).
    static func stressed(_ options: Options) -> Options
    /// The options of one store of the power-loss sweep (seeded: small, varied configurations).
    static func powerLossOptions(rng: inout SeededRNG, store: Int, durability: DurabilityMode) -> Options
    /// The options in a crash record's detail ("wal=false page=512 ...").
    static func crashLabel(_ options: Options) -> String
    /// What a crash record's durability column adds to the mode for `options` ("wal=false"); nil: nothing.
    static func durabilityQualifier(_ options: Options) -> String?
    /// Whether an acknowledged write is durable under `durability` with `options` (its ack waited for a sync).
    static func syncsOnAck(_ options: Options, durability: DurabilityMode) -> Bool
    /// The engine's named crash points (`FaultInjectingFileSystem.arm`) and how often to arm each.
    static func crashPoints(_ options: Options, durability: DurabilityMode) -> [(name: String, probability: Double)]
    /// The configurations the fsync-failure sweep alternates between, round by round of probes, as
    /// (label for the record, options), from the options `stressed` gives. Default: `stressed` alone.
    static func fsyncFailureConfigurations(_ stressed: Options) -> [(label: String, options: Options)]
    /// Whether a failed sync of the store's file `name` must leave the engine refusing writes: a
    /// file an acknowledgement or a checkpoint depends on. Default: none.
    static func acknowledgementsDependOn(fileNamed name: String) -> Bool
    /// What the engine has said once it refuses writes after a failed sync ("read-only until reopened").
    static var writeRefusalAfterFailedSync: String { get }
    /// The value sizes of the fsync-failure sweep's writes. Default: 40..<240.
    static var fsyncFailureValueSizes: Range<Int> { get }
    /// The engine's own "make it durable" call besides `sync()` (a flush, a checkpoint); returns whether
    /// it made every acknowledged write durable. `engine` is one `open(fs:)` made.
    static func persist<E: StorageEngine>(_ engine: E, _ options: Options, durability: DurabilityMode) throws -> Bool
    /// `inspect(directory:)` reading through `fs` (the encrypting file system, for an encrypted
    /// store); changes no byte. Default: unsupported.
    static func inspect<FS: FileSystem>(fs: FS, directory: String) throws -> EngineInspection
}

/// Work generic over an engine type, before any engine is open (`withEngineType`).
public protocol EngineTypeVisitor {
    associatedtype Result
    func visit<E: StorageEngine>(_ type: E.Type) throws -> Result
}

extension FileLayerEngineDescriptor {
    public static func stressed(_ options: Options) -> Options { options }
    public static func powerLossOptions(rng: inout SeededRNG, store: Int, durability: DurabilityMode) -> Options { stressOptions }
    public static func crashLabel(_ options: Options) -> String { "" }
    public static func durabilityQualifier(_ options: Options) -> String? { nil }
    public static func syncsOnAck(_ options: Options, durability: DurabilityMode) -> Bool { durability.syncsBeforeAck }
    public static func crashPoints(_ options: Options, durability: DurabilityMode) -> [(name: String, probability: Double)] { [] }
    public static func fsyncFailureConfigurations(_ stressed: Options) -> [(label: String, options: Options)] { [("", stressed)] }
    public static func acknowledgementsDependOn(fileNamed name: String) -> Bool { false }
    public static var writeRefusalAfterFailedSync: String { "refusing writes" }
    public static var fsyncFailureValueSizes: Range<Int> { 40..<240 }
    public static func persist<E: StorageEngine>(_ engine: E, _ options: Options, durability: DurabilityMode) throws -> Bool {
        try engine.sync()
        return true
    }
    public static func inspect<FS: FileSystem>(fs: FS, directory: String) throws -> EngineInspection {
        throw OrbitError(.unsupported, "orbit-bench cannot inspect \(name) stores through another file system", at: directory)
    }

    /// Opens with `options` on `fs`, typed as `E` (the type `withEngineType(on: FS.self)` named).
    public static func open<FS: FileSystem, E: StorageEngine>(as _: E.Type, fs: FS, directory: String, options: Options,
                                                              durability: DurabilityMode, access: StoreAccess = .readWrite) throws -> E {
        try open(fs: fs, directory: directory, options: options, durability: durability, access: access, Typed<E>())
    }
}

/// Hands back the engine `open(fs:)` made as the type `withEngineType` named for the same file
/// system (the cast cannot fail: both come from the same descriptor and `FS`).
private struct Typed<Expected: StorageEngine>: EngineBody {
    func run<E: StorageEngine>(_ engine: E) throws -> Expected {
        guard let e = engine as? Expected else { preconditionFailure("withEngineType and open(fs:) disagree: \(E.self) is not \(Expected.self)") }
        return e
    }
}

/// A piece of work to do on an open engine, generic over the engine's concrete type (the runner's
/// loop, a crash driver): everything inside is specialised.
public protocol EngineBody {
    associatedtype Result
    func run<E: StorageEngine>(_ engine: E) throws -> Result
}

/// Runs a body on the engine, then closes the engine (also when the body throws: then the body's
/// error is the one thrown).
public struct ClosingAfter<B: EngineBody>: EngineBody {
    public let body: B
    public init(_ body: B) { self.body = body }
    public func run<E: StorageEngine>(_ engine: E) throws -> B.Result {
        do {
            let r = try body.run(engine)
            try engine.close()
            return r
        } catch {
            try? engine.close()
            throw error
        }
    }
}

/// A piece of work written once for every engine and specialised per engine.
public protocol EngineDescriptorVisitor {
    associatedtype Result
    func visit<D: EngineDescriptor>(_ descriptor: D.Type) throws -> Result
}

/// What an engine can do, for the harness to branch on instead of on engine names.
public struct EngineCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let snapshots = EngineCapabilities(rawValue: 1 << 0)
    public static let atomicBatches = EngineCapabilities(rawValue: 1 << 1)
    public static let orderedScans = EngineCapabilities(rawValue: 1 << 2)
    /// Keeps its data after its process ends (a store on disk).
    public static let durable = EngineCapabilities(rawValue: 1 << 3)
    /// Opens a store read-only, changing no byte.
    public static let readOnlyOpen = EngineCapabilities(rawValue: 1 << 4)
    /// `inspect(directory:)` describes and verifies a store.
    public static let inspect = EngineCapabilities(rawValue: 1 << 5)
    /// All its I/O goes through the file layer (a `FileLayerEngineDescriptor`): the crash methods
    /// that simulate the disk (power loss, I/O errors, fsync failures) apply.
    public static let usesFileLayer = EngineCapabilities(rawValue: 1 << 6)
    /// A broken promise in a crash sweep fails the sweep (the hand-written engines); without it the
    /// engine's crash results are reported for the record only (the reference libraries).
    public static let gatesCrashVerdicts = EngineCapabilities(rawValue: 1 << 7)
    /// A client of a server (postgres, redis): its store directory holds a managed server's files (or
    /// only a marker naming an external one), which the server, not the engine, writes; the crash
    /// methods that damage, reopen or grow an engine's own files do not apply.
    public static let server = EngineCapabilities(rawValue: 1 << 8)
}

/// An inspector's report: the lines to print, and whether every check passed.
public struct EngineInspection: Sendable {
    public var lines: [String]
    public var ok: Bool
    public init(lines: [String], ok: Bool) {
        self.lines = lines
        self.ok = ok
    }
}

extension EngineDescriptor {
    public static var aliases: [String] { [] }
    public static var article: String { "a" }
    public static var plotColour: String? { nil }
    public static var displayName: String { name }
    public static var libraryVersion: String? { nil }
    public static var memoryAccountNote: String? { nil }
    public static var serverAddressKnob: String? { nil }
    public static var damageStoreVariants: [String] { ["closed", "open"] }
    public static func damageStoreOptions(settings: Settings, variant: String) throws -> Options { try Options(settings: settings) }
    public static func growthOptions(settings: Settings) throws -> Options { try Options(settings: settings) }
    public static func growth(_ options: Options) -> StoreGrowth { .tables }
    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise { Engine.durabilityPromise(for: mode) }
    public static func validate(settings: Settings) throws {
        try Options(settings: settings).validate(durability: settings.durability())
    }
    public static func limits(_ options: Options) -> EngineLimits { .unlimited }
    public static var stressOptions: Options { Options() }
    public static var variants: [(suffix: String, options: Options)] { [] }
    public static func recognizeStore(at directory: String) -> StoreRecognition { .empty }
    public static func isStoreEntry(_ name: String) -> Bool { false }
    public static func inspect(directory: String) throws -> EngineInspection {
        throw OrbitError(.unsupported, "orbit-bench has no inspector for \(name) stores", at: directory)
    }
    public static func externalInspectHint(directory: String) -> String? { nil }
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        Layouts.fileLayout(relativePath: relativePath, bytes: bytes)
    }
    public static func fileKind(relativePath: String) -> String { Layouts.fileKind(relativePath: relativePath) }

    /// Opens with the options `settings` selects.
    public static func open(directory: String, settings: Settings, access: StoreAccess = .readWrite) throws -> Engine {
        try open(directory: directory, options: Options(settings: settings), durability: settings.durability(), access: access)
    }

    /// The engine's limits under the options `settings` selects (the defaults if they do not parse:
    /// `validate(settings:)` reports that).
    public static func limits(settings: Settings) -> EngineLimits {
        limits((try? Options(settings: settings)) ?? Options())
    }

    /// "an lsm", "a cow".
    public static var withArticle: String { "\(article) \(name)" }
}

extension EngineDescriptor where Engine: StoreRecognizing {
    public static func recognizeStore(at directory: String) -> StoreRecognition { Engine.recognizeStore(at: directory) }
    public static func isStoreEntry(_ name: String) -> Bool { Engine.isStoreEntry(name) }
}

extension EngineDescriptor where Options: TableDrivenOptions {
    /// Ranges are checked as each knob is read; combinations by the options type, naming its knobs.
    public static func validate(settings: Settings) throws { _ = try Options.validated(from: settings) }
}

import BuiltinEngines
import OrbitCore
import S3Engine

/// One engine configuration the conformance suite runs: every registered engine with its stress
/// options (`EngineDescriptor.stressOptions`: small memtables and checkpoint intervals, so the suite
/// exercises flushes, levels, compaction and checkpoints), and each of its `variants`
/// ("cow-nowal"). The list comes from `EngineRegistry`, so an engine a test registers is in it.
public struct EngineKind: Sendable, Hashable, CustomStringConvertible {
    /// "lsm", "cow-nowal".
    public let name: String
    /// The registered backend name ("cow").
    public let backend: String
    /// Which of the descriptor's `variants` (nil: its stress options).
    let variant: Int?

    public var description: String { name }

    /// Every registered engine and variant, in registry order.
    public static var allCases: [EngineKind] {
        BuiltinEngines.install()
        return EngineRegistry.all.flatMap { d in
            [EngineKind(name: d.name, backend: d.name, variant: nil)]
                + variantSuffixes(d).enumerated().map { EngineKind(name: "\(d.name)-\($0.element)", backend: d.name, variant: $0.offset) }
        }
    }

    /// The configuration named `name` ("lsm", "cow-nowal"), if registered.
    public static func named(_ name: String) -> EngineKind? { allCases.first { $0.name == name } }

    private static func variantSuffixes<D: EngineDescriptor>(_: D.Type) -> [String] { D.variants.map(\.suffix) }

    var descriptor: any EngineDescriptor.Type { EngineRegistry.descriptor(named: backend)! }

    /// Whether a store that is closed and opened again in the same directory keeps its data.
    /// A volatile engine (memory) keeps nothing; tests of "reopen keeps data" skip it.
    public var isPersistent: Bool { descriptor.capabilities.contains(.durable) }

    /// What the engine declares it can do (snapshots, ordered scans, ...).
    public var capabilities: EngineCapabilities { descriptor.capabilities }

    /// How many times fewer steps the long randomized and concurrent checks take on this engine: 1,
    /// but 10 for s3, whose every operation is an HTTP round trip through SeaweedFS's gateway,
    /// filer and replicated volume servers, and whose scans GET every value listed (a full-size
    /// model test would be millions of requests).
    public var testStepDivisor: Int { backend == S3Descriptor.name ? 10 : 1 }
}

/// How to open one kind of engine, with its concrete type: a test written against
/// `EngineHarness<Engine>` is specialized per engine, as the runner is.
public struct EngineHarness<Engine: StorageEngine>: Sendable {
    public let kind: EngineKind
    /// The store's directory (unused by the memory engine).
    public let directory: String
    public let durability: DurabilityMode
    private let opener: @Sendable (String, DurabilityMode) throws -> Engine

    public init(kind: EngineKind, directory: String, durability: DurabilityMode,
                opener: @escaping @Sendable (String, DurabilityMode) throws -> Engine) {
        self.kind = kind
        self.directory = directory
        self.durability = durability
        self.opener = opener
    }

    public var isPersistent: Bool { kind.isPersistent }

    /// Opens the store in `directory` (created on first use) with the harness's durability mode.
    public func open() throws -> Engine { try opener(directory, durability) }

    /// Opens the store in `directory` with another durability mode.
    public func open(durability: DurabilityMode) throws -> Engine { try opener(directory, durability) }

    /// Closes `engine` and opens the same store again. For an engine that is not persistent the
    /// result is a new, empty engine: check `isPersistent` before expecting data to survive.
    public func reopen(_ engine: Engine) throws -> Engine {
        try engine.close()
        return try open()
    }
}

/// A test body written once for every engine: `visit` is generic over the engine type, so each
/// engine gets its own specialization and every call is direct.
///
///     struct CountKeys: EngineVisitor {
///         func visit<E: StorageEngine>(_ harness: EngineHarness<E>) throws -> UInt64 {
///             let engine = try harness.open()
///             defer { try? engine.close() }
///             return try engine.stats().totalKeys
///         }
///     }
///     let n = try EngineKind.named("memory")!.accept(CountKeys())
public protocol EngineVisitor {
    associatedtype Result
    func visit<Engine: StorageEngine>(_ harness: EngineHarness<Engine>) throws -> Result
}

/// Opens the registry's descriptor into an `EngineHarness` of its concrete engine type.
private struct HarnessOpener<V: EngineVisitor>: EngineDescriptorVisitor {
    let kind: EngineKind
    let directory: String
    let durability: DurabilityMode
    let visitor: V

    func visit<D: EngineDescriptor>(_: D.Type) throws -> V.Result {
        if D.self == S3Descriptor.self { return try SharedS3Cluster.visit(visitor, kind: kind, directory: directory, durability: durability) }
        let options = kind.variant.map { D.variants[$0].options } ?? D.stressOptions
        return try visitor.visit(EngineHarness<D.Engine>(kind: kind, directory: directory, durability: durability) { path, mode in
            try D.open(directory: path, options: options, durability: mode, access: .readWrite)
        })
    }
}

extension EngineKind {
    /// Calls `visitor` with this kind's harness, its store in `directory/<name>`.
    public func accept<V: EngineVisitor>(_ visitor: V, directory: String,
                                         durability: DurabilityMode = .none) throws -> V.Result {
        try EngineRegistry.visit(descriptor, HarnessOpener(kind: self, directory: directory + "/" + name,
                                                           durability: durability, visitor: visitor))
    }

    /// Calls `visitor` with this kind's harness in a fresh temporary directory, removed afterwards.
    public func accept<V: EngineVisitor>(_ visitor: V, durability: DurabilityMode = .none) throws -> V.Result {
        try withTemporaryDirectory(prefix: "orbit-\(name)") { try accept(visitor, directory: $0, durability: durability) }
    }

    /// Opens an engine of this kind with its store in `directory/<name>`, behind the existential
    /// (for tests where dynamic dispatch does not matter).
    public func open(in directory: String, durability: DurabilityMode = .none) throws -> any StorageEngine {
        try accept(OpenVisitor(), directory: directory, durability: durability)
    }

    /// Runs `body` with a fresh engine of this kind in a temporary directory; closes the engine
    /// (unless `body` did) and removes the directory afterwards.
    public func withEngine<R>(durability: DurabilityMode = .none, _ body: (any StorageEngine) throws -> R) throws -> R {
        try withTemporaryDirectory(prefix: "orbit-\(name)") { dir in
            let engine = try open(in: dir, durability: durability)
            defer { try? engine.close() }
            return try body(engine)
        }
    }
}

private struct OpenVisitor: EngineVisitor {
    func visit<Engine: StorageEngine>(_ harness: EngineHarness<Engine>) throws -> any StorageEngine {
        try harness.open()
    }
}

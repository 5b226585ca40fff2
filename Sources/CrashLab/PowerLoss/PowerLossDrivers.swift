import OrbitCore

/// What the power-loss sweep needs to know about one engine: how to open it on the fault injector
/// with small knobs (so flushes, compactions, checkpoints, segment recycling and meta flips happen
/// within a few hundred operations), what makes everything durable besides `sync()`, and its crash
/// points with how often each is reached.
protocol PowerLossDriver {
    associatedtype Engine: StorageEngine
    var engineName: String { get }
    /// The knobs this store runs with, for the record's detail ("wal=false page=512 ...").
    var configLabel: String { get }
    func open(_ fs: FaultInjectingFileSystem, _ directory: String, _ durability: DurabilityMode) throws -> Engine
    /// Whether an acknowledged write is durable under `durability` (its ack waited for a sync).
    func syncedOnAck(_ durability: DurabilityMode) -> Bool
    /// The engine's own "make it durable" call besides `sync()` (LSM flush, cow checkpoint); returns
    /// whether it made every acknowledged write durable.
    func persist(_ engine: Engine, _ durability: DurabilityMode) throws -> Bool
    /// Crash points and the probability to arm each with.
    func crashPoints(_ durability: DurabilityMode) -> [(name: String, probability: Double)]
}

/// The driver of any file-layer engine: its descriptor states the options, crash points and
/// persist call (`FileLayerEngineDescriptor`); `E` is its engine type over the fault injector.
///
/// With a key (`encryption_key_path`), `E` is the engine over `EncryptingFileSystem<FaultInjectingFileSystem>`:
/// the power losses tear the ciphertext, and the engine recovers from its decryption.
struct DescriptorDriver<D: FileLayerEngineDescriptor, E: StorageEngine>: PowerLossDriver {
    var options: D.Options
    var key: EncryptionKey?

    init(rng: inout SeededRNG, store: Int, durability: DurabilityMode, key: EncryptionKey? = nil) {
        options = D.powerLossOptions(rng: &rng, store: store, durability: durability)
        self.key = key
    }

    var engineName: String { D.name }
    var configLabel: String { D.crashLabel(options) + (key == nil ? "" : " encrypted") }

    func open(_ fs: FaultInjectingFileSystem, _ directory: String, _ durability: DurabilityMode) throws -> E {
        if let key {
            return try D.open(as: E.self, fs: EncryptingFileSystem(base: fs, key: key), directory: directory, options: options,
                              durability: durability)
        }
        return try D.open(as: E.self, fs: fs, directory: directory, options: options, durability: durability)
    }

    func syncedOnAck(_ durability: DurabilityMode) -> Bool { D.syncsOnAck(options, durability: durability) }
    func persist(_ engine: E, _ durability: DurabilityMode) throws -> Bool { try D.persist(engine, options, durability: durability) }
    func crashPoints(_ durability: DurabilityMode) -> [(name: String, probability: Double)] { D.crashPoints(options, durability: durability) }
}

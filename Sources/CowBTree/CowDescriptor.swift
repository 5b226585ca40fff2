import OrbitCore

/// The `cow` engine, as the registry knows it (docs/architecture.md, "The engine registry").
public enum CowDescriptor: FileLayerEngineDescriptor {
    public typealias Engine = CowEngine
    public typealias Options = CowOptions

    public static let name = "cow"
    public static let aliases = ["cowbtree", "btree"]
    public static let summary = "hand-written copy-on-write B+tree paged through the file layer; WAL + checkpoints (cow.wal=false: pure copy-on-write commits)"
    public static let capabilities: EngineCapabilities = [
        .snapshots, .atomicBatches, .orderedScans, .durable, .readOnlyOpen, .inspect, .usesFileLayer, .gatesCrashVerdicts,
    ]

    public static func open(directory: String, options: CowOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        try CowEngine(path: directory, options: options, durability: durability, access: access)
    }

    public static func open<FS: FileSystem, B: EngineBody>(fs: FS, directory: String, options: CowOptions,
                                                           durability: DurabilityMode, access: StoreAccess,
                                                           _ body: B) throws -> B.Result {
        try body.run(CowBTree(path: directory, options: options, durability: durability, fileSystem: fs, access: access))
    }

    public static func validate(settings: Settings) throws {
        do {
            try CowOptions(settings: settings).validate(durability: settings.durability())
        } catch var e as OrbitError {
            if let name = CowOptions.knobs.map(\.name).first(where: { e.message.hasPrefix($0 + ":") }) {
                e.location = "\(name) from \(settings.source(name))"
            }
            throw e
        }
    }

    public static func limits(_ options: CowOptions) -> EngineLimits { options.limits }

    /// 512-byte pages, 64 KiB WAL segments, a checkpoint every 8 commits or 8 KiB of WAL.
    public static var stressOptions: CowOptions { stressed(CowOptions(), checkpointBytes: 8192, snapshotInterval: 8) }

    /// `options` with the crash lab's small pages, segments and checkpoint intervals.
    public static func stressed(_ options: CowOptions, checkpointBytes: Int = 8192, snapshotInterval: Int = 16) -> CowOptions {
        var o = options
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.checkpointBytes = checkpointBytes
        o.snapshotInterval = snapshotInterval
        return o
    }

    /// Pure copy-on-write commits (cow.wal=false).
    public static var variants: [(suffix: String, options: CowOptions)] {
        var o = stressOptions
        o.wal = false
        return [("nowal", o)]
    }

    public static func recognizeStore(at directory: String) -> StoreRecognition { CowEngine.recognizeStore(at: directory) }
    public static func isStoreEntry(_ name: String) -> Bool { CowEngine.isStoreEntry(name) }

    public static func inspect(directory: String) throws -> EngineInspection {
        let report = try CowInspector.inspect(directory: directory)
        return EngineInspection(lines: report.lines, ok: report.ok)
    }
}

/// The registry's view of the options (the `options` branch states the options themselves once).
extension CowOptions: EngineOptions {}

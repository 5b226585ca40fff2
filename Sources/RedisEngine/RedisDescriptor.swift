import OrbitCore
import ServerSupport

/// The `redis` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A server: none of the file-layer crash methods apply; no snapshots; crash results for the record.
public enum RedisDescriptor: EngineDescriptor {
    public typealias Engine = RedisEngine
    public typealias Options = RedisOptions

    public static let name = "redis"
    public static let summary = "Redis through hiredis (libhiredis-dev): a managed redis-server on 127.0.0.1, or redis.url; AOF durability"
    public static let plotColour: String? = "#d62728"
    public static let capabilities: EngineCapabilities = [.atomicBatches, .orderedScans, .durable, .server]
    public static let serverAddressKnob: String? = name + ".url"

    public static func open(directory: String, options: RedisOptions, durability: DurabilityMode, access: StoreAccess) throws -> RedisEngine {
        try RedisEngine(directory: directory, options: options, durability: durability, access: access)
    }

    /// Redis's own limit: 512 MB per string (proto-max-bulk-len); keys are members of a sorted set too.
    public static func limits(_ options: RedisOptions) -> EngineLimits { EngineLimits(maxKeySize: 512 << 20, maxValueSize: 512 << 20) }

    public static func validate(settings: Settings) throws {
        let o = try RedisOptions.validated(from: settings)
        if !o.url.isEmpty { _ = try RedisEngine.parse(url: o.url) }
        if o.prefix.isEmpty { throw OrbitError(.invalidConfig, "redis.prefix: bad value ''", at: "redis.prefix from \(settings.source("redis.prefix"))", hint: "a non-empty key prefix") }
    }

    public static func recognizeStore(at directory: String) -> StoreRecognition {
        ServerStoreDirectory.recognize(directory, backend: name)
    }
    public static func isStoreEntry(_ name: String) -> Bool { RedisServer.entries.contains(name) }

    public static func externalInspectHint(directory: String) -> String? {
        "the managed server's AOF is in \(directory)/server/appendonlydir: redis-check-aof reads it"
    }
}

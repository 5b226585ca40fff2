import OrbitCore
import ServerSupport

/// The `s3` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A server: no file-layer crash methods; no snapshots; no atomic batches (declared absent).
public enum S3Descriptor: EngineDescriptor {
    public typealias Engine = S3Engine
    public typealias Options = S3Options

    public static let name = "s3"
    public static let summary = "S3's REST API signed with SigV4 (HTTP/1.1 keep-alive per thread): a managed SeaweedFS cluster on 127.0.0.1, or s3.endpoint; no atomic batches"
    public static let article = "an"
    public static let displayName = "S3"
    public static let plotColour: String? = "#ff9900"
    public static let capabilities: EngineCapabilities = [.orderedScans, .durable, .server]
    public static let serverAddressKnob: String? = name + ".endpoint"

    /// Why the capability is absent (the hint of every refusal).
    public static let batchesAbsentBecause = "S3 writes one object per request and has no multi-object transaction"

    public static func open(directory: String, options: S3Options, durability: DurabilityMode, access: StoreAccess) throws -> S3Engine {
        try S3Engine(directory: directory, options: options, durability: durability, access: access)
    }

    /// S3 object names are at most 1024 bytes: the prefix, `k`, two hex digits per key byte. Values:
    /// one PUT (5 GiB in S3; kept to 64 MiB, a managed cluster's volume size).
    public static func limits(_ options: S3Options) -> EngineLimits {
        EngineLimits(maxKeySize: max(0, (1024 - options.prefix.utf8.count - 1) / 2), maxValueSize: 32 << 20)
    }

    public static func validate(settings: Settings) throws {
        let o = try S3Options.validated(from: settings)
        if !o.endpoint.isEmpty { _ = try S3Engine.parse(endpoint: o.endpoint) }
        guard o.addressing == "path" || o.addressing == "virtual" else {
            throw OrbitError(.invalidConfig, "s3.addressing: bad value '\(o.addressing)'", at: "s3.addressing from \(settings.source("s3.addressing"))",
                             hint: "path or virtual")
        }
        let bucketOK = (3...63).contains(o.bucket.utf8.count) && o.bucket.utf8.allSatisfy {
            ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
        guard bucketOK else {
            throw OrbitError(.invalidConfig, "s3.bucket: bad value '\(o.bucket)'", at: "s3.bucket from \(settings.source("s3.bucket"))",
                             hint: "3 to 63 characters: lower-case letters, digits, '-' and '.'")
        }
        guard o.prefix.utf8.count <= 512, !o.prefix.hasPrefix("/") else {
            throw OrbitError(.invalidConfig, "s3.prefix: bad value '\(o.prefix)'", at: "s3.prefix from \(settings.source("s3.prefix"))",
                             hint: "at most 512 bytes, not starting with '/'")
        }
    }

    public static func recognizeStore(at directory: String) -> StoreRecognition {
        ServerStoreDirectory.recognize(directory, backend: name)
    }
    public static func isStoreEntry(_ name: String) -> Bool { ServerStoreDirectory.entries().contains(name) }
}

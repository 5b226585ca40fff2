import OrbitCore
import ServerSupport

/// The `etcd` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A server: none of the file-layer crash methods apply; no snapshots; crash results for the record.
public enum EtcdDescriptor: EngineDescriptor {
    public typealias Engine = EtcdEngine
    public typealias Options = EtcdOptions

    public static let name = "etcd"
    public static let summary = "etcd through its gRPC v3 API (grpc-swift 2): a managed etcd on 127.0.0.1, or etcd.endpoints; Txn batches; its WAL is always fsynced"
    public static let article = "an"
    public static let displayName = "etcd"
    public static let plotColour: String? = "#419eda"
    public static let capabilities: EngineCapabilities = [.atomicBatches, .orderedScans, .durable, .server]
    public static let serverAddressKnob: String? = name + ".endpoints"

    public static func open(directory: String, options: EtcdOptions, durability: DurabilityMode, access: StoreAccess) throws -> EtcdEngine {
        try EtcdEngine(directory: directory, options: options, durability: durability, access: access)
    }

    /// etcd's default request limit is 1.5 MiB (--max-request-bytes): a key and a value fit in it.
    public static func limits(_ options: EtcdOptions) -> EngineLimits { EngineLimits(maxKeySize: 32_768, maxValueSize: 1_310_720) }

    public static func validate(settings: Settings) throws {
        let o = try EtcdOptions.validated(from: settings)
        if !o.endpoints.isEmpty { _ = try EtcdEngine.parse(endpoints: o.endpoints) }
        if o.members > 1, !o.endpoints.isEmpty {
            throw OrbitError(.invalidConfig, "etcd.members=\(o.members) asks for a managed cluster, etcd.endpoints for an existing one",
                             at: "etcd.members from \(settings.source("etcd.members")), etcd.endpoints from \(settings.source("etcd.endpoints"))",
                             hint: "give one of them (an existing cluster's members go in etcd.endpoints)")
        }
        if o.prefix.isEmpty {
            throw OrbitError(.invalidConfig, "etcd.prefix: bad value ''", at: "etcd.prefix from \(settings.source("etcd.prefix"))",
                             hint: "a non-empty key prefix (etcd refuses an empty key)")
        }
    }

    public static func recognizeStore(at directory: String) -> StoreRecognition {
        ServerStoreDirectory.recognize(directory, backend: name)
    }
    public static func isStoreEntry(_ name: String) -> Bool { EtcdServer.entries.contains(name) || EtcdCluster.entries(upTo: 7).contains(name) }

    /// A three-member cluster on loopback (`etcd-3`).
    public static var variants: [(suffix: String, options: EtcdOptions)] {
        var o = EtcdOptions()
        o.members = 3
        return [("3", o)]
    }

    public static func externalInspectHint(directory: String) -> String? {
        "the managed member's data directory is \(directory)/server: etcdctl snapshot status / etcd-dump-logs read it"
    }
}

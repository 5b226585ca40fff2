import OrbitCore

/// The `etcd.*` knobs.
public struct EtcdOptions: TableDrivenOptions, Hashable {
    /// `host:port[,host:port...]` of an existing cluster's client URLs; empty: a managed etcd on
    /// 127.0.0.1. Client threads take the endpoints in turn. Credentials come only from
    /// ETCDCTL_USER / ETCDCTL_PASSWORD.
    public var endpoints: String = ""
    /// Prefix of every key the engine stores (etcd refuses an empty key; scans stay inside it).
    public var prefix: String = "orbit/"
    /// Path of etcd for a managed server (empty: found on PATH and in /usr/bin).
    public var serverBinary: String = ""
    /// Reads served by the member alone (`serializable`), not through raft's read index.
    public var serializableReads: Bool = false
    /// Stats count keys and bytes exactly (a full range read of the prefix per stats sample);
    /// false: the key count only (count_only), bytes from the server's dbSizeInUse.
    public var exactStats: Bool = true
    /// Count each call's bytes on the wire (the HTTP/2 frames on the connection's socket).
    public var countNetBytes: Bool = true
    /// Members of a managed cluster (1: one member; 3: a cluster that survives one member's loss),
    /// each with its own ports and data directory under the store directory.
    public var members: Int = 1

    public init() {}

    public static let optionTable = OptionTable<EtcdOptions>(engine: EtcdDescriptor.name, [
        .string("endpoints", \.endpoints,
                "host:port[,host:port...] of an existing etcd (credentials from ETCDCTL_USER/ETCDCTL_PASSWORD only); empty: a managed etcd on 127.0.0.1 at a free port"),
        .string("prefix", \.prefix, "prefix of every key the engine stores (etcd refuses empty keys; scans stay inside the prefix)"),
        .string("server_binary", \.serverBinary, "etcd to run for a managed server (empty: PATH, then /usr/bin/etcd)"),
        .bool("serializable_reads", \.serializableReads,
              "gets and scans served by the member alone (serializable); false: linearizable, through raft's read index"),
        .bool("exact_stats", \.exactStats,
              "stats count keys and bytes exactly (a full range read of the prefix per stats sample); false: the key count and dbSizeInUse"),
        .bool("count_net_bytes", \.countNetBytes,
              "net_bytes_sent/received per call: the HTTP/2 bytes on the connection's socket; false: not counted (0)"),
        .int("members", \.members, 1...7,
             "members of a managed etcd cluster on 127.0.0.1 (3: survives one member's loss); client threads are spread over the members in turn"),
    ])
}

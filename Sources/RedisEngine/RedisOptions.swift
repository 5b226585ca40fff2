import OrbitCore

/// The `redis.*` knobs.
public struct RedisOptions: TableDrivenOptions, Hashable {
    /// `redis://[user@]host:port[/db]` of an existing server; empty: a managed server on 127.0.0.1.
    /// The password comes only from REDIS_PASSWORD.
    public var url: String = ""
    /// Prefix of the three keys the engine keeps (`<prefix>:data`, `:index`, `:meta`).
    public var prefix: String = "orbit"
    /// Path of redis-server for a managed server (empty: found on PATH and in /usr/bin).
    public var serverBinary: String = ""
    /// Count each call's bytes on the wire (TCP_INFO after every call: one getsockopt per operation).
    public var countNetBytes: Bool = true

    public init() {}

    public static let optionTable = OptionTable<RedisOptions>(engine: RedisDescriptor.name, [
        .string("url", \.url,
                "redis://[user@]host:port[/db] of an existing server (password from REDIS_PASSWORD only); empty: a managed redis-server on 127.0.0.1 at a free port"),
        .string("prefix", \.prefix, "prefix of the engine's keys: <prefix>:data (hash), <prefix>:index (sorted set), <prefix>:meta"),
        .string("server_binary", \.serverBinary, "redis-server to run for a managed server (empty: PATH, then /usr/bin/redis-server)"),
        .bool("count_net_bytes", \.countNetBytes,
              "net_bytes_sent/received per call from TCP_INFO (one getsockopt per operation); false: not counted (0)"),
    ])
}

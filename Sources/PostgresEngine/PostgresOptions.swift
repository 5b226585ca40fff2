import OrbitCore

/// The `postgres.*` knobs.
public struct PostgresOptions: TableDrivenOptions, Hashable {
    /// `postgresql://user@host:port/db` of an existing server; empty: a managed server on 127.0.0.1.
    /// The password comes only from PGPASSWORD (libpq reads it).
    public var url: String = ""
    /// The table (key bytea primary key, value bytea), created when missing.
    public var table: String = "orbit_kv"
    /// Stats count keys and bytes exactly (count(*) and sums over the table: a full scan per stats
    /// sample); false: PostgreSQL's estimate (pg_stat_user_tables.n_live_tup).
    public var exactStats: Bool = true
    /// Directory of initdb and postgres for a managed server (empty: pg_config --bindir, then
    /// /usr/lib/postgresql/<newest>/bin).
    public var binDir: String = ""
    /// shared_buffers of a managed server, MiB.
    public var sharedBuffersMB: Int = 128
    /// Count each call's bytes on the wire (TCP_INFO after every call: one getsockopt per operation).
    public var countNetBytes: Bool = true
    /// A managed streaming standby beside the primary: `none`, `sync` (a commit waits until the
    /// standby has flushed its WAL: synchronous_commit=on with synchronous_standby_names) or
    /// `sync-apply` (until the standby has applied it: synchronous_commit=remote_apply).
    public var standby: String = "none"

    public init() {}

    public static let optionTable = OptionTable<PostgresOptions>(engine: PostgresDescriptor.name, [
        .string("url", \.url,
                "postgresql://user@host:port/db of an existing server (password from PGPASSWORD only); empty: a managed server on 127.0.0.1 at a free port"),
        .string("table", \.table, "the table (key bytea primary key, value bytea), created when missing"),
        .bool("exact_stats", \.exactStats,
              "stats count keys and bytes exactly (count(*) and length sums: a full scan per stats sample); false: the n_live_tup estimate"),
        .string("bin_dir", \.binDir, "directory of initdb and postgres for a managed server (empty: pg_config --bindir, then /usr/lib/postgresql/<newest>/bin)"),
        .int("shared_buffers_mb", \.sharedBuffersMB, 16...65_536, "shared_buffers of a managed server, MiB"),
        .bool("count_net_bytes", \.countNetBytes,
              "net_bytes_sent/received per call from TCP_INFO (one getsockopt per operation); false: not counted (0)"),
        .string("standby", \.standby,
                "a managed streaming standby: none, sync (a commit waits for the standby's WAL flush: synchronous_commit=on) or sync-apply (for its replay: remote_apply); every-write and group only wait for it"),
    ])
}

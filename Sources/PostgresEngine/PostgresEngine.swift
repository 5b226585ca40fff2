#if canImport(Glibc)
import Glibc
#endif
import CLibpq
public import OrbitCore
public import ServerSupport
import Synchronization

/// The `postgres` engine: a client of a PostgreSQL server through libpq (the library pgbench uses),
/// one connection per client thread, prepared statements with binary parameters and results, one
/// table `(key bytea primary key, value bytea)`. bytea compares as memcmp then length, so
/// `ORDER BY key` is the engine's scan order. A batch is one transaction.
///
/// Durability (fsync=on always): every-write = synchronous_commit=on; group = on with commit_delay;
/// none = synchronous_commit=off; periodic = off with wal_writer_delay = the period. Snapshots: none.
public final class PostgresEngine: ServerSessionEngine, @unchecked Sendable {
    public let backendName = PostgresDescriptor.name
    public var durability: DurabilityMode { session.durability }
    public let dataDirectory: String?
    let options: PostgresOptions
    public let session: ServerSession<PostgresConnection>
    private let table: String
    /// The managed primary and streaming standby (`postgres.standby`), nil for one server.
    let cluster: PostgresCluster?
    public static let snapshotsAbsentBecause =
        "PostgreSQL's snapshots (pg_export_snapshot) live only as long as their transaction"

    static let scanChunk = 1024

    init(directory: String, options: PostgresOptions, durability: DurabilityMode, access: StoreAccess) throws {
        self.options = options
        dataDirectory = directory
        let table = "\"\(options.table)\""
        self.table = table
        let conninfo: String, server: ManagedServer?, log: String?, endpoint: String
        if options.url.isEmpty {
            let started = try PostgresServer.start(directory: directory, options: options, durability: durability, access: access)
            (server, log, endpoint) = (started.primary, started.temporaryLog, "127.0.0.1:\(started.port)")
            cluster = started.cluster
            conninfo = "host=127.0.0.1 port=\(started.port) dbname=postgres user=\(PostgresServer.user)"
        } else {
            try Self.checkURL(options.url)
            (server, log, endpoint, conninfo) = (nil, nil, options.url, options.url)
            cluster = nil
        }
        let cluster = self.cluster
        let (countNet, tableName) = (options.countNetBytes, options.table)
        session = ServerSession(backend: PostgresDescriptor.name, durability: durability, access: access, server: server,
                                temporaryLog: log, endpoint: endpoint) { [cluster] in
            // In a cluster, the primary of now (a failover moves it; client threads reconnect).
            try PostgresConnection(conninfo: cluster?.primaryConninfo ?? conninfo, table: tableName, countNetBytes: countNet,
                                   what: cluster.map { "127.0.0.1:\($0.primaryPort)" } ?? endpoint)
        }
        if let cluster {
            session.stopCluster = { cluster.stop() }
            session.description.mode = "managed"
        }
        // Settings first: a server in the wrong mode is refused before anything is written (here or
        // there); then the table, which must exist before the statements are prepared.
        try session.finishOpening {
            let setup = try PostgresConnection.bare(conninfo: conninfo, what: endpoint)
            defer { PQfinish(setup) }
            let version = try PostgresConnection.value(setup, "SHOW server_version")
            var settings: [ServerDescription.Setting] = []
            for name in ["fsync", "synchronous_commit", "commit_delay", "commit_siblings", "wal_writer_delay", "wal_sync_method",
                         "full_page_writes", "shared_buffers", "max_connections", "wal_level", "synchronous_standby_names"] {
                settings.append(.init(name, try PostgresConnection.value(setup, "SHOW \(name)")))
            }
            if let cluster, let standbyPort = cluster.standbyPort {
                settings.append(.init("replication", "streaming standby at 127.0.0.1:\(standbyPort), \(options.standby) "
                                      + "(synchronous_commit=\(settings.first { $0.name == "synchronous_commit" }?.value ?? "?"); "
                                      + "primary node \(cluster.primary))"))
            }
            session.description.version = version
            session.description.settings = settings
            try Self.checkDurability(settings, durability: durability, endpoint: endpoint, external: server == nil && cluster == nil)
            if access == .readWrite {
                if server == nil, cluster == nil { try ServerStoreDirectory.prepare(directory, backend: PostgresDescriptor.name) }
                try PostgresConnection.run(setup, "CREATE TABLE IF NOT EXISTS \"\(options.table)\" (key bytea PRIMARY KEY, value bytea NOT NULL)")
            }
            _ = try session.connections.current()
        }
    }

    /// A password in the URL is refused: it would be written to results (PGPASSWORD only).
    static func checkURL(_ url: String) throws {
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
            throw OrbitError(.invalidConfig, "postgres.url: '\(url)' is not a postgresql:// URL", at: "postgres.url",
                             hint: "postgresql://user@host:port/dbname (password in PGPASSWORD)")
        }
        let rest = url.drop { $0 != "/" }.dropFirst(2)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            throw OrbitError(.invalidConfig, "postgres.url holds a password", at: "postgres.url",
                             hint: "give the password in PGPASSWORD only; it is never written to results")
        }
        if url.contains("password=") {
            throw OrbitError(.invalidConfig, "postgres.url holds a password parameter", at: "postgres.url",
                             hint: "give the password in PGPASSWORD only")
        }
    }

    /// The server's settings must be the mode's (a managed server was started with them; an external
    /// one is checked): a mismatch names the setting and its value.
    static func checkDurability(_ settings: [ServerDescription.Setting], durability: DurabilityMode, endpoint: String, external: Bool) throws {
        func value(_ n: String) -> String { settings.first { $0.name == n }?.value ?? "?" }
        for (name, want) in PostgresServer.settings(durability) {
            var have = value(name)
            var wanted = want
            if name == "synchronous_commit", want == "on", ["local", "remote_write", "remote_apply"].contains(have) { have = "on" }
            if name == "wal_writer_delay" { have = Self.millis(have); wanted = Self.millis(want) }
            if name == "commit_siblings" || (name == "commit_delay" && want != "0") {
                // group: any commit_delay > 0 groups commits; commit_siblings is the server's choice.
                if name == "commit_delay", Int(have) ?? 0 > 0 { continue }
                if name == "commit_siblings" { continue }
            }
            if name == "commit_delay", want == "0" { continue }  // a delay only groups more; it loses nothing
            guard have == wanted else {
                throw OrbitError(.invalidConfig, "postgres at \(endpoint): \(name) is '\(value(name))'; durability \(durability) needs \(name)=\(want)",
                                 at: external ? "postgres.url" : nil,
                                 hint: "ALTER SYSTEM SET \(name) = '\(want)' and reload that server, or choose the durability mode it has")
            }
        }
    }

    /// "200ms", "1s" → milliseconds as text.
    static func millis(_ s: String) -> String {
        if s.hasSuffix("ms"), let v = Int(s.dropLast(2)) { return String(v) }
        if s.hasSuffix("s"), let v = Int(s.dropLast()) { return String(v * 1000) }
        return s
    }

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none:
            DurabilityPromise(.powerLossBoundedWindow,
                              "synchronous_commit=off, fsync=on: a commit returns before its WAL is flushed; the WAL writer flushes within 3 x wal_writer_delay (600 ms at the default 200 ms), and a server kill or a power loss loses at most that window (the database stays consistent)")
        case .everyWrite:
            DurabilityPromise(.powerLoss, "synchronous_commit=on, fsync=on: the commit's WAL is flushed before the reply")
        case .group:
            DurabilityPromise(.powerLoss, "synchronous_commit=on, fsync=on, commit_delay=100 us, commit_siblings=2: concurrent committers share one WAL flush, each acked after it")
        case .periodic(let ms):
            DurabilityPromise(.powerLossBoundedWindow,
                              "synchronous_commit=off, wal_writer_delay=\(min(max(ms, 10), 10_000)) ms: WAL flushed by the WAL writer; a server kill or a power loss loses at most 3 x wal_writer_delay")
        }
    }

    // MARK: StorageEngine

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        defer { c.net.account() }
        c.param(0, key)
        c.param(1, value)
        PQclear(try c.execute(PostgresConnection.put, 2, expect: PGRES_COMMAND_OK))
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let c = try session.connection()
        c.param(0, key)
        let r = try c.execute(PostgresConnection.get, 1, expect: PGRES_TUPLES_OK)
        c.net.account()
        defer { PQclear(r) }
        guard PQntuples(r) > 0 else { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: PQgetvalue(r, 0, 0), count: Int(PQgetlength(r, 0, 0))))
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        defer { c.net.account() }
        c.param(0, key)
        PQclear(try c.execute(PostgresConnection.delete, 1, expect: PGRES_COMMAND_OK))
    }

    public func write(_ batch: WriteBatch) throws {
        let c = try session.writable()
        guard !batch.isEmpty else { return }
        defer { c.net.account() }
        PQclear(try c.exec("BEGIN"))
        do {
            try batch.forEach { op, k, v in
                c.param(0, k)
                if op == .put {
                    c.param(1, v)
                    PQclear(try c.execute(PostgresConnection.put, 2, expect: PGRES_COMMAND_OK))
                } else {
                    PQclear(try c.execute(PostgresConnection.delete, 1, expect: PGRES_COMMAND_OK))
                }
            }
            PQclear(try c.exec("COMMIT"))
        } catch {
            if let r = PQexec(c.conn, "ROLLBACK") { PQclear(r) }
            throw error
        }
    }

    /// In chunks of `scanChunk` rows (each its own statement: a scan longer than a chunk is not one
    /// snapshot of the table), each continuing after the last key (last key + 0x00).
    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let c = try session.connection()
        defer { c.net.account() }
        c.nextStart.removeAll(keepingCapacity: true)
        if let start { c.nextStart.append(contentsOf: start) }
        var visited = 0
        while true {
            let chunk = limit > 0 ? min(limit - visited, Self.scanChunk) : Self.scanChunk
            if chunk <= 0 { return visited }
            let r: OpaquePointer = try c.nextStart.withUnsafeBytes { s in
                c.param(0, s)
                if let end {
                    c.param(1, end)
                    c.param(2, int64: chunk)
                    return try c.execute(PostgresConnection.scanRange, 3, expect: PGRES_TUPLES_OK)
                }
                c.param(1, int64: chunk)
                return try c.execute(PostgresConnection.scanFrom, 2, expect: PGRES_TUPLES_OK)
            }
            defer { PQclear(r) }
            let n = Int(PQntuples(r))
            for row in 0..<n {
                visited += 1
                let go = try visit(UnsafeRawBufferPointer(start: PQgetvalue(r, Int32(row), 0), count: Int(PQgetlength(r, Int32(row), 0))),
                                   UnsafeRawBufferPointer(start: PQgetvalue(r, Int32(row), 1), count: Int(PQgetlength(r, Int32(row), 1))))
                if !go { return visited }
            }
            if n < chunk { return visited }
            let last = UnsafeRawBufferPointer(start: PQgetvalue(r, Int32(n - 1), 0), count: Int(PQgetlength(r, Int32(n - 1), 0)))
            c.nextStart.removeAll(keepingCapacity: true)
            c.nextStart.append(contentsOf: last)
            c.nextStart.append(0)
        }
    }

    /// Under synchronous_commit=off: one transaction with an xid committed with synchronous_commit=on,
    /// whose commit flushes the WAL up to it (every earlier commit included).
    public func sync() throws {
        let c = try session.connection()
        guard session.access == .readWrite, !durability.syncsBeforeAck else { return }
        PQclear(try c.exec("BEGIN"))
        do {
            PQclear(try c.exec("SET LOCAL synchronous_commit TO on"))
            PQclear(try c.exec("SELECT txid_current()", expect: PGRES_TUPLES_OK))
            PQclear(try c.exec("COMMIT"))
        } catch {
            if let r = PQexec(c.conn, "ROLLBACK") { PQclear(r) }
            throw error
        }
    }

    /// From the server: counts (exact, or the n_live_tup estimate), pg_total_relation_size, the
    /// table's and the database's pg_stat counters.
    public func stats() throws -> StorageStats {
        let c = try session.connection()
        var s = StorageStats()
        let lit = "'" + options.table.replacingSingleQuotes() + "'"
        if options.exactStats {
            let row = try c.rows("SELECT count(*), coalesce(sum(length(key)), 0), coalesce(sum(length(value)), 0) FROM \(table)").first ?? []
            let n = UInt64(row.first.flatMap { $0 }.flatMap { UInt64($0) } ?? 0)
            let kb = UInt64(row.count > 1 ? row[1].flatMap { UInt64($0) } ?? 0 : 0)
            let vb = UInt64(row.count > 2 ? row[2].flatMap { UInt64($0) } ?? 0 : 0)
            s.totalKeys = n
            s.totalSizeBytes = kb + vb
            if n > 0 {
                s.averageKeySize = kb / n
                s.averageValueSize = vb / n
            }
        }
        let t = try c.rows("""
            SELECT pg_total_relation_size(\(lit)::regclass), n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_del,
                   coalesce(heap_blks_hit, 0), coalesce(heap_blks_read, 0), coalesce(idx_blks_hit, 0), coalesce(idx_blks_read, 0)
            FROM pg_stat_user_tables JOIN pg_statio_user_tables USING (relid) WHERE relid = \(lit)::regclass
            """).first ?? []
        func num(_ i: Int) -> Double { i < t.count ? t[i].flatMap { Double($0) } ?? 0 : 0 }
        s.diskUsageBytes = UInt64(num(0))
        if !options.exactStats {
            s.totalKeys = UInt64(num(1))
            s.totalKeysIsEstimate = true
        }
        let hits = num(6) + num(8), reads = num(7) + num(9)
        if hits + reads > 0 { s.cacheHitRate = hits / (hits + reads) }
        for (i, name) in ["n_live_tup", "n_dead_tup", "n_tup_ins", "n_tup_upd", "n_tup_del"].enumerated() {
            s.extra.append(.init(name, num(i + 1)))
        }
        if let w = try? c.rows("SELECT wal_bytes, wal_sync, wal_write FROM pg_stat_wal").first {
            for (i, name) in ["wal_bytes", "wal_sync", "wal_write"].enumerated() where i < w.count {
                if let v = w[i].flatMap({ Double($0) }) { s.extra.append(.init(name, v)) }
            }
        }
        if let d = try? c.rows("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()").first {
            for (i, name) in ["xact_commit", "xact_rollback"].enumerated() where i < d.count {
                if let v = d[i].flatMap({ Double($0) }) { s.extra.append(.init(name, v)) }
            }
        }
        return s
    }

    public func close() throws { try session.close(sync: sync) }
}

extension String {
    fileprivate func replacingSingleQuotes() -> String {
        var out = ""
        for ch in self { out.append(ch); if ch == "'" { out.append("'") } }
        return out
    }
}

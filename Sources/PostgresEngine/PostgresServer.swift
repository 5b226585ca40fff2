#if canImport(Glibc)
import Glibc
#endif
import CLibpq
import OrbitCore
import ServerSupport

/// A managed PostgreSQL server: initdb into `<store>/server` on first use, then `postgres` on
/// 127.0.0.1 at a free port with the durability settings of the mode on its command line. As root
/// (here and in CI) both run inside a user namespace as the `postgres` user (PostgreSQL refuses
/// root); the files stay the harness's own.
enum PostgresServer {
    static let entries = ServerStoreDirectory.entries(extra: [standbyData, standbyLog, PostgresCluster.primaryFile])
    /// The superuser initdb creates (trust authentication on loopback only).
    static let user = "orbit"
    /// The managed standby's data directory and log (`postgres.standby`), beside the primary's.
    static let standbyData = "server-standby"
    static let standbyLog = "standby.log"
    /// The standby's application_name (in synchronous_standby_names) and its physical replication
    /// slot on the primary (the primary keeps the WAL the standby has not received).
    static let standbyName = "orbit_standby"

    /// `postgres.standby`'s values.
    static let standbyModes = ["none", "sync", "sync-apply"]

    /// The settings of a mode, as `-c name=value` (and what an external server must show).
    static func settings(_ mode: DurabilityMode) -> [(String, String)] {
        switch mode {
        case .none: [("fsync", "on"), ("synchronous_commit", "off"), ("commit_delay", "0")]
        case .everyWrite: [("fsync", "on"), ("synchronous_commit", "on"), ("commit_delay", "0")]
        case .group: [("fsync", "on"), ("synchronous_commit", "on"), ("commit_delay", "100"), ("commit_siblings", "2")]
        case .periodic(let ms): [("fsync", "on"), ("synchronous_commit", "off"), ("wal_writer_delay", "\(min(max(ms, 10), 10_000))ms")]
        }
    }

    static func binDir(_ options: PostgresOptions) throws -> String {
        var candidates: [String] = []
        if !options.binDir.isEmpty { candidates.append(options.binDir) }
        if let out = try? capture("pg_config", ["--bindir"]) { candidates.append(out) }
        for v in (10...30).reversed() { candidates.append("/usr/lib/postgresql/\(v)/bin") }
        guard let dir = candidates.first(where: { access(joinPath($0, "postgres"), X_OK) == 0 && access(joinPath($0, "initdb"), X_OK) == 0 }) else {
            throw OrbitError(.engine, "postgres and initdb not found (postgres.bin_dir, pg_config --bindir, /usr/lib/postgresql/*/bin)",
                             hint: "install postgresql (apt-get install postgresql), set postgres.bin_dir, or give postgres.url")
        }
        return dir
    }

    /// The first line a command prints (pg_config --bindir), or nil.
    static func capture(_ command: String, _ args: [String]) throws -> String? {
        guard let p = popen(([command] + args).joined(separator: " ") + " 2>/dev/null", "r") else { return nil }
        defer { pclose(p) }
        var line = [CChar](repeating: 0, count: 4096)
        guard fgets(&line, Int32(line.count), p) != nil else { return nil }
        let s = String(cString: line).trimmingWhitespace()
        return s.isEmpty ? nil : s
    }

    /// What a managed server's command line always has.
    static func commonArguments(data: String, port: Int, options: PostgresOptions) -> [String] {
        ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
         "-c", "max_connections=200", "-c", "shared_buffers=\(options.sharedBuffersMB)MB", "-c", "logging_collector=off"]
    }

    /// The mode's settings as `-c` arguments of a primary (`applyWait`: synchronous_commit=remote_apply for on).
    static func durabilityArguments(_ durability: DurabilityMode, applyWait: Bool) -> [String] {
        settings(durability).flatMap { k, v in ["-c", "\(k)=\(k == "synchronous_commit" && v == "on" && applyWait ? "remote_apply" : v)"] }
    }

    static func answers(_ port: Int) -> Bool {
        PQping("host=127.0.0.1 port=\(port) dbname=postgres user=\(user) connect_timeout=2") == PQPING_OK
    }

    /// The one server, or (`postgres.standby`) the primary-standby cluster.
    struct Started {
        var primary: ManagedServer?
        var cluster: PostgresCluster?
        var temporaryLog: String?
        var port: Int { primary?.port ?? cluster?.primaryPort ?? 0 }
    }

    static func start(directory: String, options: PostgresOptions, durability: DurabilityMode,
                      access: StoreAccess) throws -> Started {
        let fs = POSIXFileSystem()
        let bin = try binDir(options)
        let identity = ServerIdentity.unprivileged(preferring: "postgres")
        let data = joinPath(directory, ServerStoreDirectory.serverData)
        let standbyDir = joinPath(directory, standbyData)
        let temporaryLog: String? = access == .readOnly ? "/tmp/orbit-postgres-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log" : nil
        let log = temporaryLog ?? joinPath(directory, ServerStoreDirectory.log)
        let withStandby = options.standby != "none"
        if access == .readWrite {
            try ServerStoreDirectory.prepare(directory, backend: PostgresDescriptor.name)
            if !(try fs.exists(joinPath(data, "PG_VERSION"))) {
                if try fs.exists(data) {
                    throw OrbitError(.corruption, "the managed server's directory has no PG_VERSION (a failed initdb?)", at: data,
                                     hint: "remove the store with --fresh, or look at \(log)")
                }
                try ServerProcess.run(ServerProcess.Spec(
                    name: "initdb", executable: joinPath(bin, "initdb"),
                    arguments: ["-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-instructions"],
                    workingDirectory: directory, logFile: log, innerIdentity: identity))
            } else if try fs.exists(standbyDir) != withStandby {
                // A standby made for a store is part of it (its slot holds the primary's WAL): the
                // setting must say the same as the store, as etcd.members must.
                throw OrbitError(.invalidConfig,
                                 withStandby ? "postgres.standby=\(options.standby): the store was made without a standby"
                                             : "the store was made with a streaming standby (\(standbyDir)); postgres.standby is none",
                                 at: "postgres.standby", hint: withStandby ? "use another data dir (or --fresh) for a primary with a standby"
                                                                           : "give postgres.standby=sync or sync-apply, as the store was made")
            }
        }
        let hasStandby = try fs.exists(standbyDir)
        if withStandby || hasStandby {
            // A read-only look at a cluster's store starts its primary alone (whichever node that is now).
            let cluster = try PostgresCluster.start(directory: directory, bin: bin, primaryLog: log, options: options,
                                                    durability: durability, access: access)
            return Started(primary: nil, cluster: cluster, temporaryLog: temporaryLog)
        }
        let primary = try ManagedServer.start(name: "postgres (\(directory))", logFile: log, spec: { port in
            let args = commonArguments(data: data, port: port, options: options) + durabilityArguments(durability, applyWait: false)
            return ServerProcess.Spec(name: "postgres", executable: joinPath(bin, "postgres"), arguments: args,
                                      workingDirectory: directory, logFile: log, innerIdentity: identity, stopSignal: SIGINT)
        }, answers: answers)
        return Started(primary: primary, cluster: nil, temporaryLog: temporaryLog)
    }
}

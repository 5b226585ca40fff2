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
    static let entries = ServerStoreDirectory.entries()
    /// The superuser initdb creates (trust authentication on loopback only).
    static let user = "orbit"

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

    static func start(directory: String, options: PostgresOptions, durability: DurabilityMode,
                      access: StoreAccess) throws -> (ManagedServer, temporaryLog: String?) {
        let fs = POSIXFileSystem()
        let bin = try binDir(options)
        let identity = ServerIdentity.unprivileged(preferring: "postgres")
        let data = joinPath(directory, ServerStoreDirectory.serverData)
        let temporaryLog: String? = access == .readOnly ? "/tmp/orbit-postgres-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log" : nil
        let log = temporaryLog ?? joinPath(directory, ServerStoreDirectory.log)
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
            }
        }
        let server = try ManagedServer.start(name: "postgres (\(directory))", logFile: log, spec: { port in
            var args = ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                        "-c", "max_connections=200", "-c", "shared_buffers=\(options.sharedBuffersMB)MB", "-c", "logging_collector=off"]
            for (k, v) in settings(durability) { args += ["-c", "\(k)=\(v)"] }
            return ServerProcess.Spec(name: "postgres", executable: joinPath(bin, "postgres"), arguments: args,
                                      workingDirectory: directory, logFile: log, innerIdentity: identity, stopSignal: SIGINT)
        }, answers: { port in
            PQping("host=127.0.0.1 port=\(port) dbname=postgres user=\(user) connect_timeout=2") == PQPING_OK
        })
        return (server, temporaryLog)
    }
}

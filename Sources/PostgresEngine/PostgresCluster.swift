#if canImport(Glibc)
import Glibc
#endif
import CLibpq
import OrbitCore
import ServerSupport

/// A managed primary and streaming standby (`postgres.standby=sync|sync-apply`) on 127.0.0.1, and
/// what a failover does to them (the crash lab's `node-kill`; docs/architecture.md, "Server backends").
///
/// Two nodes, each a data directory of the store: node 0 `server/` (log `server.log`), made by
/// initdb, and node 1 `server-standby/` (log `standby.log`), a base backup of the primary
/// (`pg_basebackup -X stream -C -S orbit_standby -R`: its physical replication slot on the primary,
/// `standby.signal`). Which node is the primary is the file `cluster.primary` ("0" or "1"), written
/// (atomically, synced) before a standby is promoted, so a harness killed mid-failover reopens the
/// cluster with the node it was promoting: a node named primary that is still in recovery is
/// promoted at open. The primary waits for the standby (`synchronous_standby_names`, set with ALTER
/// SYSTEM so a failover can change it with a reload); the standby streams from the primary's
/// current port (`primary_conninfo` on its command line, over what `-R` wrote).
///
/// Failover, as an HA manager (Patroni's non-strict synchronous mode) does it: when the primary is
/// killed the standby is promoted (`pg_promote(wait => true)`), and, with no standby left to wait
/// for, the new primary stops waiting (synchronous_standby_names = ''); when the standby is killed
/// the primary stops waiting for it. Until the killed node is back, acknowledged writes are on one
/// node. Restarting: a killed standby restarts on its data; a killed former primary may hold WAL
/// the new primary never had (its own commits, written before they waited for the standby), so it
/// is rebuilt: its data directory — one orbit-bench made, in a store whose primary is serving — is
/// removed and base-backed-up again from the new primary. The primary then waits for the standby
/// again, and the node has rejoined once the primary reports it `sync` in pg_stat_replication.
final class PostgresCluster: @unchecked Sendable {
    struct Node {
        let index: Int
        let data: String
        let log: String
        var what: String { index == 0 ? "postgres node 0 (server)" : "postgres node 1 (server-standby)" }
    }

    static let primaryFile = "cluster.primary"

    let directory: String
    let nodes: [Node]
    private let bin: String
    private let identity: (uid: Int32, gid: Int32)?
    private let options: PostgresOptions
    private let durability: DurabilityMode
    private let access: StoreAccess
    private struct State {
        var primary: Int
        var servers: [ManagedServer?]
    }
    private let state: Lock<State>

    private init(directory: String, nodes: [Node], bin: String, options: PostgresOptions, durability: DurabilityMode,
                 access: StoreAccess, primary: Int) {
        self.directory = directory
        self.nodes = nodes
        self.bin = bin
        identity = ServerIdentity.unprivileged(preferring: "postgres")
        self.options = options
        self.durability = durability
        self.access = access
        state = Lock(State(primary: primary, servers: [nil, nil]))
    }

    // MARK: Opening

    /// Starts the cluster of a store whose node 0 exists (initdb done): the primary, then (read-write)
    /// the standby, made or rebuilt where it must be, and waits until the primary has it as its
    /// synchronous standby. A read-only open starts the primary alone and changes nothing.
    static func start(directory: String, bin: String, primaryLog: String, options: PostgresOptions, durability: DurabilityMode,
                      access: StoreAccess) throws -> PostgresCluster {
        let nodes = [Node(index: 0, data: joinPath(directory, ServerStoreDirectory.serverData), log: primaryLog),
                     Node(index: 1, data: joinPath(directory, PostgresServer.standbyData),
                          log: access == .readOnly ? primaryLog : joinPath(directory, PostgresServer.standbyLog))]
        let primary = try primaryIndex(directory, nodes)
        let cluster = PostgresCluster(directory: directory, nodes: nodes, bin: bin, options: options, durability: durability,
                                      access: access, primary: primary)
        do {
            try cluster.startNode(primary, asStandbyOf: nil)
            guard access == .readWrite else { return cluster }
            let c = try cluster.connect(primary)
            defer { PQfinish(c) }
            if try PostgresConnection.value(c, "SELECT pg_is_in_recovery()") == "t" {
                try cluster.promote(primary, c)  // a failover the harness did not finish
            }
            try cluster.writePrimaryFile(primary)
            try cluster.attachStandby(1 - primary, primaryConnection: c)
            return cluster
        } catch {
            cluster.stop()
            throw error
        }
    }

    /// The primary's index: `cluster.primary`, else (a store from before the file) the node that is
    /// not a standby. Both nodes primaries and no file: the store cannot say which holds the data.
    static func primaryIndex(_ directory: String, _ nodes: [Node]) throws -> Int {
        let fs = POSIXFileSystem()
        let path = joinPath(directory, primaryFile)
        if try fs.exists(path) {
            let text = String(decoding: try fs.readFile(path), as: UTF8.self).trimmingWhitespace()
            guard let i = Int(text), i == 0 || i == 1 else {
                throw OrbitError(.corruption, "'\(text)' is not a node index (0 or 1)", at: path,
                                 hint: "the file orbit-bench writes before it promotes a standby; remove the store with --fresh")
            }
            return i
        }
        func isStandby(_ n: Node) throws -> Bool { try fs.exists(joinPath(n.data, "standby.signal")) }
        let made = try fs.exists(joinPath(nodes[1].data, "PG_VERSION"))
        let standby0 = try isStandby(nodes[0]), standby1 = try isStandby(nodes[1])
        if made, !standby0, !standby1 {
            throw OrbitError(.corruption, "both nodes of the postgres cluster are primaries and \(primaryFile) is missing", at: directory,
                             hint: "orbit-bench cannot tell which holds the acknowledged writes; nothing was changed")
        }
        return made && standby0 ? 1 : 0
    }

    /// Starts node `i`: as the primary (`asStandbyOf` nil) or streaming from the primary's port.
    private func startNode(_ i: Int, asStandbyOf primaryPort: Int?) throws {
        let node = nodes[i]
        let server = try ManagedServer.start(name: "\(node.what) (\(directory))", logFile: node.log, spec: { [self] port in
            var args = PostgresServer.commonArguments(data: node.data, port: port, options: options)
            if let primaryPort {
                args += ["-c", "hot_standby=on", "-c", "primary_slot_name=\(PostgresServer.standbyName)",
                         "-c", "primary_conninfo=\(replicationConninfo(primaryPort))"]
                for (k, v) in PostgresServer.settings(durability) where k == "fsync" { args += ["-c", "\(k)=\(v)"] }
            } else {
                args += ["-c", "primary_conninfo="]  // a primary (or one being promoted) streams from no one
                args += PostgresServer.durabilityArguments(durability, applyWait: options.standby == "sync-apply")
            }
            return ServerProcess.Spec(name: i == 0 ? "postgres" : "postgres-standby", executable: joinPath(bin, "postgres"),
                                      arguments: args, workingDirectory: directory, logFile: node.log, innerIdentity: identity,
                                      stopSignal: SIGINT)
        }, answers: { port in PostgresServer.answers(port) })
        state.withLock { $0.servers[i] = server }
    }

    private func replicationConninfo(_ primaryPort: Int) -> String {
        "host=127.0.0.1 port=\(primaryPort) user=\(PostgresServer.user) application_name=\(PostgresServer.standbyName)"
    }

    /// Makes node `s` the standby of the running primary: its data as it is when it is a standby
    /// whose slot the primary keeps, else a new base backup; then started, and waited for as `sync`.
    private func attachStandby(_ s: Int, primaryConnection c: OpaquePointer) throws {
        let fs = POSIXFileSystem()
        let node = nodes[s]
        let slot = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(PostgresServer.standbyName)'"
        let made = try fs.exists(joinPath(node.data, "PG_VERSION")), isStandby = try fs.exists(joinPath(node.data, "standby.signal"))
        let usable = try made && isStandby && PostgresConnection.value(c, slot) == "1"
        if !usable {
            if try fs.exists(node.data) { try fs.removeTree(node.data) }  // ours: a former primary, or a backup that did not finish
            try PostgresConnection.run(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                          + "WHERE slot_name = '\(PostgresServer.standbyName)' AND NOT active")
            try ServerProcess.run(ServerProcess.Spec(
                name: "pg_basebackup", executable: joinPath(bin, "pg_basebackup"),
                arguments: ["-h", "127.0.0.1", "-p", String(primaryPort), "-U", PostgresServer.user, "-D", node.data, "-X", "stream",
                            "-C", "-S", PostgresServer.standbyName, "-R"],
                workingDirectory: directory, logFile: node.log, innerIdentity: identity))
        }
        try startNode(s, asStandbyOf: primaryPort)
        // Only now: commits while the standby was being made did not wait for it (it catches up).
        try setSynchronous(true, c)
        try Self.awaitSynchronousStandby(c, what: "\(nodes[1 - s].what) at 127.0.0.1:\(primaryPort)")
    }

    /// Waits (up to 60 s) until the primary lists the standby as its synchronous one
    /// (pg_stat_replication.sync_state = 'sync'): until then a commit would wait for it anyway.
    static func awaitSynchronousStandby(_ c: OpaquePointer, what: String) throws {
        let deadline = MonotonicClock.nanoseconds() &+ 60_000_000_000
        let query = "SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = '\(PostgresServer.standbyName)' LIMIT 1), 'absent')"
        while true {
            let state = try PostgresConnection.value(c, query)
            if state == "sync" { return }
            guard MonotonicClock.nanoseconds() < deadline else {
                throw OrbitError(.engine, "the standby did not become the synchronous standby of \(what) within 60 s (sync_state \(state))",
                                 hint: "look at standby.log and server.log in the store directory")
            }
            usleep(20_000)
        }
    }

    /// Whether the primary waits for the standby: synchronous_standby_names by ALTER SYSTEM and a
    /// reload (on '' the server releases commits waiting for a standby that is gone).
    private func setSynchronous(_ on: Bool, _ c: OpaquePointer) throws {
        try PostgresConnection.run(c, "ALTER SYSTEM SET synchronous_standby_names = '\(on ? PostgresServer.standbyName : "")'")
        try PostgresConnection.run(c, "SELECT pg_reload_conf()")
        let want = on ? PostgresServer.standbyName : ""
        let deadline = MonotonicClock.nanoseconds() &+ 10_000_000_000
        while try PostgresConnection.value(c, "SHOW synchronous_standby_names") != want, MonotonicClock.nanoseconds() < deadline {
            usleep(5_000)
        }
    }

    private func promote(_ i: Int, _ c: OpaquePointer) throws {
        guard try PostgresConnection.value(c, "SELECT pg_promote(true, 60)") == "t" else {
            throw OrbitError(.engine, "\(nodes[i].what) was not promoted within 60 s", at: nodes[i].log, hint: ServerLog.tailHint(nodes[i].log))
        }
    }

    private func writePrimaryFile(_ i: Int) throws {
        try POSIXFileSystem().writeFileAtomically(joinPath(directory, Self.primaryFile), Array("\(i)\n".utf8))
    }

    // MARK: Running

    func server(_ i: Int) -> ManagedServer? { state.withLock { $0.servers[i] } }
    var primary: Int { state.withLock { $0.primary } }
    var primaryPort: Int { state.withLock { $0.servers[$0.primary]?.port ?? 0 } }
    var standbyPort: Int? { state.withLock { $0.servers[1 - $0.primary]?.port } }
    func isRunning(_ i: Int) -> Bool { server(i)?.process.isRunning ?? false }

    /// libpq's conninfo of the current primary (client threads connect with it).
    var primaryConninfo: String { "host=127.0.0.1 port=\(primaryPort) dbname=postgres user=\(PostgresServer.user)" }

    func connect(_ i: Int) throws -> OpaquePointer {
        let port = server(i)?.port ?? 0
        return try PostgresConnection.bare(conninfo: "host=127.0.0.1 port=\(port) dbname=postgres user=\(PostgresServer.user) connect_timeout=5",
                                           what: "\(nodes[i].what) at 127.0.0.1:\(port)")
    }

    /// "primary", "standby" (in recovery) or "down".
    func role(_ i: Int) throws -> String {
        guard isRunning(i) else { return "down" }
        let c = try connect(i)
        defer { PQfinish(c) }
        return try PostgresConnection.value(c, "SELECT pg_is_in_recovery()") == "t" ? "standby" : "primary"
    }

    /// SIGKILLs node `i`'s process tree. False when it was not running.
    @discardableResult
    func crash(_ i: Int) throws -> Bool { try server(i)?.process.crash() ?? false }

    /// After node `killed` died: the standby promoted when the primary died, and the primary left
    /// waiting for no standby.
    func failOver(afterKilling killed: Int) throws {
        let p = primary
        if killed == p {
            let s = 1 - p
            try writePrimaryFile(s)  // before the promotion: a harness killed now reopens with s
            let c = try connect(s)
            defer { PQfinish(c) }
            try promote(s, c)
            state.withLock { $0.primary = s }
            try setSynchronous(false, c)
        } else {
            let c = try connect(p)
            defer { PQfinish(c) }
            try setSynchronous(false, c)
        }
    }

    /// Restarts killed node `i` as the standby (rebuilt when it was the primary) and waits until the
    /// primary has it as its synchronous standby again.
    func restart(_ i: Int) throws {
        if let s = server(i) {
            guard !s.process.isRunning else { return }
            s.process.stop()  // joins its keeper
        }
        let p = primary
        guard i != p else { throw OrbitError(.engine, "\(nodes[i].what) is the primary and down: no node to fail over to") }
        let c = try connect(p)
        defer { PQfinish(c) }
        try attachStandby(i, primaryConnection: c)
    }

    /// Stops the primary, then the standby (fast shutdown; SIGKILL after the grace).
    func stop() {
        let (servers, p) = state.withLock { ($0.servers, $0.primary) }
        for i in [p, 1 - p] { if let s = servers[i] { try? s.stop() } }
    }
}

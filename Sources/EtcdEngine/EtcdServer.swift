#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import ServerSupport

/// A managed etcd: one member whose data directory is `<store>/server`, listening for clients on
/// 127.0.0.1 at a free port and for peers on another (a one-member cluster never dials a peer, but
/// etcd needs the URL), started and waited for until `/health` answers true.
enum EtcdServer {
    /// The member's pid, written beside its data directory on a read-write open (etcd writes no
    /// pid file of its own); removed when the engine closes.
    static let pidFile = "server.pid"
    static let entries = ServerStoreDirectory.entries(extra: [pidFile])
    static let memberName = "orbit"

    /// The flags that are the same for every start (README "Server backends").
    static let fixedFlags = [
        // A batch is one Txn of up to this many operations (etcd's default is 128).
        "--max-txn-ops", "16384",
        // Requests up to 32 MiB (a Txn of a large batch); etcd's default is 1.5 MiB.
        "--max-request-bytes", "33554432",
        // The backend may grow to 8 GiB (default 2 GiB, past which etcd refuses writes: NOSPACE).
        "--quota-backend-bytes", "8589934592",
        // Old revisions are compacted away (every 5 min, keeping the last 10000), so a long run's
        // history does not fill the quota.
        "--auto-compaction-mode", "revision", "--auto-compaction-retention", "10000",
        "--logger", "zap", "--log-outputs", "stderr",
    ]

    static func binary(_ options: EtcdOptions) throws -> String {
        if !options.serverBinary.isEmpty { return options.serverBinary }
        var candidates: [String] = []
        if let path = getenv("PATH") {
            candidates += String(cString: path).split(separator: ":").map { "\($0)/etcd" }
        }
        candidates += ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw OrbitError(.engine, "etcd not found (PATH, /usr/bin, /usr/local/bin)",
                             hint: "install etcd-server (apt-get install etcd-server), set etcd.server_binary, or give etcd.endpoints")
        }
        return found
    }

    /// Starts the member of the store `directory` (creating the directory on a read-write open).
    /// A read-only open logs to a temporary file outside the store and needs the member's data there.
    static func start(directory: String, options: EtcdOptions, access: StoreAccess) throws -> (ManagedServer, temporaryLog: String?) {
        let fs = POSIXFileSystem()
        if access == .readWrite { try ServerStoreDirectory.prepare(directory, backend: EtcdDescriptor.name) }
        let data = joinPath(directory, ServerStoreDirectory.serverData)
        if access == .readOnly, !(try fs.exists(joinPath(data, "member"))) {
            throw OrbitError(.notFound, "\(directory) holds no etcd member data (\(data)/member)",
                             hint: "a read-only command needs a store an earlier read-write run made; nothing was written")
        }
        let temporaryLog: String? = access == .readOnly ? "/tmp/orbit-etcd-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log" : nil
        let log = temporaryLog ?? joinPath(directory, ServerStoreDirectory.log)
        let exe = try binary(options)
        let server = try ManagedServer.start(name: "etcd (\(directory))", logFile: log, spec: { port in
            let peer = try LoopbackPort.free()
            let client = "http://127.0.0.1:\(port)", peerURL = "http://127.0.0.1:\(peer)"
            let args = ["--name", memberName, "--data-dir", data,
                        "--listen-client-urls", client, "--advertise-client-urls", client,
                        "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                        "--initial-cluster", "\(memberName)=\(peerURL)", "--initial-cluster-state", "new",
                       ] + fixedFlags
            return ServerProcess.Spec(name: "etcd", executable: exe, arguments: args, workingDirectory: directory,
                                      logFile: log, stopSignal: SIGTERM)
        }, answers: { port in healthy(port) })
        if access == .readWrite {
            try fs.writeFileAtomically(joinPath(directory, pidFile), Array("\(server.process.pid)\n".utf8))
        }
        return (server, temporaryLog)
    }

    /// Whether `GET /health` on 127.0.0.1:port answers `"health":"true"` (the member has a leader and
    /// serves requests). Plain HTTP/1.1 on a socket: no gRPC client for a probe.
    static func healthy(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return false }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while reply.count < 16_384 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += chunk[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        return text.hasPrefix("HTTP/1.1 200") && text.contains("\"health\":\"true\"")
    }
}

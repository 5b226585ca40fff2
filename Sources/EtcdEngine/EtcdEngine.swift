#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
public import OrbitCore
public import ServerSupport

/// The `etcd` engine: a client of etcd through its native gRPC v3 API (grpc-swift 2 over HTTP/2),
/// one connection per client thread.
///
/// Layout (README "Server backends"): every key is stored as `<prefix><key>` (etcd refuses an
/// empty key); get is a Range of one key, put a Put, delete a DeleteRange of one key, a batch one Txn
/// (its last operation per key: etcd refuses a Txn that changes a key twice), a scan Ranges sorted
/// ascending by key (etcd orders keys by bytes: memcmp order), 1024 keys per call, every chunk after
/// the first read at the first one's revision (one consistent view). Durability: etcd fsyncs its WAL
/// before it acknowledges any write, in every mode. Snapshots: none (refused).
public final class EtcdEngine: ServerSessionEngine, @unchecked Sendable {
    public let backendName = EtcdDescriptor.name
    public var durability: DurabilityMode { session.durability }
    public let dataDirectory: String?
    let options: EtcdOptions
    public let session: ServerSession<EtcdConnection>
    /// The key prefix and the first key after every key that has it, kept for the engine's life.
    private let prefix, prefixEnd: UnsafeMutableRawBufferPointer
    public static let snapshotsAbsentBecause =
        "etcd's only snapshot is a backup of the whole member (Maintenance.Snapshot), restored by etcdutl into a new data directory of a stopped member; old revisions are history that compaction removes, not named states"

    static let scanChunk = 1024
    /// The managed cluster (`etcd.members` > 1), nil for one member or an external etcd.
    let cluster: EtcdCluster?

    init(directory: String, options: EtcdOptions, durability: DurabilityMode, access: StoreAccess) throws {
        self.options = options
        dataDirectory = directory
        let endpoints: [(host: String, port: Int)], server: ManagedServer?, log: String?, endpoint: String
        var cluster: EtcdCluster?
        if options.endpoints.isEmpty, options.members > 1 {
            let c = try EtcdCluster.start(directory: directory, options: options, access: access)
            cluster = c
            (endpoints, server, log) = (c.members.map { ("127.0.0.1", $0.clientPort) }, nil, nil)
            endpoint = endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        } else if options.endpoints.isEmpty {
            let (s, l) = try EtcdServer.start(directory: directory, options: options, access: access)
            (endpoints, server, log) = ([("127.0.0.1", s.port)], s, l)
            endpoint = "127.0.0.1:\(s.port)"
        } else {
            endpoints = try Self.parse(endpoints: options.endpoints)
            (server, log) = (nil, nil)
            endpoint = endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        }
        let p = Array(options.prefix.utf8)
        prefix = .allocate(byteCount: p.count, alignment: 1)
        prefix.copyBytes(from: p)
        let end = Self.successor(of: p)
        prefixEnd = .allocate(byteCount: max(end.count, 1), alignment: 1)
        prefixEnd.copyBytes(from: end)
        let credentials = EtcdCredentials.fromEnvironment()
        let countNet = options.countNetBytes
        let turn = Lock(0)
        self.cluster = cluster
        session = ServerSession(backend: EtcdDescriptor.name, durability: durability, access: access, server: server,
                                temporaryLog: log, endpoint: endpoint) { [cluster] in
            // Client threads take the endpoints in turn; in a managed cluster, those of the members
            // that run now (a killed member's clients reconnect to the others).
            let live = cluster?.liveEndpoints ?? endpoints
            let choices = live.isEmpty ? endpoints : live
            let i = turn.withLock { n -> Int in
                defer { n += 1 }
                return n % choices.count
            }
            let e = choices[i]
            return try EtcdConnection(host: e.host, port: e.port, credentials: credentials, countNetBytes: countNet,
                                      what: "\(e.host):\(e.port)")
        }
        if let cluster {
            session.stopCluster = { cluster.stop() }
            session.description.mode = "managed"
        }
        do {
            try session.finishOpening {
                let c = try session.connections.current()
                let status: Etcdserverpb_StatusResponse = try c.message("Status", Etcdserverpb_Maintenance.Method.Status.descriptor,
                                                                        Etcdserverpb_StatusRequest())
                session.description.version = status.version.isEmpty ? "?" : status.version
                let managed = server != nil || cluster != nil
                session.description.settings = [
                    .init("wal_fsync", "before every acknowledged write (etcd has no setting that relaxes it)"),
                    .init("reads", options.serializableReads ? "serializable" : "linearizable"),
                    .init("max-txn-ops", managed ? "16384" : "the server's (not readable over the API; etcd's default 128)"),
                    .init("max-request-bytes", managed ? "33554432" : "the server's (not readable over the API; etcd's default 1572864)"),
                    .init("quota-backend-bytes", managed ? "8589934592" : "the server's"),
                    .init("auto-compaction", managed ? "revision, retention 10000" : "the server's"),
                    .init("key_prefix", options.prefix),
                ]
                if let cluster {
                    session.description.settings.append(.init("members", "\(cluster.members.count) (clients spread over the members in turn; a write to a follower is forwarded to the leader by etcd)"))
                }
                if access == .readWrite, server == nil, cluster == nil { try ServerStoreDirectory.prepare(directory, backend: EtcdDescriptor.name) }
            }
        } catch {
            freeKeys()
            throw error
        }
    }

    /// The smallest key greater than every key that starts with `p` (etcd's prefix range end):
    /// the last byte below 0xff incremented, what follows it dropped; all 0xff: "\0" (no end).
    static func successor(of p: [UInt8]) -> [UInt8] {
        var e = p
        while let last = e.last {
            if last < 0xff {
                e[e.count - 1] = last + 1
                return e
            }
            e.removeLast()
        }
        return [0]
    }

    /// `host:port[,host:port...]`; a scheme (`http://`) is allowed and dropped. `https://` is refused:
    /// this client speaks plaintext HTTP/2 only.
    static func parse(endpoints: String) throws -> [(host: String, port: Int)] {
        var out: [(String, Int)] = []
        for raw in endpoints.split(separator: ",") {
            var e = Substring(String(raw).trimmingWhitespace())
            if e.hasPrefix("https://") {
                throw OrbitError(.invalidConfig, "etcd.endpoints: '\(e)' needs TLS, which this client does not speak", at: "etcd.endpoints",
                                 hint: "an http:// (plaintext) client URL, host:port")
            }
            if e.hasPrefix("http://") { e = e.dropFirst("http://".count) }
            if e.hasSuffix("/") { e = e.dropLast() }
            guard let colon = e.lastIndex(of: ":"), let port = Int(e[e.index(after: colon)...]), (1...65535).contains(port),
                  colon > e.startIndex else {
                throw OrbitError(.invalidConfig, "etcd.endpoints: bad endpoint '\(raw)'", at: "etcd.endpoints",
                                 hint: "host:port[,host:port...], e.g. 127.0.0.1:2379")
            }
            if e[..<colon].contains("@") {
                throw OrbitError(.invalidConfig, "etcd.endpoints holds credentials", at: "etcd.endpoints",
                                 hint: "give them in ETCDCTL_USER / ETCDCTL_PASSWORD only; they are never written to results")
            }
            out.append((String(e[..<colon]), port))
        }
        guard !out.isEmpty else {
            throw OrbitError(.invalidConfig, "etcd.endpoints: no endpoint in '\(endpoints)'", at: "etcd.endpoints", hint: "host:port[,host:port...]")
        }
        return out
    }

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .everyWrite:
            DurabilityPromise(.powerLoss, "etcd fsyncs its WAL before it acknowledges a write")
        case .group:
            DurabilityPromise(.powerLoss, "etcd fsyncs its WAL before it acknowledges a write; raft batches the proposals of concurrent clients into one fsync (etcd's own group commit)")
        case .none, .periodic:
            DurabilityPromise(.powerLoss, "durability_effective every-write: etcd fsyncs its WAL before it acknowledges any write and has no setting that relaxes it, so this mode runs as every-write")
        }
    }

    // MARK: StorageEngine

    @inline(__always)
    private var prefixBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(prefix) }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        defer { c.account() }
        c.encoder.reset()
        c.encoder.put(prefix: prefixBytes, key: key, value: value)
        try c.raw("Put", Etcdserverpb_KV.Method.Put.descriptor)
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let c = try session.connection()
        c.encoder.reset()
        c.encoder.get(prefix: prefixBytes, key: key, serializable: options.serializableReads)
        try c.raw("Range", Etcdserverpb_KV.Method.Range.descriptor)
        c.account()
        var result: R?
        var found = false
        try c.inbox.bytes.withUnsafeBytes { m in
            try WireResponse.range(m) { _, v in
                result = try body(v)
                found = true
                return false
            }
        }
        if found, let result { return result }
        return try body(nil)
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        defer { c.account() }
        c.encoder.reset()
        c.encoder.deleteRange(prefix: prefixBytes, key: key)
        try c.raw("DeleteRange", Etcdserverpb_KV.Method.DeleteRange.descriptor)
    }

    /// One Txn (no compares; its `success` list): TxnRequest{success (2): RequestOp{request_put (2) |
    /// request_delete_range (3)}}. etcd refuses a Txn that names a key twice, so only each key's last
    /// operation goes in (the batch applied in order leaves exactly that).
    public func write(_ batch: WriteBatch) throws {
        let c = try session.writable()
        guard !batch.isEmpty else { return }
        defer { c.account() }
        let keep = c.lastPerKey(batch)
        c.encoder.reset()
        var i = 0
        batch.forEach { op, k, v in
            defer { i += 1 }
            guard keep.isEmpty || keep[i] else { return }
            let r = c.encoder.beginNested(2)
            if op == .put {
                let p = c.encoder.beginNested(2)
                c.encoder.put(prefix: prefixBytes, key: k, value: v)
                c.encoder.endNested(p)
            } else {
                let d = c.encoder.beginNested(3)
                c.encoder.deleteRange(prefix: prefixBytes, key: k)
                c.encoder.endNested(d)
            }
            c.encoder.endNested(r)
        }
        try c.raw("Txn", Etcdserverpb_KV.Method.Txn.descriptor)
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let c = try session.connection()
        defer { c.account() }
        let p = prefix.count
        // The range's end, prefix included: prefix+end, or the prefix's successor.
        c.rangeEnd.removeAll(keepingCapacity: true)
        if let end { c.rangeEnd.append(contentsOf: prefixBytes); c.rangeEnd.append(contentsOf: end) } else { c.rangeEnd.append(contentsOf: UnsafeRawBufferPointer(prefixEnd)) }
        c.rangeStart.removeAll(keepingCapacity: true)
        if let start { c.rangeStart.append(contentsOf: start) }
        var visited = 0
        var revision: Int64 = 0
        while true {
            let chunk = limit > 0 ? min(limit - visited, Self.scanChunk) : Self.scanChunk
            if chunk <= 0 { return visited }
            c.encoder.reset()
            c.rangeStart.withUnsafeBytes { s in
                c.rangeEnd.withUnsafeBytes { e in
                    c.encoder.range(prefix: prefixBytes, start: s, end: e, limit: chunk, revision: revision,
                                    serializable: options.serializableReads)
                }
            }
            try c.raw("Range", Etcdserverpb_KV.Method.Range.descriptor)
            var returned = 0
            let (more, stopped): (Bool, Bool) = try c.inbox.bytes.withUnsafeBytes { m in
                if revision == 0 { revision = try WireResponse.revision(m) }
                let r = try WireResponse.range(m) { k, v in
                    returned += 1
                    visited += 1
                    let go = try visit(UnsafeRawBufferPointer(rebasing: k[min(p, k.count)...]), v)
                    if returned == chunk || !go {
                        // Go on after this key: key + 0x00 (exclusive of it).
                        c.rangeStart.removeAll(keepingCapacity: true)
                        c.rangeStart.append(contentsOf: k[min(p, k.count)...])
                        c.rangeStart.append(0)
                    }
                    return go
                }
                return (r.more, r.stopped)
            }
            if stopped || !more || returned < chunk { return visited }
        }
    }

    /// Nothing to do: etcd fsyncs its WAL before it acknowledges any write.
    public func sync() throws { _ = try session.connection() }

    /// From the server: Maintenance.Status (dbSize, dbSizeInUse, raft index and term, revision) and
    /// the keys under the prefix (every key and value read when `etcd.exact_stats`, else counted).
    public func stats() throws -> StorageStats {
        let c = try session.connection()
        defer { c.account() }
        let status: Etcdserverpb_StatusResponse = try c.message("Status", Etcdserverpb_Maintenance.Method.Status.descriptor,
                                                                Etcdserverpb_StatusRequest())
        var s = StorageStats()
        if options.exactStats {
            var keys: UInt64 = 0, keyBytes: UInt64 = 0, valueBytes: UInt64 = 0
            try scan(from: nil, to: nil, limit: 0) { k, v in
                keys += 1
                keyBytes += UInt64(k.count)
                valueBytes += UInt64(v.count)
                return true
            }
            s.totalKeys = keys
            s.totalSizeBytes = keyBytes + valueBytes
            if keys > 0 {
                s.averageKeySize = keyBytes / keys
                s.averageValueSize = valueBytes / keys
            }
        } else {
            c.encoder.reset()
            c.encoder.range(prefix: prefixBytes, start: UnsafeRawBufferPointer(start: nil, count: 0), end: UnsafeRawBufferPointer(prefixEnd),
                            limit: 0, serializable: options.serializableReads, countOnly: true)
            try c.raw("Range", Etcdserverpb_KV.Method.Range.descriptor)
            s.totalKeys = UInt64(max(0, try c.inbox.bytes.withUnsafeBytes { try WireResponse.range($0) { _, _ in true }.count }))
            s.totalSizeBytes = UInt64(max(0, status.dbSizeInUse))
        }
        s.diskUsageBytes = UInt64(max(0, status.dbSize))
        for (name, v) in [("db_size", Double(status.dbSize)), ("db_size_in_use", Double(status.dbSizeInUse)),
                          ("raft_index", Double(status.raftIndex)), ("raft_applied_index", Double(status.raftAppliedIndex)),
                          ("raft_term", Double(status.raftTerm)), ("revision", Double(status.header.revision))] {
            s.extra.append(.init(name, v))
        }
        return s
    }

    public func close() throws {
        try session.close(sync: sync) {
            freeKeys()
            if session.server != nil, session.access == .readWrite, let dir = dataDirectory {
                unlink(joinPath(dir, EtcdServer.pidFile))
            }
            if let cluster, session.access == .readWrite { for m in cluster.members { unlink(m.pidFile) } }
        }
    }

    private func freeKeys() {
        prefix.deallocate()
        prefixEnd.deallocate()
    }
}

extension EtcdConnection {
    /// For a batch that names a key more than once: which operations are each key's last (empty:
    /// every one is). Scratch arrays of the connection, reused.
    func lastPerKey(_ batch: WriteBatch) -> [Bool] {
        keepScratch.removeAll(keepingCapacity: true)
        guard batch.count > 1 else { return keepScratch }
        keyScratch.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        batch.forEach { _, k, _ in
            spans.append((keyScratch.count, k.count))
            keyScratch.append(contentsOf: k)
        }
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: 0..<spans.count)
        let duplicates: Bool = keyScratch.withUnsafeBytes { all in
            func key(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[spans[i].0..<(spans[i].0 + spans[i].1)]) }
            order.sort { a, b in
                let c = compareBytes(key(a), key(b))
                return c != 0 ? c < 0 : a < b
            }
            var dup = false
            for j in 1..<order.count where compareBytes(key(order[j - 1]), key(order[j])) == 0 { dup = true; break }
            guard dup else { return false }
            keepScratch.append(contentsOf: repeatElement(true, count: spans.count))
            for j in 1..<order.count where compareBytes(key(order[j - 1]), key(order[j])) == 0 { keepScratch[order[j - 1]] = false }
            return true
        }
        if !duplicates { keepScratch.removeAll(keepingCapacity: true) }
        return keepScratch
    }
}

/// memcmp order, then length.
@inline(__always)
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

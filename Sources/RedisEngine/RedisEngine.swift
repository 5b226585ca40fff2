#if canImport(Glibc)
import Glibc
#endif
import CHiredis
public import OrbitCore
public import ServerSupport
import Synchronization

/// The `redis` engine: a client of a Redis server through hiredis (the library redis-benchmark uses),
/// one connection per client thread.
///
/// Layout (README "Server backends"): values in one hash (`<prefix>:data`, key -> value); every key
/// also in one sorted set at score 0 (`<prefix>:index`), so ZRANGEBYLEX returns keys in memcmp order;
/// exact key and byte counts in `<prefix>:meta`. Puts, deletes and scans are Lua scripts (EVALSHA),
/// each atomic on the server; a batch is MULTI, its scripts, EXEC. The cost of ordered scans: every
/// put and delete also updates the sorted set (O(log n), about its key's size again in memory).
///
/// Durability (appendonly yes always): none = appendfsync no, every-write and group = always,
/// periodic = everysec. Snapshots: none (refused).
public final class RedisEngine: ServerSessionEngine, @unchecked Sendable {
    public let backendName = RedisDescriptor.name
    public var durability: DurabilityMode { session.durability }
    public let dataDirectory: String?
    let options: RedisOptions
    public let session: ServerSession<RedisConnection>
    /// `<prefix>:data`, `:index`, `:meta`, kept for the engine's life (arguments of every command).
    private let dataKey, indexKey, metaKey: UnsafeMutableRawBufferPointer
    public static let snapshotsAbsentBecause =
        "SAVE/BGSAVE write one RDB file of the whole server, which a restore would have to swap under a stopped server"

    static let scanChunk = 1024

    init(directory: String, options: RedisOptions, durability: DurabilityMode, access: StoreAccess) throws {
        self.options = options
        dataDirectory = directory
        let host: String, port: Int, database: Int, server: ManagedServer?, log: String?, endpoint: String
        if options.url.isEmpty {
            let (s, l) = try RedisServer.start(directory: directory, options: options, durability: durability, access: access)
            (host, port, database, server, log) = ("127.0.0.1", s.port, 0, s, l)
            endpoint = "127.0.0.1:\(s.port)"
        } else {
            (host, port, database) = try Self.parse(url: options.url)
            (server, log) = (nil, nil)
            endpoint = "\(host):\(port)/\(database)"
        }
        func keyBuffer(_ suffix: String) -> UnsafeMutableRawBufferPointer {
            let bytes = Array((options.prefix + ":" + suffix).utf8)
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            b.copyBytes(from: bytes)
            return b
        }
        dataKey = keyBuffer("data")
        indexKey = keyBuffer("index")
        metaKey = keyBuffer("meta")
        let password = getenv("REDIS_PASSWORD").map { String(cString: $0) }
        let countNet = options.countNetBytes
        session = ServerSession(backend: RedisDescriptor.name, durability: durability, access: access, server: server,
                                temporaryLog: log, endpoint: endpoint) {
            try RedisConnection(host: host, port: port, password: password, database: database, scripts: RedisScripts.all,
                                countNetBytes: countNet, what: endpoint)
        }
        do {
            try session.finishOpening {
                let c = try session.connections.current()
                let info = try c.command(["INFO", "server"])
                session.description.version = Self.field("redis_version", in: info) ?? "?"
                var settings: [ServerDescription.Setting] = []
                for name in ["appendonly", "appendfsync", "save", "maxmemory", "maxmemory-policy", "io-threads"] {
                    let kv = try c.array(["CONFIG", "GET", name])
                    settings.append(.init(name, kv.count >= 2 ? kv[1] : "?"))
                }
                session.description.settings = settings
                try checkDurability(settings)
                if access == .readWrite, server == nil { try ServerStoreDirectory.prepare(directory, backend: RedisDescriptor.name) }
            }
        } catch {
            freeKeys()
            throw error
        }
    }

    /// An external server must already be configured for the mode: a mismatch is an error naming the
    /// setting and its value (a managed server was started with it).
    private func checkDurability(_ settings: [ServerDescription.Setting]) throws {
        func value(_ n: String) -> String { settings.first { $0.name == n }?.value ?? "?" }
        let want = RedisServer.appendfsync(durability)
        let endpoint = session.endpoint
        if value("appendonly") != "yes" {
            throw OrbitError(.invalidConfig, "redis at \(endpoint): appendonly is '\(value("appendonly"))'; durability \(durability) needs appendonly yes",
                             at: "redis.url", hint: "CONFIG SET appendonly yes on that server, or run without redis.url (a managed server)")
        }
        if value("appendfsync") != want {
            throw OrbitError(.invalidConfig,
                             "redis at \(endpoint): appendfsync is '\(value("appendfsync"))'; durability \(durability) needs appendfsync \(want)",
                             at: "redis.url", hint: "CONFIG SET appendfsync \(want) on that server, or choose the durability mode it has")
        }
    }

    /// `redis://[user@]host[:port][/db]`. A password in the URL is refused: it would be written to results.
    static func parse(url: String) throws -> (host: String, port: Int, database: Int) {
        guard url.hasPrefix("redis://") else {
            throw OrbitError(.invalidConfig, "redis.url: '\(url)' is not a redis:// URL", at: "redis.url", hint: "redis://host:port[/db]")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            if rest[..<at].contains(":") {
                throw OrbitError(.invalidConfig, "redis.url holds a password", at: "redis.url",
                                 hint: "give the password in REDIS_PASSWORD only; it is never written to results")
            }
            rest = rest[rest.index(after: at)...]
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard db.isEmpty || Int(db) != nil else { throw OrbitError(.invalidConfig, "redis.url: bad database '\(db)'", at: "redis.url") }
            database = Int(db) ?? 0
            rest = rest[..<slash]
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw OrbitError(.invalidConfig, "redis.url: bad port in '\(url)'", at: "redis.url")
            }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw OrbitError(.invalidConfig, "redis.url: no host in '\(url)'", at: "redis.url") }
        return (String(rest), port, database)
    }

    static func field(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        switch mode {
        case .none:
            DurabilityPromise(.processCrash, "appendonly yes, appendfsync no: each write is in the AOF (write(2)) before Redis replies; never fsynced by Redis")
        case .everyWrite:
            DurabilityPromise(.powerLoss, "appendonly yes, appendfsync always: the AOF is fsynced before the reply")
        case .group:
            DurabilityPromise(.powerLoss, "appendfsync always: one AOF fsync per event-loop iteration covers every client's writes in it (Redis's group commit)")
        case .periodic:
            DurabilityPromise(.powerLossBoundedWindow,
                              "appendfsync everysec: the AOF is fsynced once a second (Redis's period is fixed; the mode's ms is not used); while an fsync is slow Redis may delay the write itself up to 2 s, so a server kill can lose that window too")
        }
    }

    // MARK: StorageEngine

    /// EVALSHA script 3 data index meta, then the arguments the caller set from index 6 on.
    @inline(__always)
    private func script(_ c: RedisConnection, _ which: Int) {
        c.arg(0, "EVALSHA")
        c.arg(1, c.sha(which))
        c.arg(2, "3")
        c.arg(3, UnsafeRawBufferPointer(dataKey))
        c.arg(4, UnsafeRawBufferPointer(indexKey))
        c.arg(5, UnsafeRawBufferPointer(metaKey))
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        script(c, RedisScripts.put)
        c.arg(6, key)
        c.arg(7, value)
        try c.append(8)
        defer { c.net.account() }
        try c.discardReply()
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let c = try session.connection()
        c.arg(0, "HGET")
        c.arg(1, UnsafeRawBufferPointer(dataKey))
        c.arg(2, key)
        try c.append(3)
        let r = try c.reply()
        c.net.account()
        defer { freeReplyObject(r) }
        if r.pointee.type == REDIS_REPLY_NIL { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: r.pointee.str, count: r.pointee.len))
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        script(c, RedisScripts.delete)
        c.arg(6, key)
        try c.append(7)
        defer { c.net.account() }
        try c.discardReply()
    }

    public func write(_ batch: WriteBatch) throws {
        let c = try session.writable()
        guard !batch.isEmpty else { return }
        defer { c.net.account() }
        c.arg(0, "MULTI")
        try c.append(1)
        try batch.forEach { op, k, v in
            script(c, op == .put ? RedisScripts.put : RedisScripts.delete)
            c.arg(6, k)
            if op == .put { c.arg(7, v) }
            try c.append(op == .put ? 8 : 7)
        }
        c.arg(0, "EXEC")
        try c.append(1)
        // MULTI's OK, one QUEUED per command, then EXEC's array of results.
        var firstError: (any Error)?
        for _ in 0..<(batch.count + 1) {
            do { try c.discardReply() } catch { if firstError == nil { firstError = error } }
        }
        let r = try c.reply()
        defer { freeReplyObject(r) }
        if let firstError { throw firstError }
        guard r.pointee.type == REDIS_REPLY_ARRAY else { throw OrbitError(.engine, "redis aborted the batch (EXEC: \(RedisConnection.text(r)))") }
        for i in 0..<r.pointee.elements where r.pointee.element[i]!.pointee.type == REDIS_REPLY_ERROR {
            throw OrbitError(.engine, "redis failed a command of a batch", cause: .library(RedisConnection.text(r.pointee.element[i]!)))
        }
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let c = try session.connection()
        defer { c.net.account() }
        // ZRANGEBYLEX bounds: "-" / "+" open, "[k" inclusive, "(k" exclusive.
        c.bound0.removeAll(keepingCapacity: true)
        if let start { c.bound0.append(UInt8(ascii: "[")); c.bound0.append(contentsOf: start) } else { c.bound0.append(UInt8(ascii: "-")) }
        c.bound1.removeAll(keepingCapacity: true)
        if let end { c.bound1.append(UInt8(ascii: "(")); c.bound1.append(contentsOf: end) } else { c.bound1.append(UInt8(ascii: "+")) }
        var visited = 0
        while true {
            let chunk = limit > 0 ? min(limit - visited, Self.scanChunk) : Self.scanChunk
            if chunk <= 0 { return visited }
            let r: UnsafeMutablePointer<redisReply> = try c.bound0.withUnsafeBytes { b0 in
                try c.bound1.withUnsafeBytes { b1 in
                    script(c, RedisScripts.scan)
                    c.arg(6, b0)
                    c.arg(7, b1)
                    // The count goes last: its buffer is the connection's.
                    try c.append(9, last: c.decimal(chunk))
                    return try c.reply()
                }
            }
            defer { freeReplyObject(r) }
            guard r.pointee.type == REDIS_REPLY_ARRAY else { throw OrbitError(.engine, "redis scan: unexpected reply \(RedisConnection.text(r))") }
            let pairs = r.pointee.elements / 2
            for i in 0..<pairs {
                let k = r.pointee.element[2 * i]!, v = r.pointee.element[2 * i + 1]!
                visited += 1
                let go = try visit(UnsafeRawBufferPointer(start: k.pointee.str, count: k.pointee.len),
                                   UnsafeRawBufferPointer(start: v.pointee.str, count: v.pointee.len))
                if !go { return visited }
            }
            if pairs < chunk { return visited }
            // Go on after the last key: exclusive.
            let last = r.pointee.element[2 * (pairs - 1)]!
            c.bound0.removeAll(keepingCapacity: true)
            c.bound0.append(UInt8(ascii: "("))
            c.bound0.append(contentsOf: UnsafeRawBufferPointer(start: last.pointee.str, count: last.pointee.len))
        }
    }

    /// Every acknowledged write durable: nothing to do under appendfsync always; otherwise switch the
    /// server to always for one write (its reply comes after an fsync of the whole AOF), then back.
    public func sync() throws {
        let c = try session.connection()
        guard session.access == .readWrite, !durability.syncsBeforeAck else { return }
        let mode = RedisServer.appendfsync(durability)
        try c.command(["CONFIG", "SET", "appendfsync", "always"])
        do {
            try c.command(["HINCRBY", options.prefix + ":meta", "syncs", "1"])
        } catch {
            try? c.command(["CONFIG", "SET", "appendfsync", mode])
            throw error
        }
        try c.command(["CONFIG", "SET", "appendfsync", mode])
    }

    /// From the server: the counters the scripts keep, INFO memory, persistence and keyspace.
    public func stats() throws -> StorageStats {
        let c = try session.connection()
        let counts = try c.array(["HMGET", options.prefix + ":meta", "keys", "key_bytes", "value_bytes"]).map { UInt64($0) ?? 0 }
        let memory = try c.command(["INFO", "memory"])
        let persistence = try c.command(["INFO", "persistence"])
        let stats = try c.command(["INFO", "stats"])
        var s = StorageStats()
        if counts.count == 3 {
            s.totalKeys = counts[0]
            s.totalSizeBytes = counts[1] + counts[2]
            if counts[0] > 0 {
                s.averageKeySize = counts[1] / counts[0]
                s.averageValueSize = counts[2] / counts[0]
            }
        }
        s.memoryUsageBytes = UInt64(Self.field("used_memory", in: memory).flatMap { Int($0) } ?? 0)
        s.diskUsageBytes = UInt64(Self.field("aof_current_size", in: persistence).flatMap { Int($0) } ?? 0)
        for (name, text) in [("used_memory", memory), ("used_memory_rss", memory), ("aof_current_size", persistence),
                             ("aof_rewrites", persistence), ("total_commands_processed", stats), ("total_net_input_bytes", stats),
                             ("total_net_output_bytes", stats)] {
            if let v = Self.field(name, in: text).flatMap({ Double($0) }) { s.extra.append(.init(name, v)) }
        }
        return s
    }

    public func close() throws { try session.close(sync: sync, then: freeKeys) }

    private func freeKeys() {
        dataKey.deallocate()
        indexKey.deallocate()
        metaKey.deallocate()
    }
}

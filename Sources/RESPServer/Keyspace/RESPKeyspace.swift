public import OrbitCore

/// The command names, with Redis's arity: n exactly n arguments counting the name, -n at least n.
enum RESPCommandTable {
    enum Command: Sendable {
        case ping, echo, get, set, getdel, del, exists, mget, mset, incr, decr, incrby, decrby, append, strlen
        case dbsize, flushdb, info, select, quit, client, command, config
        case expire, pexpire, expireat, pexpireat, ttl, pttl, persist, keys, scan
    }

    /// name → (command, Redis's arity: n exactly n arguments with the name, -n at least n).
    static let entries: [[UInt8]: (Command, Int)] = {
        let entries: [(String, Command, Int)] = [
            ("ping", .ping, -1), ("echo", .echo, 2), ("get", .get, 2), ("set", .set, -3), ("getdel", .getdel, 2),
            ("del", .del, -2), ("exists", .exists, -2), ("mget", .mget, -2), ("mset", .mset, -3), ("incr", .incr, 2),
            ("decr", .decr, 2), ("incrby", .incrby, 3), ("decrby", .decrby, 3), ("append", .append, 3), ("strlen", .strlen, 2),
            ("dbsize", .dbsize, 1), ("flushdb", .flushdb, -1), ("info", .info, -1), ("select", .select, 2), ("quit", .quit, -1),
            ("client", .client, -2), ("command", .command, -1), ("config", .config, -2),
            ("expire", .expire, -3), ("pexpire", .pexpire, -3), ("expireat", .expireat, -3), ("pexpireat", .pexpireat, -3),
            ("ttl", .ttl, 2), ("pttl", .pttl, 2), ("persist", .persist, 2), ("keys", .keys, 2), ("scan", .scan, -2),
        ]
        var t: [[UInt8]: (Command, Int)] = [:]
        for (n, c, a) in entries { t[Array(n.utf8)] = (c, a) }
        return t
    }()

    static var count: Int { entries.count }
}

/// What a connection keeps between its requests.
public struct RESPSession: Sendable {
    public var id: Int64
    public var name: [UInt8] = []
    public init(id: Int64) { self.id = id }
}

/// The Redis string keyspace over one engine: the command table and its semantics.
///
/// Every command runs under one lock, so a command is atomic with respect to every other client
/// (INCR's read-modify-write, SET NX, MSET) as in Redis's single-threaded loop; the engine's own
/// durability mode decides when a write is acknowledged (the reply is sent after the engine call
/// returns). A command that writes two or more keys (MSET, DEL k1 k2) writes them in one
/// `WriteBatch`, all or none. Values carry their expiry (`StoredValue`); an expired key is deleted
/// when it is touched and by the background `sweep`.
///
/// Hot path: the scratch buffers (the value read, the value encoded, the batch, the command name)
/// are reused under the lock; a GET or SET allocates nothing once they have grown.
public final class RESPKeyspace<E: StorageEngine, C: WallClock>: @unchecked Sendable {
    public let engine: E
    public let clock: C
    let lock = Lock(())
    let startMillis: Int64

    // Scratch, guarded by `lock`.
    private var value: [UInt8] = []
    private var encoded: [UInt8] = []
    private var batch = WriteBatch()
    private var name: [UInt8] = []
    private var keys: [[UInt8]] = []
    /// SCAN cursors: a number handed to the client → the last key returned (the next scan starts after it).
    private var cursors: [UInt64: [UInt8]] = [:]
    private var nextCursor: UInt64 = 1
    /// Where the background sweep goes on (nil: from the first key).
    private var sweepFrom: [UInt8]?
    private var clients = 0
    /// Keys found expired (on access and by the sweep), and those the sweep deleted (INFO stats).
    private var expiredKeys: Int64 = 0
    private var sweptKeys: Int64 = 0
    private var nextClientID: Int64 = 1
    /// The port the server listens on (for INFO).
    public var port = 0

    static var maxCursors: Int { 4096 }

    /// The engine's key and value limits (`EngineDescriptor.limits`): a write over them is refused
    /// with an error reply, never handed to the engine; a read of a longer key finds nothing.
    public let limits: EngineLimits

    public init(engine: E, clock: C, limits: EngineLimits = .unlimited) {
        self.engine = engine
        self.clock = clock
        self.limits = limits
        startMillis = clock.nowMillis()
    }

    /// A connection arrived: its session.
    public func connect() -> RESPSession {
        lock.lock(); defer { lock.unlock() }
        clients += 1
        nextClientID += 1
        return RESPSession(id: nextClientID - 1)
    }

    public func disconnect() {
        lock.lock(); defer { lock.unlock() }
        clients -= 1
    }

    /// Runs one command, appending its reply. Returns false when the connection is to be closed after
    /// the reply is sent (QUIT).
    public func execute(_ command: RESPCommand, _ out: inout RESPWriter, _ session: inout RESPSession) -> Bool {
        guard command.count > 0 else { return true }
        lock.lock(); defer { lock.unlock() }
        return command.bytes.withUnsafeBytes { raw in
            let args = Arguments(raw: raw, bounds: command.bounds)
            // A command that fails replies with its error only (a reply it had begun is dropped).
            let mark = out.bytes.count
            do {
                return try run(args, &out, &session)
            } catch let e as LimitError {
                out.bytes.removeSubrange(mark...)
                out.error("ERR " + e.message)
            } catch let e as OrbitError {
                out.bytes.removeSubrange(mark...)
                out.error("ERR \(e)")
            } catch {
                out.bytes.removeSubrange(mark...)
                out.error("ERR \(error)")
            }
            return true
        }
    }

    struct LimitError: Error { let message: String }

    struct Arguments {
        let raw: UnsafeRawBufferPointer
        let bounds: [Range<Int>]
        var count: Int { bounds.count }
        subscript(i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[bounds[i]]) }
        func text(_ i: Int) -> String { String(decoding: self[i], as: UTF8.self) }
        func eq(_ i: Int, _ word: StaticString) -> Bool { RESPBytes.equalsIgnoringCase(self[i], word) }
    }

    // MARK: Dispatch


    private func run(_ a: Arguments, _ out: inout RESPWriter, _ session: inout RESPSession) throws -> Bool {
        name.removeAll(keepingCapacity: true)
        for c in a[0] { name.append(c >= 0x41 && c <= 0x5a ? c | 0x20 : c) }
        guard let entry = RESPCommandTable.entries[name] else {
            var tail = ""
            var i = 1
            while i < a.count && tail.utf8.count < 128 {
                tail += "'" + String(a.text(i).prefix(128 - tail.utf8.count)) + "' "
                i += 1
            }
            out.error("ERR unknown command '\(String(a.text(0).prefix(128)))', with args beginning with: \(tail)")
            return true
        }
        let (command, arity) = entry
        guard arity >= 0 ? a.count == arity : a.count >= -arity else { return arityError(out: &out) }
        let now = clock.nowMillis()
        switch command {
        case .ping:
            guard a.count <= 2 else { return arityError(out: &out) }
            if a.count == 2 { out.bulk(a[1]) } else { out.simple("PONG") }
        case .echo: out.bulk(a[1])
        case .get:
            if try lookup(a[1], now: now) != nil { payload(&out) } else { out.nullBulk() }
        case .getdel:
            if try lookup(a[1], now: now) != nil {
                try engine.delete(a[1])
                payload(&out)
            } else { out.nullBulk() }
        case .set: try set(a, now: now, &out)
        case .del:
            var n: Int64 = 0
            batch.removeAll()
            for i in 1..<a.count {
                // A key named twice is counted once (the first delete in the batch removes it).
                if try lookup(a[i], now: now) != nil, !batchDeletes(a[i]) {
                    n += 1
                    batch.delete(a[i])
                }
            }
            try commitBatch()
            out.integer(n)
        case .exists:
            var n: Int64 = 0
            for i in 1..<a.count { if try lookup(a[i], now: now) != nil { n += 1 } }
            out.integer(n)
        case .mget:
            out.arrayHeader(a.count - 1)
            for i in 1..<a.count {
                if try lookup(a[i], now: now) != nil { payload(&out) } else { out.nullBulk() }
            }
        case .mset:
            guard a.count % 2 == 1 else { return arityError(out: &out) }
            batch.removeAll()
            var i = 1
            while i < a.count {
                StoredValue.startEncoding(expiry: 0, into: &encoded)
                encoded.append(contentsOf: a[i + 1])
                try checkLimits(a[i], encoded.count)
                encoded.withUnsafeBytes { batch.put(a[i], $0) }
                i += 2
            }
            try commitBatch()
            out.ok()
        case .incr: try incr(a, by: 1, now: now, &out)
        case .decr: try incr(a, by: -1, now: now, &out)
        case .incrby, .decrby:
            guard let by = RESPBytes.parseInt64(a[2]) else { return notInteger(&out) }
            if command == .decrby {
                guard by != Int64.min else { out.error("ERR decrement would overflow"); return true }
                try incr(a, by: -by, now: now, &out)
            } else {
                try incr(a, by: by, now: now, &out)
            }
        case .append:
            let expiry = try lookup(a[1], now: now)
            StoredValue.startEncoding(expiry: expiry ?? 0, into: &encoded)
            if expiry != nil { encoded.append(contentsOf: value[StoredValue.headerSize...]) }
            encoded.append(contentsOf: a[2])
            try putEncoded(a[1])
            out.integer(Int64(encoded.count - StoredValue.headerSize))
        case .strlen:
            out.integer(try lookup(a[1], now: now) != nil ? Int64(value.count - StoredValue.headerSize) : 0)
        case .dbsize: out.integer(try count(now: now).keys)
        case .flushdb:
            guard a.count <= 2, a.count == 1 || a.eq(1, "async") || a.eq(1, "sync") else { out.error("ERR syntax error"); return true }
            try flush()
            out.ok()
        case .info: try info(a, now: now, &out)
        case .select:
            guard let db = RESPBytes.parseInt64(a[1]), db >= Int32.min, db <= Int32.max else { return notInteger(&out) }
            if db == 0 { out.ok() } else { out.error("ERR DB index is out of range") }
        case .quit:
            out.ok()
            return false
        case .client: client(a, &out, &session)
        case .command:
            if a.count == 1 || a.eq(1, "docs") { out.arrayHeader(0) }
            else if a.eq(1, "count") { out.integer(Int64(RESPCommandTable.count)) }
            else if a.eq(1, "info") { out.arrayHeader(a.count - 2); for _ in 2..<a.count { out.nullArray() } }
            else { out.error("ERR unknown subcommand '\(a.text(1))'. Try COMMAND HELP.") }
        case .config:
            // Enough for redis-benchmark, which reads save and appendonly before it starts.
            guard a.eq(1, "get"), a.count == 3 else {
                out.error("ERR unknown subcommand or wrong number of arguments for '\(a.text(1))'. Try CONFIG HELP.")
                return true
            }
            if a.eq(2, "save") { out.arrayHeader(2); out.bulk(text: "save"); out.bulk(text: "") }
            else if a.eq(2, "appendonly") { out.arrayHeader(2); out.bulk(text: "appendonly"); out.bulk(text: "no") }
            else { out.arrayHeader(0) }
        case .expire, .pexpire, .expireat, .pexpireat: try expire(command, a, now: now, &out)
        case .ttl, .pttl:
            guard let expiry = try lookup(a[1], now: now) else { out.integer(-2); return true }
            guard expiry != 0 else { out.integer(-1); return true }
            let left = max(0, expiry - now)
            out.integer(command == .ttl ? (left + 500) / 1000 : left)
        case .persist:
            guard let expiry = try lookup(a[1], now: now), expiry != 0 else { out.integer(0); return true }
            try rewriteExpiry(a[1], 0)
            out.integer(1)
        case .keys: try keysCommand(a, now: now, &out)
        case .scan: try scan(a, now: now, &out)
        }
        return true
    }

    private func arityError(out: inout RESPWriter) -> Bool {
        out.error("ERR wrong number of arguments for '\(String(decoding: name, as: UTF8.self))' command")
        return true
    }

    private func notInteger(_ out: inout RESPWriter) -> Bool {
        out.error("ERR value is not an integer or out of range")
        return true
    }

    // MARK: Values

    /// Reads `key` into `value`; returns its expiry (0: none), or nil when absent or expired (an
    /// expired key is deleted here).
    private func lookup(_ key: UnsafeRawBufferPointer, now: Int64) throws -> Int64? {
        guard key.count <= limits.maxKeySize else { return nil }
        guard try engine.get(key, into: &value) else { return nil }
        guard let expiry = value.withUnsafeBytes({ StoredValue.expiry($0) }) else { throw StoredValue.corrupt(key, value.count) }
        if expiry != 0 && expiry <= now {
            try engine.delete(key)
            expiredKeys += 1
            return nil
        }
        return expiry
    }

    /// The payload of the value last looked up, as a bulk reply.
    private func payload(_ out: inout RESPWriter) {
        value.withUnsafeBytes { out.bulk(UnsafeRawBufferPointer(rebasing: $0[StoredValue.headerSize...])) }
    }

    private func put(_ key: UnsafeRawBufferPointer, expiry: Int64, _ payload: UnsafeRawBufferPointer) throws {
        StoredValue.startEncoding(expiry: expiry, into: &encoded)
        encoded.append(contentsOf: payload)
        try putEncoded(key)
    }

    /// Writes `encoded` under `key`, after checking both against the engine's limits.
    private func putEncoded(_ key: UnsafeRawBufferPointer) throws {
        try checkLimits(key, encoded.count)
        try encoded.withUnsafeBytes { try engine.put(key, $0) }
    }

    private func checkLimits(_ key: UnsafeRawBufferPointer, _ storedCount: Int) throws {
        if key.count > limits.maxKeySize {
            throw LimitError(message: "key of \(key.count) bytes is longer than the \(engine.backendName) engine stores (at most \(limits.maxKeySize) bytes)")
        }
        if storedCount > limits.maxValueSize {
            throw LimitError(message: "value of \(storedCount - StoredValue.headerSize) bytes is larger than the \(engine.backendName) engine stores (at most \(limits.maxValueSize - StoredValue.headerSize) bytes)")
        }
    }

    /// Rewrites the value last looked up (for `key`) with a new expiry.
    private func rewriteExpiry(_ key: UnsafeRawBufferPointer, _ expiry: Int64) throws {
        try value.withUnsafeBytes { v in try put(key, expiry: expiry, UnsafeRawBufferPointer(rebasing: v[StoredValue.headerSize...])) }
    }

    private func batchDeletes(_ key: UnsafeRawBufferPointer) -> Bool {
        var found = false
        batch.forEach { _, k, _ in if !found, k.elementsEqual(key) { found = true } }
        return found
    }

    private func commitBatch() throws {
        if batch.count == 1 {
            // One entry: a plain put/delete (the same atomicity, fewer engine paths).
            try batch.forEach { op, k, v in if op == .put { try engine.put(k, v) } else { try engine.delete(k) } }
        } else if batch.count > 1 {
            try engine.write(batch)
        }
        batch.removeAll()
    }

    // MARK: SET

    private func set(_ a: Arguments, now: Int64, _ out: inout RESPWriter) throws {
        var nx = false, xx = false, get = false, keepTTL = false
        var expireKind = 0  // 1 EX, 2 PX, 3 EXAT, 4 PXAT
        var expireArg = -1
        var i = 3
        while i < a.count {
            let hasNext = i + 1 < a.count
            if a.eq(i, "nx") && !xx { nx = true }
            else if a.eq(i, "xx") && !nx { xx = true }
            else if a.eq(i, "get") { get = true }
            else if a.eq(i, "keepttl") && expireKind == 0 { keepTTL = true }
            else if hasNext && expireKind == 0 && !keepTTL && (a.eq(i, "ex") || a.eq(i, "px") || a.eq(i, "exat") || a.eq(i, "pxat")) {
                expireKind = a.eq(i, "ex") ? 1 : a.eq(i, "px") ? 2 : a.eq(i, "exat") ? 3 : 4
                expireArg = i + 1
                i += 1
            } else {
                out.error("ERR syntax error")
                return
            }
            i += 1
        }
        var expiry: Int64 = 0
        if expireKind != 0 {
            guard let n = RESPBytes.parseInt64(a[expireArg]) else { _ = notInteger(&out); return }
            let invalid = "ERR invalid expire time in 'set' command"
            guard n > 0 else { out.error(invalid); return }
            switch expireKind {
            case 1, 3:
                guard n <= Int64.max / 1000 else { out.error(invalid); return }
                let ms = n * 1000
                if expireKind == 1 { guard ms <= Int64.max - now else { out.error(invalid); return }; expiry = now + ms } else { expiry = ms }
            case 2: guard n <= Int64.max - now else { out.error(invalid); return }; expiry = now + n
            default: expiry = n
            }
        }
        // A plain SET needs no read of the old value.
        let old: Int64? = try (nx || xx || get || keepTTL ? lookup(a[1], now: now) : nil)
        if (nx && old != nil) || (xx && old == nil) {
            if get, old != nil { payload(&out) } else { out.nullBulk() }
            return
        }
        if keepTTL, let old { expiry = old }
        // The reply goes out after the write (GET's old value is still in `value`: put encodes into `encoded`).
        if expiry != 0 && expiry <= now {
            // An absolute time in the past: Redis stores nothing (the key is gone).
            try engine.delete(a[1])
        } else {
            try put(a[1], expiry: expiry, a[2])
        }
        if get { if old != nil { payload(&out) } else { out.nullBulk() } } else { out.ok() }
    }

    // MARK: INCR

    private func incr(_ a: Arguments, by: Int64, now: Int64, _ out: inout RESPWriter) throws {
        var current: Int64 = 0
        let expiry = try lookup(a[1], now: now)
        if expiry != nil {
            guard let v = value.withUnsafeBytes({ RESPBytes.parseInt64(UnsafeRawBufferPointer(rebasing: $0[StoredValue.headerSize...])) }) else {
                _ = notInteger(&out)
                return
            }
            current = v
        }
        let (sum, overflow) = current.addingReportingOverflow(by)
        guard !overflow else { out.error("ERR increment or decrement would overflow"); return }
        StoredValue.startEncoding(expiry: expiry ?? 0, into: &encoded)
        RESPBytes.appendDecimal(sum, to: &encoded)
        try putEncoded(a[1])
        out.integer(sum)
    }

    // MARK: Expiry

    private func expire(_ command: RESPCommandTable.Command, _ a: Arguments, now: Int64, _ out: inout RESPWriter) throws {
        let cmdName = String(decoding: name, as: UTF8.self)
        guard let n = RESPBytes.parseInt64(a[2]) else { _ = notInteger(&out); return }
        var nx = false, xx = false, gt = false, lt = false
        for i in 3..<max(3, a.count) {
            if a.eq(i, "nx") { nx = true } else if a.eq(i, "xx") { xx = true } else if a.eq(i, "gt") { gt = true } else if a.eq(i, "lt") { lt = true }
            else { out.error("ERR Unsupported option \(a.text(i))"); return }
        }
        if nx && (xx || gt || lt) { out.error("ERR NX and XX, GT or LT options at the same time are not compatible"); return }
        if gt && lt { out.error("ERR GT and LT options at the same time are not compatible"); return }
        let invalid = "ERR invalid expire time in '\(cmdName)' command"
        var when: Int64
        switch command {
        case .expire, .expireat:
            guard n <= Int64.max / 1000, n >= Int64.min / 1000 else { out.error(invalid); return }
            when = n * 1000
        default: when = n
        }
        if command == .expire || command == .pexpire {
            let (s, o) = when.addingReportingOverflow(now)
            guard !o else { out.error(invalid); return }
            when = s
        }
        guard let current = try lookup(a[1], now: now) else { out.integer(0); return }
        if nx && current != 0 { out.integer(0); return }
        if xx && current == 0 { out.integer(0); return }
        if gt && (current == 0 || when <= current) { out.integer(0); return }
        if lt && current != 0 && when >= current { out.integer(0); return }
        if when <= now {
            try engine.delete(a[1])
        } else {
            try rewriteExpiry(a[1], when)
        }
        out.integer(1)
    }

    /// Deletes up to `budget` expired keys, going on from where the last sweep stopped (wrapping to the
    /// first key at the end). Returns how many it deleted.
    @discardableResult
    public func sweep(budget: Int = 256) throws -> Int {
        lock.lock(); defer { lock.unlock() }
        let now = clock.nowMillis()
        keys.removeAll(keepingCapacity: true)
        var last: [UInt8]?
        let visited = try scanFrom(sweepFrom, limit: budget) { k, v in
            last = [UInt8](k)
            if let e = StoredValue.expiry(v), e != 0, e <= now { keys.append([UInt8](k)) }
            return true
        }
        sweepFrom = visited < budget ? nil : last.map { $0 + [0] }
        batch.removeAll()
        for k in keys { batch.delete(k) }
        let n = batch.count
        try commitBatch()
        expiredKeys += Int64(n)
        sweptKeys += Int64(n)
        return n
    }

    // MARK: Whole-keyspace commands

    private func scanFrom(_ start: [UInt8]?, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        if let start { return try start.withUnsafeBytes { try engine.scan(from: $0, to: nil, limit: limit, visit) } }
        return try engine.scan(from: nil, to: nil, limit: limit, visit)
    }

    private func count(now: Int64) throws -> (keys: Int64, expires: Int64) {
        var n: Int64 = 0, e: Int64 = 0
        try engine.scan(from: nil, to: nil, limit: 0) { _, v in
            let x = StoredValue.expiry(v) ?? 0
            if x == 0 || x > now { n += 1; if x != 0 { e += 1 } }
            return true
        }
        return (n, e)
    }

    private func flush() throws {
        while true {
            keys.removeAll(keepingCapacity: true)
            try engine.scan(from: nil, to: nil, limit: 1024) { k, _ in keys.append([UInt8](k)); return true }
            if keys.isEmpty { break }
            batch.removeAll()
            for k in keys { batch.delete(k) }
            try commitBatch()
        }
        cursors.removeAll()
        sweepFrom = nil
    }

    private func keysCommand(_ a: Arguments, now: Int64, _ out: inout RESPWriter) throws {
        keys.removeAll(keepingCapacity: true)
        let pattern = a[1]
        let all = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
        try engine.scan(from: nil, to: nil, limit: 0) { k, v in
            let x = StoredValue.expiry(v) ?? 0
            if (x == 0 || x > now) && (all || Glob.matches(pattern, k)) { keys.append([UInt8](k)) }
            return true
        }
        out.arrayHeader(keys.count)
        for k in keys { out.bulk(k) }
    }

    /// SCAN over the engine's ordered range scan. A cursor is a number this server handed out, standing
    /// for the last key it returned (the next call starts after it); 0 starts and ends an iteration.
    /// As in Redis, a key present for the whole iteration is returned at least once; MATCH filters
    /// after COUNT keys are read, so a reply may hold fewer keys (even none) with a nonzero cursor.
    /// At most `maxCursors` iterations are remembered; an older cursor is refused ("ERR invalid cursor").
    private func scan(_ a: Arguments, now: Int64, _ out: inout RESPWriter) throws {
        guard let cursor = parseCursor(a[1]) else { out.error("ERR invalid cursor"); return }
        var count = 10
        var pattern: Range<Int>?
        var i = 2
        while i < a.count {
            if a.eq(i, "count"), i + 1 < a.count {
                guard let n = RESPBytes.parseInt64(a[i + 1]) else { _ = notInteger(&out); return }
                guard n >= 1 else { out.error("ERR syntax error"); return }
                count = Int(min(n, 1 << 20))
                i += 2
            } else if a.eq(i, "match"), i + 1 < a.count {
                pattern = a.bounds[i + 1]
                i += 2
            } else if a.eq(i, "type"), i + 1 < a.count {
                i += 2  // every key is a string; a TYPE other than string matches none (filtered below)
            } else {
                out.error("ERR syntax error")
                return
            }
        }
        var typeIsString = true
        i = 2
        while i + 1 < a.count { if a.eq(i, "type") { typeIsString = a.eq(i + 1, "string") }; i += 2 }
        var start: [UInt8]? = nil
        if cursor != 0 {
            guard let last = cursors.removeValue(forKey: cursor) else { out.error("ERR invalid cursor"); return }
            start = last + [0]
        }
        keys.removeAll(keepingCapacity: true)
        var last: [UInt8]?
        let visited = try scanFrom(start, limit: count) { k, v in
            last = [UInt8](k)
            let x = StoredValue.expiry(v) ?? 0
            let live = x == 0 || x > now
            let wanted = pattern.map { Glob.matches(UnsafeRawBufferPointer(rebasing: a.raw[$0]), k) } ?? true
            if live && wanted && typeIsString { keys.append([UInt8](k)) }
            return true
        }
        var next: UInt64 = 0
        if visited == count, let last {
            next = nextCursor
            nextCursor += 1
            if cursors.count >= Self.maxCursors, let oldest = cursors.keys.min() { cursors.removeValue(forKey: oldest) }
            cursors[next] = last
        }
        out.arrayHeader(2)
        var digits: [UInt8] = []
        RESPBytes.appendDecimal(Int64(bitPattern: next), to: &digits)
        out.bulk(digits)
        out.arrayHeader(keys.count)
        for k in keys { out.bulk(k) }
    }

    private func parseCursor(_ p: UnsafeRawBufferPointer) -> UInt64? {
        guard p.count > 0, p.count <= 20 else { return nil }
        var v: UInt64 = 0
        for c in p {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1, !o2 else { return nil }
            v = s
        }
        return v
    }

    // MARK: INFO, CLIENT

    private func info(_ a: Arguments, now: Int64, _ out: inout RESPWriter) throws {
        func wants(_ section: StaticString) -> Bool {
            a.count == 1 || (1..<a.count).contains { a.eq($0, section) || a.eq($0, "all") || a.eq($0, "everything") || a.eq($0, "default") }
        }
        var text = ""
        if wants("server") {
            text += "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n"
            text += "orbit_bench_backend:\(engine.backendName)\r\norbit_bench_durability:\(engine.durability)\r\n"
            text += "tcp_port:\(port)\r\nuptime_in_seconds:\((now - startMillis) / 1000)\r\n\r\n"
        }
        if wants("clients") { text += "# Clients\r\nconnected_clients:\(clients)\r\n\r\n" }
        if wants("stats") { text += "# Stats\r\nexpired_keys:\(expiredKeys)\r\norbit_bench_swept_keys:\(sweptKeys)\r\n\r\n" }
        if wants("keyspace") {
            let c = try count(now: now)
            text += "# Keyspace\r\n"
            if c.keys > 0 { text += "db0:keys=\(c.keys),expires=\(c.expires),avg_ttl=0\r\n" }
        }
        out.bulk(text: text)
    }

    private func client(_ a: Arguments, _ out: inout RESPWriter, _ session: inout RESPSession) {
        if a.eq(1, "setname") {
            guard a.count == 3 else { _ = arityErrorSub("client|setname", &out); return }
            guard a[2].allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                out.error("ERR Client names cannot contain spaces, newlines or special characters.")
                return
            }
            session.name = [UInt8](a[2])
            out.ok()
        } else if a.eq(1, "getname") {
            guard a.count == 2 else { _ = arityErrorSub("client|getname", &out); return }
            if session.name.isEmpty { out.nullBulk() } else { out.bulk(session.name) }
        } else if a.eq(1, "id") {
            out.integer(session.id)
        } else {
            out.error("ERR unknown subcommand '\(a.text(1))'. Try CLIENT HELP.")
        }
    }

    private func arityErrorSub(_ full: String, _ out: inout RESPWriter) -> Bool {
        out.error("ERR wrong number of arguments for '\(full)' command")
        return true
    }
}

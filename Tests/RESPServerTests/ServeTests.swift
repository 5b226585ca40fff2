import CowBTree
import Foundation
import LSMTree
import MemoryEngine
import OrbitCLI
import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// Runs a real client program (redis-cli, redis-benchmark) and returns its standard output.
func runTool(_ tool: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/" + tool)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `redis-cli -p PORT ARGS...`, its output without the final newline.
func cli(_ port: Int, _ args: String...) throws -> String { try cli(port, args) }
func cli(_ port: Int, _ args: [String]) throws -> String {
    let r = try runTool("redis-cli", ["-h", "127.0.0.1", "-p", "\(port)"] + args)
    var s = r.out
    while s.hasSuffix("\n") { s.removeLast() }
    return s
}

/// The backends the serve tests run over: the in-memory one and a persistent one.
enum ServeBackends {
    static var inMemory: String { MemoryDescriptor.name }
    static var persistent: String { LSMDescriptor.name }
    static var both: [String] { [inMemory, persistent] }
}

func startServe(_ backend: String, _ dir: String, extra: [String] = []) throws -> RunningServe {
    try ServeTool.start(arguments: ["--protocol", "resp", "--backend", backend, "--data-dir", dir, "--listen", "127.0.0.1:0"] + extra)
}

@Suite(.serialized) struct ServeTests {
    @Test(arguments: ServeBackends.both) func redisCliDrivesServe(backend: String) throws {
        let tmp = try TemporaryDirectory(prefix: "orbit-serve")
        defer { tmp.remove() }
        let server = try startServe(backend, tmp.path)
        let p = server.port
        expectReply(p, ["PING"], "PONG")
        expectReply(p, ["SET", "greeting", "hello world"], "OK")
        expectReply(p, ["GET", "greeting"], "hello world")
        expectReply(p, ["INCR", "counter"], "1")
        expectReply(p, ["INCRBY", "counter", "41"], "42")
        expectReply(p, ["MSET", "a", "1", "b", "2"], "OK")
        expectReply(p, ["MGET", "a", "missing", "b"], "1\n\n2")
        expectReply(p, ["SET", "ttl", "x", "EX", "100"], "OK")
        expectReply(p, ["TTL", "ttl"], "100")
        expectReply(p, ["DBSIZE"], "5")
        expectReply(p, ["KEYS", "*"], "a\nb\ncounter\ngreeting\nttl")
        // SCAN page by page (COUNT 2): every key once, the cursor 0 at the end.
        var cursor = "0", seen: [String] = []
        repeat {
            let page = try cli(p, "SCAN", cursor, "COUNT", "2").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            cursor = page[0]
            seen += page.dropFirst().filter { !$0.isEmpty }
        } while cursor != "0"
        #expect(seen.sorted() == ["a", "b", "counter", "greeting", "ttl"])
        expectReply(p, ["--scan"], "a\nb\ncounter\ngreeting\nttl")
        expectReply(p, ["--scan", "--pattern", "g*"], "greeting")
        expectReply(p, ["GET"], "ERR wrong number of arguments for 'get' command")
        expectReply(p, ["INCR", "greeting"], "ERR value is not an integer or out of range")
        expectReply(p, ["SELECT", "1"], "ERR DB index is out of range")
        #expect(try cli(p, "INFO", "server").contains("orbit_bench_backend:\(backend)"))
        // Pipelined through one connection: redis-cli reads commands from standard input.
        let piped = try runTool("redis-cli", ["-p", "\(p)"], stdin: String(repeating: "INCR piped\n", count: 200))
        #expect(piped.out.split(separator: "\n").last == "200")
        // Keys set with a short expiry are gone on access, and the sweep deletes the rest.
        expectReply(p, ["SET", "short", "x", "PX", "1"], "OK")
        Thread.sleep(forTimeInterval: 0.01)
        expectReply(p, ["GET", "short"], "")
        for i in 0..<20 { _ = try cli(p, "SET", "sweep\(i)", "x", "PX", "1") }
        expectReply(p, ["DBSIZE"], "6")
        try waitUntil { infoField(try cli(p, "INFO", "stats"), "orbit_bench_swept_keys") >= 20 }
        try server.stop()

        guard Engines.isDurable(backend) else { return }
        // Reopened: the values and their expiry survived the restart.
        let again = try startServe(backend, tmp.path)
        defer { try? again.stop() }
        expectReply(again.port, ["GET", "greeting"], "hello world")
        let ttl = Int(try cli(again.port, "TTL", "ttl")) ?? -99
        #expect(ttl > 90 && ttl <= 100, "TTL after restart: \(ttl)")
        expectReply(again.port, ["GET", "piped"], "200")
    }

    @Test func malformedInputClosesOnlyThatConnection() throws {
        let tmp = try TemporaryDirectory(prefix: "orbit-serve")
        defer { tmp.remove() }
        let server = try startServe(ServeBackends.inMemory, tmp.path)
        defer { try? server.stop() }
        let bad = try rawExchange(server.port, Array("*1\r\n+PING\r\n".utf8))
        #expect(bad == "-ERR Protocol error: expected '$', got '+'\r\n")
        let big = try rawExchange(server.port, Array("*1\r\n$999999999999\r\n".utf8))
        #expect(big == "-ERR Protocol error: invalid bulk length\r\n")
        expectReply(server.port, ["PING"], "PONG")
    }

    @Test func writesOverTheEngineLimitsAreRefused() throws {
        let tmp = try TemporaryDirectory(prefix: "orbit-serve")
        defer { tmp.remove() }
        let backend = CowDescriptor.name  // a key limit of a few hundred bytes
        let limit = StoreGuard.limits(backend, settings: Configuration().settings).maxKeySize
        guard limit < 1 << 20 else { return }
        let server = try startServe(backend, tmp.path)
        defer { try? server.stop() }
        let long = String(repeating: "k", count: limit + 1)
        let reply = try cli(server.port, "SET", long, "v")
        #expect(reply.hasPrefix("ERR key of \(limit + 1) bytes is longer than"), "\(reply)")
        expectReply(server.port, ["GET", long], "")
        expectReply(server.port, ["PING"], "PONG")
    }

    @Test func redisBenchmarkCompletesWithoutErrors() throws {
        let tmp = try TemporaryDirectory(prefix: "orbit-serve")
        defer { tmp.remove() }
        for backend in ServeBackends.both {
            let server = try startServe(backend, tmp.path)
            let r = try runTool("redis-benchmark", ["-h", "127.0.0.1", "-p", "\(server.port)", "-t", "set,get,incr,mset",
                                                    "-n", "100000", "-c", "50", "-P", "16", "-q"])
            try server.stop()
            print("serve \(backend): redis-benchmark\n\(r.out)")
            #expect(r.status == 0)
            let lines = r.out.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).filter { $0.contains("requests per second") }
            #expect(lines.count == 4, "\(r.out)")
            #expect(!r.out.contains("ERR") && !r.out.contains("Error"), "\(r.out)")
        }
    }

    @Test func badListenAddressIsRefused() throws {
        #expect(throws: OrbitError.self) {
            try ServeTool.start(arguments: ["--backend", ServeBackends.inMemory, "--listen", "localhost"])
        }
        #expect(throws: OrbitError.self) {
            try ServeTool.start(arguments: ["--backend", ServeBackends.inMemory, "--protocol", "http"])
        }
    }
}

func waitUntil(seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try !condition() {
        guard Date() < deadline else {
            Issue.record("condition not met within \(seconds) s")
            return
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
}

/// Sends `bytes` on a new loopback connection and returns everything the server sends until it closes.
func rawExchange(_ port: Int, _ bytes: [UInt8]) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw OrbitError(.io, "connect failed", at: "127.0.0.1:\(port)") }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buf[..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// An integer field of an INFO reply (-1 when absent).
func infoField(_ info: String, _ name: String) -> Int {
    // "\r\n" is one Character: split the scalars.
    for line in info.unicodeScalars.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init) where line.hasPrefix(name + ":") {
        return Int(line.dropFirst(name.count + 1)) ?? -1
    }
    return -1
}

/// Expects `redis-cli ARGS` to print `expected`, naming the command and what it printed.
func expectReply(_ port: Int, _ args: [String], _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let found = try cli(port, args)
        #expect(found == expected, "\(args.joined(separator: " "))", sourceLocation: sourceLocation)
    } catch {
        Issue.record(error, sourceLocation: sourceLocation)
    }
}

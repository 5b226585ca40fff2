import Foundation
import OrbitCore
import OrbitTestSupport
import ServerSupport
import Testing

/// The same command script sent to a real redis-server and to `serve` (through the same redis-cli),
/// reply by reply: the strings, the integers, Redis's error texts. TTL and PTTL replies are compared
/// within a tolerance (the two servers see the clock at slightly different moments); KEYS replies
/// as sets (Redis's order is its hash table's, serve's is the engine's key order).
@Suite(.serialized) struct ReplyComparisonTests {
    enum Compare { case exact, within(Int), unordered }

    static let script: [(Compare, [String])] = [
        (.exact, ["FLUSHDB"]),
        (.exact, ["PING"]), (.exact, ["PING", "hello"]), (.exact, ["ECHO", "x y"]),
        (.exact, ["SET", "k", "v"]), (.exact, ["GET", "k"]), (.exact, ["GET", "missing"]),
        (.exact, ["SET", "k", "v2", "NX"]), (.exact, ["SET", "k", "v3", "XX"]), (.exact, ["SET", "k", "v4", "GET"]),
        (.exact, ["SET", "nk", "v", "XX"]), (.exact, ["SET", "nk", "v", "NX", "GET"]), (.exact, ["GET", "nk"]),
        (.exact, ["SET", "n", "10", "EX", "100"]), (.within(2), ["TTL", "n"]), (.within(2000), ["PTTL", "n"]),
        (.exact, ["INCR", "n"]), (.within(2), ["TTL", "n"]), (.exact, ["INCRBY", "n", "5"]), (.exact, ["DECR", "n"]),
        (.exact, ["DECRBY", "n", "3"]), (.exact, ["INCRBY", "n", "-20"]),
        (.exact, ["INCR", "k"]), (.exact, ["INCRBY", "n", "abc"]), (.exact, ["INCRBY", "n", "1.5"]),
        (.exact, ["SET", "big", "9223372036854775807"]), (.exact, ["INCR", "big"]), (.exact, ["DECRBY", "n", "-9223372036854775808"]),
        (.exact, ["SET", "sp", " 1"]), (.exact, ["INCR", "sp"]), (.exact, ["SET", "lz", "01"]), (.exact, ["INCR", "lz"]),
        (.exact, ["APPEND", "k", "xyz"]), (.exact, ["APPEND", "fresh", "abc"]), (.exact, ["STRLEN", "k"]), (.exact, ["STRLEN", "missing"]),
        (.exact, ["GETDEL", "k"]), (.exact, ["GET", "k"]), (.exact, ["GETDEL", "k"]),
        (.exact, ["EXISTS", "n", "n", "missing"]), (.exact, ["DEL", "n", "missing", "n"]),
        (.exact, ["MSET", "a", "1", "b", "2", "c", "3"]), (.exact, ["MGET", "a", "b", "missing", "c"]),
        (.exact, ["MSET", "a"]), (.exact, ["MSET", "a", "1", "b"]), (.exact, ["GET"]), (.exact, ["GET", "a", "b"]), (.exact, ["SET", "a"]),
        (.exact, ["EXISTS"]), (.exact, ["TTL"]), (.exact, ["EXPIRE", "a"]),
        (.exact, ["SET", "a", "1", "EX"]), (.exact, ["SET", "a", "1", "EX", "0"]), (.exact, ["SET", "a", "1", "PX", "-5"]),
        (.exact, ["SET", "a", "1", "EX", "abc"]), (.exact, ["SET", "a", "1", "NX", "XX"]), (.exact, ["SET", "a", "1", "KEEPTTL", "EX", "10"]),
        (.exact, ["SET", "a", "1", "EX", "10", "PX", "10"]), (.exact, ["SET", "a", "1", "BOGUS"]),
        (.exact, ["EXPIRE", "a", "50"]), (.within(2), ["TTL", "a"]), (.exact, ["PERSIST", "a"]), (.exact, ["TTL", "a"]),
        (.exact, ["PERSIST", "a"]), (.exact, ["TTL", "missing"]), (.exact, ["PTTL", "missing"]), (.exact, ["PTTL", "a"]),
        (.exact, ["PEXPIRE", "b", "100000"]), (.within(2000), ["PTTL", "b"]), (.within(2), ["TTL", "b"]),
        (.exact, ["EXPIRE", "b", "abc"]), (.exact, ["EXPIRE", "b", "10", "NX"]), (.exact, ["EXPIRE", "b", "10", "XX"]),
        (.exact, ["EXPIRE", "b", "5", "GT"]), (.exact, ["EXPIRE", "b", "500", "GT"]), (.within(2), ["TTL", "b"]),
        (.exact, ["EXPIRE", "c", "10", "XX"]), (.exact, ["EXPIRE", "c", "10", "GT"]), (.exact, ["EXPIRE", "c", "10", "LT"]),
        (.within(2), ["TTL", "c"]), (.exact, ["EXPIRE", "c", "10", "NX", "XX"]), (.exact, ["EXPIRE", "c", "10", "GT", "LT"]),
        (.exact, ["EXPIRE", "c", "10", "FOO"]),
        (.exact, ["EXPIREAT", "c", "1"]), (.exact, ["GET", "c"]), (.exact, ["EXPIRE", "missing", "10"]),
        (.exact, ["SET", "d", "1"]), (.exact, ["EXPIRE", "d", "-1"]), (.exact, ["EXISTS", "d"]),
        (.exact, ["SET", "d", "1"]), (.exact, ["PEXPIREAT", "d", "4102444800000"]), (.within(2000), ["PTTL", "d"]),
        (.exact, ["SET", "t", "v", "PX", "100000"]), (.exact, ["SET", "t", "v2", "KEEPTTL"]), (.within(2000), ["PTTL", "t"]),
        (.exact, ["SET", "t", "v3"]), (.exact, ["TTL", "t"]),
        (.exact, ["SET", "u", "v", "EXAT", "4102444800"]), (.within(2), ["TTL", "u"]),
        (.exact, ["SELECT", "0"]), (.exact, ["SELECT", "x"]), (.exact, ["DBSIZE"]),
        (.unordered, ["KEYS", "*"]), (.unordered, ["KEYS", "[ab]"]), (.unordered, ["KEYS", "?"]), (.exact, ["KEYS", "nomatch*"]),
        (.exact, ["FOOBAR", "x", "y"]), (.exact, ["FOOBAR"]),
        (.exact, ["CLIENT", "SETNAME", "me"]), (.exact, ["CLIENT", "GETNAME"]), (.exact, ["CLIENT", "SETNAME", "a b"]),
        (.exact, ["FLUSHDB"]), (.exact, ["DBSIZE"]), (.exact, ["GET", "a"]),
    ]

    @Test func repliesMatchARealRedisServer() throws {
        let tmp = try TemporaryDirectory(prefix: "orbit-resp-compare")
        defer { tmp.remove() }
        let redis = try ManagedServer.start(name: "redis-server (reply comparison)", logFile: tmp.appending("redis.log"), spec: { port in
            ServerProcess.Spec(name: "redis-server", executable: "/usr/bin/redis-server",
                               arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp.path],
                               workingDirectory: tmp.path, logFile: tmp.appending("redis.log"), stopSignal: SIGTERM)
        }, answers: { port in (try? cli(port, "PING")) == "PONG" })
        defer { try? redis.stop() }
        let serve = try startServe(ServeBackends.inMemory, tmp.path)
        defer { try? serve.stop() }

        var mismatches: [String] = []
        for (n, (how, command)) in Self.script.enumerated() {
            let expected = try cli(redis.port, command)
            let found = try cli(serve.port, command)
            let same: Bool
            switch how {
            case .exact: same = expected == found
            case .within(let tolerance):
                if let e = Int(expected), let f = Int(found) { same = abs(e - f) <= tolerance } else { same = false }
            case .unordered: same = expected.split(separator: "\n").sorted() == found.split(separator: "\n").sorted()
            }
            if !same { mismatches.append("line \(n + 1) \(command.joined(separator: " ")): redis '\(expected)', serve '\(found)'") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) replies differ:\n\(mismatches.joined(separator: "\n"))")
    }
}

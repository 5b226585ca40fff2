import Testing
@testable import RESPServer

/// The RESP2 request parser and reply encoder, byte by byte.
struct RESPParserTests {
    let parser = RESPRequestParser()

    func args(_ c: RESPCommand) -> [String] { (0..<c.count).map { c.text($0) } }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func multibulkRequest() {
        var c = RESPCommand()
        let input = bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n")
        #expect(parser.parse(input, into: &c) == .command(consumed: input.count))
        #expect(args(c) == ["SET", "k", "hello"])
    }

    @Test func binarySafeBulkStrings() {
        var c = RESPCommand()
        let input: [UInt8] = bytes("*2\r\n$3\r\nGET\r\n$4\r\n") + [0x00, 0x0d, 0x0a, 0xff] + bytes("\r\n")
        #expect(parser.parse(input, into: &c) == .command(consumed: input.count))
        #expect(Array(c[1]) == [0x00, 0x0d, 0x0a, 0xff])
    }

    @Test func everyPrefixOfAFrameIsIncomplete() {
        var c = RESPCommand()
        let input = bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
        for n in 0..<input.count {
            #expect(parser.parse(Array(input[..<n]), into: &c) == .incomplete, "prefix of \(n) bytes")
        }
        #expect(parser.parse(input, into: &c) == .command(consumed: input.count))
        #expect(args(c) == ["SET", "k", ""])
    }

    @Test func pipelinedRequestsParseOneAtATime() {
        var c = RESPCommand()
        let input = bytes("*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nPI")
        var offset = 0
        var seen: [[String]] = []
        while true {
            let outcome = parser.parse(Array(input[offset...]), into: &c)
            guard case .command(let consumed) = outcome else {
                #expect(outcome == .incomplete)
                break
            }
            seen.append(args(c))
            offset += consumed
        }
        #expect(seen == [["PING"], ["PING"], ["ECHO", "hi"]])
        #expect(Array(input[offset...]) == bytes("*1\r\n$4\r\nPI"))
    }

    @Test func inlineCommands() {
        var c = RESPCommand()
        #expect(parser.parse(bytes("set  k   v\r\n"), into: &c) == .command(consumed: 12))
        #expect(args(c) == ["set", "k", "v"])
        #expect(parser.parse(bytes("PING\n"), into: &c) == .command(consumed: 5))
        #expect(args(c) == ["PING"])
        #expect(parser.parse(bytes("SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"), into: &c) == .command(consumed: 27))
        #expect(args(c) == ["SET", "a b", "c'd", "A\n"])
        #expect(parser.parse(bytes("GET k"), into: &c) == .incomplete)
        // An empty line is a request of no arguments (skipped by the server).
        #expect(parser.parse(bytes("\r\n"), into: &c) == .command(consumed: 2))
        #expect(c.count == 0)
    }

    @Test func emptyAndNullMultibulkAreSkipped() {
        var c = RESPCommand()
        #expect(parser.parse(bytes("*0\r\n"), into: &c) == .command(consumed: 4))
        #expect(c.count == 0)
        #expect(parser.parse(bytes("*-1\r\n"), into: &c) == .command(consumed: 5))
        #expect(c.count == 0)
    }

    @Test func malformedInputIsAProtocolError() {
        var c = RESPCommand()
        #expect(parser.parse(bytes("*x\r\n"), into: &c) == .error("Protocol error: invalid multibulk length"))
        #expect(parser.parse(bytes("*1\r\n+PING\r\n"), into: &c) == .error("Protocol error: expected '$', got '+'"))
        #expect(parser.parse(bytes("*1\r\n$-5\r\n"), into: &c) == .error("Protocol error: invalid bulk length"))
        #expect(parser.parse(bytes("*1\r\n$z\r\n"), into: &c) == .error("Protocol error: invalid bulk length"))
        #expect(parser.parse(bytes("*1\r\n$2\r\nabcd\r\n"), into: &c) == .error("Protocol error: expected '\\r\\n' after a bulk string of 2 bytes"))
        #expect(parser.parse(bytes("SET \"abc\n"), into: &c) == .error("Protocol error: unbalanced quotes in request"))
        #expect(parser.parse(bytes("SET \"a\"b\n"), into: &c) == .error("Protocol error: unbalanced quotes in request"))
    }

    @Test func oversizeInputIsAProtocolError() {
        var c = RESPCommand()
        let small = RESPRequestParser(maxArguments: 4, maxBulkLength: 16, maxInlineLength: 32)
        #expect(small.parse(bytes("*5\r\n"), into: &c) == .error("Protocol error: invalid multibulk length"))
        #expect(small.parse(bytes("*1\r\n$17\r\n"), into: &c) == .error("Protocol error: invalid bulk length"))
        #expect(small.parse(bytes("*1\r\n$16\r\n"), into: &c) == .incomplete)
        #expect(small.parse(bytes(String(repeating: "a", count: 40)), into: &c) == .error("Protocol error: too big inline request"))
        #expect(small.parse(bytes("*" + String(repeating: "1", count: 40)), into: &c) == .error("Protocol error: too big mbulk count string"))
    }

    @Test func commandBuffersAreReused() {
        var c = RESPCommand()
        _ = parser.parse(bytes("*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n"), into: &c)
        let capacity = c.bytes.capacity
        _ = parser.parse(bytes("*2\r\n$3\r\nGET\r\n$3\r\nxyz\r\n"), into: &c)
        #expect(c.bytes.capacity == capacity)
        #expect(args(c) == ["GET", "xyz"])
    }

    @Test func encoderBytes() {
        var w = RESPWriter()
        w.ok()
        w.simple("PONG")
        w.error("ERR syntax error")
        w.integer(0)
        w.integer(-42)
        w.integer(Int64.min)
        w.bulk(bytes("hi"))
        w.bulk(bytes(""))
        w.nullBulk()
        w.arrayHeader(2)
        w.nullArray()
        w.error("ERR a\r\nb")
        let expected = "+OK\r\n+PONG\r\n-ERR syntax error\r\n:0\r\n:-42\r\n:-9223372036854775808\r\n$2\r\nhi\r\n$0\r\n\r\n$-1\r\n*2\r\n*-1\r\n-ERR a  b\r\n"
        #expect(String(decoding: w.bytes, as: UTF8.self) == expected)
    }

    @Test func integersParseAsRedisDoes() {
        func p(_ s: String) -> Int64? { Array(s.utf8).withUnsafeBytes { RESPBytes.parseInt64($0) } }
        #expect(p("0") == 0)
        #expect(p("-1") == -1)
        #expect(p("9223372036854775807") == Int64.max)
        #expect(p("-9223372036854775808") == Int64.min)
        for bad in ["", "-", "+1", "01", "-0", " 1", "1 ", "9223372036854775808", "1.5", "abc"] {
            #expect(p(bad) == nil, "\(bad)")
        }
    }

    @Test func globMatchesAsRedisDoes() {
        func m(_ p: String, _ s: String) -> Bool {
            Array(p.utf8).withUnsafeBytes { pp in Array(s.utf8).withUnsafeBytes { Glob.matches(pp, $0) } }
        }
        #expect(m("*", ""))
        #expect(m("user:*", "user:1"))
        #expect(!m("user:*", "use"))
        #expect(m("h?llo", "hallo"))
        #expect(m("h[ae]llo", "hello"))
        #expect(!m("h[^e]llo", "hello"))
        #expect(m("h[a-b]llo", "hbllo"))
        #expect(m("a\\*b", "a*b"))
        #expect(!m("a\\*b", "axb"))
        #expect(m("*x*y*", "axbyc"))
    }
}

#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore
public import ServerSupport

/// A blocking HTTP/1.1 client over one keep-alive TCP connection, used by one client thread
/// (`ThreadConnections`). Its buffers are kept for the connection's life: the request head is built in
/// `head`, the response read into `input`, and a response body lands in `body` (reused; valid until
/// the next request). Plain HTTP only (no TLS): see README "The s3 backend" for https endpoints.
///
/// A request on a kept connection that the server has closed meanwhile (EOF or a reset before any
/// response byte) is sent again once on a new connection; nothing else is retried here.
public final class HTTPConnection: ServerConnection {
    public let host: String
    public let port: Int
    private var fd: Int32 = -1
    private var head: [UInt8] = []
    private var input: [UInt8] = []
    private var inputStart = 0
    private var inputEnd = 0
    /// The last response's body.
    public private(set) var body: [UInt8] = []
    public private(set) var bodyCount = 0
    /// The last response's status code.
    public private(set) var status = 0
    var net = NetByteCounter()
    let timeoutSeconds: Int

    public init(host: String, port: Int, timeoutSeconds: Int = 60) {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
        input = [UInt8](repeating: 0, count: 64 << 10)
        head.reserveCapacity(1024)
    }

    public func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func connect() throws {
        disconnect()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw OrbitError(.io, "cannot resolve \(host)", at: "\(host):\(port)", cause: .library(String(cString: gai_strerror(rc))))
        }
        defer { freeaddrinfo(res) }
        var lastErrno: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if s >= 0 {
                if Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    var one: Int32 = 1
                    setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    fd = s
                    inputStart = 0
                    inputEnd = 0
                    net.attach(s)
                    return
                }
                lastErrno = errno
                close(s)
            } else {
                lastErrno = errno
            }
            ai = a.pointee.ai_next
        }
        throw OrbitError(.io, "cannot connect to \(host):\(port)", at: "\(host):\(port)", cause: .errno(Errno(lastErrno)))
    }

    // MARK: Building a request head

    /// Starts a request head: `METHOD target HTTP/1.1`.
    func begin(_ method: String, _ target: String) {
        head.removeAll(keepingCapacity: true)
        head.append(contentsOf: method.utf8)
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: target.utf8)
        head.append(contentsOf: " HTTP/1.1\r\n".utf8)
    }

    func header(_ name: String, _ value: String) {
        head.append(contentsOf: name.utf8)
        head.append(contentsOf: ": ".utf8)
        head.append(contentsOf: value.utf8)
        head.append(contentsOf: "\r\n".utf8)
    }

    /// Sends the head built since `begin` (plus Content-Length and the blank line) and `payload`,
    /// then reads the response. `hasResponseBody` is false for HEAD. Returns the status.
    @discardableResult
    func send(payload: UnsafeRawBufferPointer, hasResponseBody: Bool = true) throws -> Int {
        head.append(contentsOf: "Content-Length: ".utf8)
        appendDecimal(payload.count)
        head.append(contentsOf: "\r\n\r\n".utf8)
        var attempt = 0
        while true {
            attempt += 1
            let fresh = fd < 0
            if fresh { try connect() }
            do {
                try writeAll(head.withUnsafeBytes { $0 })
                if payload.count > 0 { try writeAll(payload) }
                try readResponse(hasResponseBody: hasResponseBody)
                net.account()
                return status
            } catch let e as StaleConnection {
                disconnect()
                if fresh || attempt > 1 {
                    throw OrbitError(.io, "the connection to \(host):\(port) was closed by the server", at: "\(host):\(port)",
                                     cause: e.errno == 0 ? nil : .errno(Errno(e.errno)))
                }
            } catch {
                disconnect()
                throw error
            }
        }
    }

    private func appendDecimal(_ value: Int) {
        if value == 0 { head.append(UInt8(ascii: "0")); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value, i = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 { d[i] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10; i += 1 }
            while i > 0 { i -= 1; head.append(d[i]) }
        }
    }

    /// EOF or a reset before any byte of a response: the server closed a kept connection.
    private struct StaleConnection: Error { var errno: Int32 }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EPIPE || e == ECONNRESET { throw StaleConnection(errno: e) }
                throw OrbitError(.io, "send to \(host):\(port) failed", at: "\(host):\(port)", cause: .errno(Errno(e)))
            }
            done += n
        }
    }

    /// Reads more bytes into `input` (compacting it first; growing it when full). Returns false at EOF.
    private func fill() throws -> Bool {
        if inputStart > 0 {
            let live = inputEnd - inputStart
            if live > 0 { input.withUnsafeMutableBytes { b in _ = memmove(b.baseAddress!, b.baseAddress! + inputStart, live) } }
            inputStart = 0
            inputEnd = live
        }
        if inputEnd == input.count { input.append(contentsOf: repeatElement(0, count: input.count)) }
        while true {
            let n = input.withUnsafeMutableBytes { b in recv(fd, b.baseAddress! + inputEnd, b.count - inputEnd, 0) }
            if n > 0 { inputEnd += n; return true }
            if n == 0 { return false }
            let e = errno
            if e == EINTR { continue }
            if e == ECONNRESET { throw StaleConnection(errno: e) }
            if e == EAGAIN || e == EWOULDBLOCK {
                throw OrbitError(.io, "no response from \(host):\(port) within \(timeoutSeconds) s", at: "\(host):\(port)")
            }
            throw OrbitError(.io, "recv from \(host):\(port) failed", at: "\(host):\(port)", cause: .errno(Errno(e)))
        }
    }

    /// Index just past the next CRLF at or after `from`, reading more as needed; nil at EOF.
    private func line(from: Int) throws -> Int? {
        var i = from
        while true {
            while i + 1 < inputEnd {
                if input[i] == 13 && input[i + 1] == 10 { return i + 2 }
                i += 1
            }
            let shift = inputStart
            guard try fill() else { return nil }
            i -= shift - inputStart  // fill() moves live bytes to the front
        }
    }

    private func protocolError(_ what: String) -> OrbitError {
        OrbitError(.io, "bad HTTP response from \(host):\(port): \(what)", at: "\(host):\(port)")
    }

    private func readResponse(hasResponseBody: Bool) throws {
        status = 0
        bodyCount = 0
        // Status line.
        guard let statusEnd = try line(from: inputStart) else { throw StaleConnection(errno: 0) }
        // "HTTP/1.1 200 OK"
        guard statusEnd - inputStart >= 12, input[inputStart + 8] == UInt8(ascii: " ") else { throw protocolError("status line") }
        var code = 0
        for j in 9..<12 {
            let d = input[inputStart + j]
            guard d >= 48 && d <= 57 else { throw protocolError("status code") }
            code = code * 10 + Int(d - 48)
        }
        status = code
        var contentLength = -1
        var chunked = false
        var closeAfter = false
        inputStart = statusEnd
        while true {
            guard let end = try line(from: inputStart) else { throw protocolError("end of stream in the headers") }
            let start = inputStart
            inputStart = end
            if end - start == 2 { break }
            guard let colon = input[start..<end].firstIndex(of: UInt8(ascii: ":")) else { continue }
            if nameIs(start, colon, "content-length") {
                contentLength = parseDecimal(colon + 1, end - 2)
            } else if nameIs(start, colon, "transfer-encoding") {
                chunked = valueContains(colon + 1, end - 2, "chunked")
            } else if nameIs(start, colon, "connection") {
                closeAfter = valueContains(colon + 1, end - 2, "close")
            }
        }
        if hasResponseBody && status != 204 && status != 304 {
            if chunked {
                while true {
                    guard let end = try line(from: inputStart) else { throw protocolError("end of stream in a chunk size") }
                    var size = 0
                    for j in inputStart..<(end - 2) {
                        let c = input[j]
                        let v: Int
                        switch c {
                        case 48...57: v = Int(c - 48)
                        case 97...102: v = Int(c - 87)
                        case 65...70: v = Int(c - 55)
                        default: v = -1
                        }
                        if v < 0 { break }
                        size = size * 16 + v
                    }
                    inputStart = end
                    if size == 0 {
                        // Trailers, then the blank line.
                        while true {
                            guard let e = try line(from: inputStart) else { throw protocolError("end of stream in trailers") }
                            let blank = e - inputStart == 2
                            inputStart = e
                            if blank { break }
                        }
                        break
                    }
                    try readBody(size)
                    guard let e = try line(from: inputStart) else { throw protocolError("end of stream after a chunk") }
                    inputStart = e
                }
            } else if contentLength >= 0 {
                try readBody(contentLength)
            } else {
                // Until EOF.
                while try fill() {}
                try readBody(inputEnd - inputStart)
                closeAfter = true
            }
        }
        if closeAfter { disconnect() }
    }

    /// Appends `count` body bytes to `body` (after `bodyCount`).
    private func readBody(_ count: Int) throws {
        if body.count < bodyCount + count { body.append(contentsOf: repeatElement(0, count: bodyCount + count - body.count)) }
        var need = count
        while need > 0 {
            if inputEnd == inputStart {
                inputStart = 0
                inputEnd = 0
                guard try fill() else { throw protocolError("end of stream in the body") }
            }
            let n = min(need, inputEnd - inputStart)
            body.withUnsafeMutableBytes { b in
                input.withUnsafeBytes { i in _ = memcpy(b.baseAddress! + bodyCount, i.baseAddress! + inputStart, n) }
            }
            bodyCount += n
            inputStart += n
            need -= n
        }
    }

    private func nameIs(_ start: Int, _ colon: Int, _ lower: StaticString) -> Bool {
        guard colon - start == lower.utf8CodeUnitCount else { return false }
        let p = lower.utf8Start
        for j in 0..<(colon - start) where input[start + j] | 0x20 != p[j] { return false }
        return true
    }

    private func parseDecimal(_ from: Int, _ to: Int) -> Int {
        var v = 0
        for j in from..<to where input[j] >= 48 && input[j] <= 57 { v = v * 10 + Int(input[j] - 48) }
        return v
    }

    private func valueContains(_ from: Int, _ to: Int, _ word: String) -> Bool {
        String(decoding: input[from..<to], as: UTF8.self).lowercased().contains(word)
    }

    /// The body as text (error messages, listings).
    public var bodyText: String { String(decoding: body[0..<bodyCount], as: UTF8.self) }

    /// Calls `f` with the body bytes.
    func withBody<R>(_ f: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body.withUnsafeBytes { try f(UnsafeRawBufferPointer(rebasing: $0[0..<bodyCount])) }
    }
}

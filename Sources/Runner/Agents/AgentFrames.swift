#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import Workloads
import Synchronization

/// The agent protocol's frames (docs/formats/agent-protocol.md): a 16-byte header — magic "OBAG",
/// version, type, two reserved bytes, the payload's length and its CRC-32C, both big-endian — and a
/// UTF-8 JSON payload. Blocking POSIX sockets; one connection per agent.
public enum AgentFrame {
    public static let magic: [UInt8] = Array("OBAG".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 16
    /// The largest payload either side accepts (a result carries every raw histogram).
    public static let maxPayload = 256 << 20

    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        case job = 1, accepted = 2, go = 3, ready = 4, result = 5, error = 6, alive = 7
        public var description: String {
            switch self {
            case .job: "job"
            case .accepted: "accepted"
            case .go: "go"
            case .ready: "ready"
            case .result: "result"
            case .error: "error"
            case .alive: "alive"
            }
        }
    }

    /// The header of a payload of `kind`.
    static func header(_ kind: Kind, payload: [UInt8]) -> [UInt8] {
        var h = magic
        h += [version, kind.rawValue, 0, 0]
        let n = UInt32(payload.count), crc = payload.withUnsafeBytes { CRC32C.update(0, $0) }
        for shift in stride(from: 24, through: 0, by: -8) { h.append(UInt8(truncatingIfNeeded: n >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { h.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        return h
    }

    /// Parses a header: the kind and payload length and CRC, or what is wrong with it.
    static func parseHeader(_ h: [UInt8]) throws -> (kind: Kind, length: Int, crc: UInt32) {
        guard Array(h[0..<4]) == magic else {
            throw AgentWireError("not an orbit-bench agent frame (bad magic \(h[0..<4].map { String($0, radix: 16) }.joined(separator: " ")))")
        }
        guard h[4] == version else { throw AgentWireError("protocol version \(h[4]); this orbit-bench speaks version \(version)") }
        guard let kind = Kind(rawValue: h[5]) else { throw AgentWireError("unknown frame type \(h[5])") }
        func be(_ at: Int) -> UInt32 { h[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let length = Int(be(8))
        guard length <= maxPayload else { throw AgentWireError("frame of \(length) bytes is larger than \(maxPayload)") }
        return (kind, length, be(12))
    }
}

/// A protocol violation or a failed socket call: what happened, without the peer (the caller names it).
struct AgentWireError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One TCP connection carrying frames. Writes are serialised (the agent's heartbeat thread and its
/// main thread share the socket); reads come from one thread.
final class AgentSocket: @unchecked Sendable {
    let fd: Int32
    private let writeLock = Mutex(())
    private let closed = Atomic<Bool>(false)

    init(fd: Int32) {
        self.fd = fd
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { _ = Glibc.close(fd) }
    }

    /// Sends one frame (blocking).
    func send(_ kind: AgentFrame.Kind, _ payload: [UInt8]) throws {
        let bytes = AgentFrame.header(kind, payload: payload) + payload
        try writeLock.withLock { _ in
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AgentWireError("send failed: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }

    /// Receives one frame (blocking; `timeoutSeconds` bounds the wait for each chunk, nil: no bound).
    func receive(timeoutSeconds: Double?) throws -> (kind: AgentFrame.Kind, payload: [UInt8]) {
        let header = try read(AgentFrame.headerSize, timeoutSeconds: timeoutSeconds, what: "a frame header")
        let (kind, length, crc) = try AgentFrame.parseHeader(header)
        let payload = try read(length, timeoutSeconds: timeoutSeconds, what: "a \(kind) frame's \(length)-byte payload")
        let actual = payload.withUnsafeBytes { CRC32C.update(0, $0) }
        guard actual == crc else {
            throw AgentWireError("\(kind) frame fails its CRC-32C (header \(String(crc, radix: 16)), payload \(String(actual, radix: 16)))")
        }
        return (kind, payload)
    }

    private func read(_ count: Int, timeoutSeconds: Double?, what: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var off = 0
        while off < count {
            if let t = timeoutSeconds {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, Int32(min(t * 1000, Double(Int32.max))))
                if r < 0 {
                    if errno == EINTR { continue }
                    throw AgentWireError("poll failed: \(String(cString: strerror(errno)))")
                }
                if r == 0 { throw AgentWireError("silent for \(formatDouble(t, decimals: 0)) s (agent_timeout_s) waiting for \(what)") }
            }
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + off, count - off, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AgentWireError("connection failed while reading \(what): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw AgentWireError(off == 0 && what == "a frame header" ? "connection closed (the peer exited or was killed)"
                                     : "connection closed in the middle of \(what) (the peer exited or was killed)")
            }
            off += n
        }
        return out
    }

    /// Connects to `address` within `timeoutSeconds` (every address the name resolves to, in turn).
    static func connect(_ address: AgentKnobs.Address, timeoutSeconds: Double) throws -> AgentSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw AgentWireError("cannot resolve host '\(address.host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var r = Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if r < 0 && errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let polled = poll(&p, 1, Int32(timeoutSeconds * 1000))
                if polled == 0 {
                    _ = Glibc.close(fd)
                    lastError = "no answer within \(formatDouble(timeoutSeconds, decimals: 0)) s (agent_timeout_s)"
                    continue
                }
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                if soError != 0 { errno = soError; r = -1 } else { r = 0 }
            }
            if r < 0 {
                lastError = String(cString: strerror(errno))
                _ = Glibc.close(fd)
                continue
            }
            _ = fcntl(fd, F_SETFL, flags)
            return AgentSocket(fd: fd)
        }
        throw AgentWireError("cannot connect: \(lastError)")
    }

    /// A listening socket on `address` (SO_REUSEADDR).
    static func listen(_ address: AgentKnobs.Address) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard rc == 0, let a = list else {
            throw OrbitError(.invalidArgument, "cannot resolve '\(address.host)': \(String(cString: gai_strerror(rc)))", at: "flag --listen \(address)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
        guard fd >= 0 else { throw OrbitError(.io, "socket failed: \(String(cString: strerror(errno)))", at: "flag --listen \(address)") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 else {
            let e = String(cString: strerror(errno))
            _ = Glibc.close(fd)
            throw OrbitError(.invalidArgument, "cannot listen on \(address): \(e)", at: "flag --listen \(address)",
                             hint: "an address of this machine and a free port")
        }
        guard Glibc.listen(fd, 8) == 0 else {
            let e = String(cString: strerror(errno))
            _ = Glibc.close(fd)
            throw OrbitError(.io, "listen failed: \(e)", at: "flag --listen \(address)")
        }
        return fd
    }
}

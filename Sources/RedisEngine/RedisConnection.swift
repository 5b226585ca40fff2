#if canImport(Glibc)
import Glibc
#endif
import CHiredis
import OrbitCore
public import ServerSupport

/// One hiredis connection (one per client thread: `ThreadConnections`). Commands are built from
/// pointers into the caller's buffers: an argument vector of fixed capacity is reused, nothing is
/// copied or allocated by this layer per command (hiredis allocates its reply objects).
public final class RedisConnection: ServerConnection {
    let context: UnsafeMutablePointer<redisContext>
    var net = NetByteCounter()
    private let argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let lengths: UnsafeMutablePointer<Int>
    static let maxArgs = 12
    /// SHA1s (40 hex digits each) of the engine's scripts on this server (SCRIPT LOAD at connect).
    private let shas: UnsafeMutableRawBufferPointer
    /// Scratch for scan bounds ("[key", "(key"), reused.
    var bound0: [UInt8] = []
    var bound1: [UInt8] = []
    private let digitBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 24, alignment: 1)

    /// `n` in decimal, in a buffer of the connection's (valid until the next call).
    @inline(__always)
    func decimal(_ n: Int) -> UnsafeRawBufferPointer {
        var v = n, i = 24
        repeat {
            i -= 1
            digitBuffer[i] = UInt8(48 + v % 10)
            v /= 10
        } while v > 0
        return UnsafeRawBufferPointer(rebasing: digitBuffer[i..<24])
    }

    init(host: String, port: Int, password: String?, database: Int, scripts: [String], countNetBytes: Bool, what: String) throws {
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        guard let c = redisConnectWithTimeout(host, Int32(port), tv) else {
            throw OrbitError(.engine, "cannot allocate a hiredis context", at: what)
        }
        if c.pointee.err != 0 {
            let msg = withUnsafeBytes(of: c.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            redisFree(c)
            throw OrbitError(.engine, "cannot connect to redis at \(what)", cause: .library(msg))
        }
        tv = timeval(tv_sec: 600, tv_usec: 0)
        redisSetTimeout(c, tv)
        context = c
        argv = .allocate(capacity: Self.maxArgs)
        lengths = .allocate(capacity: Self.maxArgs)
        shas = .allocate(byteCount: 40 * max(scripts.count, 1), alignment: 1)
        bound0.reserveCapacity(256)
        bound1.reserveCapacity(256)
        do {
            if let password { try simple(["AUTH", password]) }
            if database != 0 { try simple(["SELECT", String(database)]) }
            for (i, s) in scripts.enumerated() {
                let sha = Array(try command(["SCRIPT", "LOAD", s]).utf8)
                guard sha.count == 40 else { throw OrbitError(.engine, "SCRIPT LOAD returned '\(String(decoding: sha, as: UTF8.self))'", at: what) }
                for j in 0..<40 { shas[40 * i + j] = sha[j] }
            }
        } catch {
            disconnect()
            throw error
        }
        if countNetBytes { net.attach(c.pointee.fd) }
    }

    public func disconnect() {
        redisFree(context)
        argv.deallocate()
        lengths.deallocate()
        shas.deallocate()
        digitBuffer.deallocate()
    }

    /// The SHA1 of script `i`.
    @inline(__always)
    func sha(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: shas[(40 * i)..<(40 * i + 40)]) }

    // MARK: Building and sending commands without copies

    /// Sets argument `i` to `bytes`.
    @inline(__always)
    func arg(_ i: Int, _ bytes: UnsafeRawBufferPointer) {
        argv[i] = bytes.baseAddress.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } ?? Self.emptyArg
        lengths[i] = bytes.count
    }

    @inline(__always)
    func arg(_ i: Int, _ s: StaticString) {
        argv[i] = UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
        lengths[i] = s.utf8CodeUnitCount
    }

    nonisolated(unsafe) private static let emptyArg: UnsafePointer<CChar> = UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)

    /// Appends the command of the first `count` arguments to the output buffer (sent by `reply()`).
    @inline(__always)
    func append(_ count: Int) throws {
        guard redisAppendCommandArgv(context, Int32(count), argv, lengths) == REDIS_OK else { throw failure("append") }
    }

    /// Appends a command of `count - 1` arguments set with `arg` and `last` as the final one.
    @inline(__always)
    func append(_ count: Int, last: UnsafeRawBufferPointer) throws {
        arg(count - 1, last)
        try append(count)
    }

    /// Sends what is buffered (first call) and reads the next reply; the caller frees it.
    @inline(__always)
    func reply() throws -> UnsafeMutablePointer<redisReply> {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure("reply") }
        let r = raw.assumingMemoryBound(to: redisReply.self)
        if r.pointee.type == REDIS_REPLY_ERROR {
            let msg = String(decoding: UnsafeRawBufferPointer(start: r.pointee.str, count: r.pointee.len), as: UTF8.self)
            freeReplyObject(raw)
            throw OrbitError(.engine, "redis refused a command", cause: .library(msg))
        }
        return r
    }

    /// Reads the next reply and frees it.
    @inline(__always)
    func discardReply() throws { freeReplyObject(try reply()) }

    func failure(_ step: String) -> OrbitError {
        let msg = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return OrbitError(.engine, "redis connection failed (\(step))", cause: .library(msg))
    }

    // MARK: Untimed helpers (set-up, stats): strings in, a string out

    /// Runs a command of string arguments; returns its string or status reply ("" for others).
    @discardableResult
    func command(_ args: [String]) throws -> String {
        let r = try send(args)
        defer { freeReplyObject(r) }
        return Self.text(r)
    }

    /// A command whose reply is an array of strings.
    func array(_ args: [String]) throws -> [String] {
        let r = try send(args)
        defer { freeReplyObject(r) }
        guard r.pointee.type == REDIS_REPLY_ARRAY else { return [] }
        return (0..<r.pointee.elements).map { Self.text(r.pointee.element[$0]!) }
    }

    private func simple(_ args: [String]) throws { _ = try command(args) }

    private func send(_ args: [String]) throws -> UnsafeMutablePointer<redisReply> {
        var blob: [UInt8] = []
        var offsets: [Int] = []
        for a in args { offsets.append(blob.count); blob += Array(a.utf8) }
        offsets.append(blob.count)
        let lens = (0..<args.count).map { offsets[$0 + 1] - offsets[$0] }
        let ok: Int32 = blob.withUnsafeBytes { b in
            let base = b.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) } ?? Self.emptyArg
            var ptrs: [UnsafePointer<CChar>?] = (0..<args.count).map { base + offsets[$0] }
            return ptrs.withUnsafeMutableBufferPointer { p in redisAppendCommandArgv(context, Int32(args.count), p.baseAddress, lens) }
        }
        guard ok == REDIS_OK else { throw failure("append") }
        return try reply()
    }

    static func text(_ r: UnsafeMutablePointer<redisReply>) -> String {
        switch r.pointee.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            return String(decoding: UnsafeRawBufferPointer(start: r.pointee.str, count: r.pointee.len), as: UTF8.self)
        case REDIS_REPLY_INTEGER:
            return String(r.pointee.integer)
        default:
            return ""
        }
    }
}

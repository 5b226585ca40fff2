#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import NIOCore
import OrbitCore
import ServerSupport
import SwiftProtobuf
import Synchronization

/// One gRPC client of etcd (one per client thread: `ThreadConnections`): its own HTTP/2
/// connection (grpc-swift 2's `GRPCClient` over the NIO POSIX transport) and its own buffers.
///
/// The engine's calls are synchronous on the client's thread; each RPC runs as a task and the thread
/// waits on the connection's condition until it completes. The hot path's requests are encoded by
/// hand into `encoder` (`EtcdWire`) and its responses copied once into `inbox`, read in place; set-up,
/// batches and stats use the generated messages (Generated/).
public final class EtcdConnection: ServerConnection, @unchecked Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    /// Where this connection's async work runs: a thread of its own, never Swift's cooperative pool,
    /// which the blocked client threads (or a test runner's) could exhaust.
    let executor: ThreadExecutor
    private let runner: Task<Void, Never>
    private let finished = Lock(false)
    /// The state of the RPC in flight: done, and its error.
    private let call = Lock<(done: Bool, error: RPCError?, other: (any Error)?)>((false, nil, nil))
    let options: CallOptions
    let metadata: Metadata
    var encoder = WireEncoder()
    let inbox = Inbox()
    /// Scan bounds (without the prefix / with it) and a batch's key index, reused.
    var rangeStart: [UInt8] = [], rangeEnd: [UInt8] = []
    var keyScratch: [UInt8] = [], spans: [(Int, Int)] = [], order: [Int] = [], keepScratch: [Bool] = []
    let counter: WireCounter?
    private var sentSoFar: UInt64 = 0
    private var receivedSoFar: UInt64 = 0
    let what: String

    init(host: String, port: Int, credentials: EtcdCredentials?, countNetBytes: Bool, what: String) throws {
        self.what = what
        let counter = countNetBytes ? WireCounter() : nil
        self.counter = counter
        var config = HTTP2ClientTransport.Posix.Config.defaults
        // Latency is the round trip: no flush coalescing (it delays writes under low load); no idle
        // close (a connection lives as long as its thread).
        config.connection.flushCoalescing = nil
        config.connection.maxIdleTime = nil
        config.http2.maxFrameSize = 1 << 20
        // etcd (grpc-go) sends a PING with most DATA it receives (BDP estimation) and keepalive
        // PINGs; NIO's HTTP/2 counts every inbound PING against its control-frame flood limit (200
        // per 30 s) and closes the connection past it. `PingAnswerer` answers etcd's PINGs itself,
        // in front of the HTTP/2 handler, which never sees them.
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(PingAnswerer(counter: counter), position: .first)
            }
        }
        let target: any ResolvableTarget = host.split(separator: ".").count == 4 && host.allSatisfy({ $0.isNumber || $0 == "." })
            ? .ipv4(address: host, port: port) : .dns(host: host, port: port)
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext, config: config)
        let client = GRPCClient(transport: transport)
        self.client = client
        let executor = try ThreadExecutor(name: "orbit-etcd-rpc")
        self.executor = executor
        let finished = self.finished
        runner = Task(executorPreference: executor) {
            try? await client.runConnections()
            finished.withLock { $0 = true }
            finished.broadcast()
        }
        var options = CallOptions.defaults
        options.timeout = .seconds(120)
        options.maxResponseMessageBytes = 256 << 20
        options.maxRequestMessageBytes = 256 << 20
        self.options = options
        metadata = [:]
        if let credentials {
            do {
                let token = try authenticate(credentials)
                metadataWithToken = ["token": .string(token)]
            } catch {
                disconnect()
                throw error
            }
        }
    }

    /// Set once, at connect, when the server has authentication on.
    private var metadataWithToken: Metadata?
    var requestMetadata: Metadata { metadataWithToken ?? metadata }

    public func disconnect() {
        client.beginGracefulShutdown()
        let deadline = MonotonicClock.nanoseconds() &+ 10_000_000_000
        let done = finished.withLock(until: { $0 }, deadline: deadline) { _, ok in ok }
        if !done { runner.cancel() }
        executor.shutDown()
    }

    /// Adds the bytes this connection moved since the last call to the calling thread's counters
    /// (HTTP/2 frames as they crossed the socket: gRPC framing, headers and PINGs included).
    @inline(__always)
    func account() {
        guard let counter else { return }
        let s = counter.sent.load(ordering: .relaxed), r = counter.received.load(ordering: .relaxed)
        ThreadIO.addNet(sent: Int(truncatingIfNeeded: s &- sentSoFar), received: Int(truncatingIfNeeded: r &- receivedSoFar))
        sentSoFar = s
        receivedSoFar = r
    }

    // MARK: Calls

    /// Runs `body` (one RPC) as a task and waits for it on this thread.
    func wait(_ what: StaticString, _ body: @escaping @Sendable () async throws -> Void) throws {
        call.withLock { $0 = (false, nil, nil) }
        let call = self.call
        Task(executorPreference: executor) {
            var rpc: RPCError?, other: (any Error)?
            do { try await body() } catch let e as RPCError { rpc = e } catch { other = error }
            call.withLock { $0 = (true, rpc, other) }
            call.broadcast()
        }
        let (rpc, other) = call.withLock(until: { $0.done }) { s in (s.error, s.other) }
        if let rpc { throw Self.failure(what, rpc, endpoint: self.what) }
        if let other { throw OrbitError(.engine, "etcd \(what) failed at \(self.what)", cause: .library("\(other)")) }
    }

    static func failure(_ what: StaticString, _ e: RPCError, endpoint: String) -> OrbitError {
        let code: OrbitError.Code = e.code == .unavailable ? .io : .engine
        return OrbitError(code, "etcd refused \(what) at \(endpoint) (\(e.code))", cause: .library(e.message))
    }

    /// A hand-encoded request (the encoder's bytes) to `method`; the response's bytes land in `inbox`.
    @inline(__always)
    func raw(_ what: StaticString, _ method: MethodDescriptor) throws {
        let client = self.client, options = self.options, inbox = self.inbox, metadata = requestMetadata
        try encoder.bytes.withUnsafeBytes { b in
            let request = WireMessage(bytes: b)
            try wait(what) {
                try await client.unary(request: ClientRequest(message: request, metadata: metadata), descriptor: method,
                                       serializer: WireSerializer(), deserializer: InboxDeserializer(inbox: inbox),
                                       options: options) { r in _ = try r.message }
            }
        }
    }

    /// A generated request and response (set-up, batches, stats).
    func message<Request: SwiftProtobuf.Message & Sendable, Response: SwiftProtobuf.Message & Sendable>(
        _ what: StaticString, _ method: MethodDescriptor, _ request: Request, _ response: Response.Type = Response.self) throws -> Response {
        let client = self.client, options = self.options, metadata = requestMetadata
        let box = Lock<Response?>(nil)
        try wait(what) {
            let r = try await client.unary(request: ClientRequest(message: request, metadata: metadata), descriptor: method,
                                           serializer: ProtobufSerializer<Request>(), deserializer: ProtobufDeserializer<Response>(),
                                           options: options) { r in try r.message }
            box.withLock { $0 = r }
        }
        return box.withLock { $0! }
    }

    private func authenticate(_ c: EtcdCredentials) throws -> String {
        var request = Etcdserverpb_AuthenticateRequest()
        request.name = c.user
        request.password = c.password
        let r: Etcdserverpb_AuthenticateResponse = try message("Authenticate", Etcdserverpb_Auth.Method.Authenticate.descriptor, request)
        return r.token
    }
}

/// ETCDCTL_USER (`user` or `user:password`) and ETCDCTL_PASSWORD, read from the environment only.
struct EtcdCredentials: Sendable {
    var user: String
    var password: String

    static func fromEnvironment() -> EtcdCredentials? {
        guard let u = getenv("ETCDCTL_USER").map({ String(cString: $0) }), !u.isEmpty else { return nil }
        if let colon = u.firstIndex(of: ":") {
            return EtcdCredentials(user: String(u[..<colon]), password: String(u[u.index(after: colon)...]))
        }
        return EtcdCredentials(user: u, password: getenv("ETCDCTL_PASSWORD").map { String(cString: $0) } ?? "")
    }
}

/// The encoder's bytes, valid while the calling thread waits for the RPC.
struct WireMessage: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
}

struct WireSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: WireMessage) throws -> Bytes {
        var out = Bytes(repeating: 0, count: message.bytes.count)
        out.withUnsafeMutableBytes { $0.copyMemory(from: message.bytes) }
        return out
    }
}

/// Where a hand-read response's bytes go (one per connection, reused).
final class Inbox: @unchecked Sendable {
    var bytes: [UInt8] = []
    init() { bytes.reserveCapacity(4096) }
}

struct InboxDeserializer: MessageDeserializer {
    let inbox: Inbox
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Int {
        inbox.bytes.removeAll(keepingCapacity: true)
        serializedMessageBytes.withUnsafeBytes { inbox.bytes.append(contentsOf: $0) }
        return inbox.bytes.count
    }
}

/// Bytes a connection moved on its socket (written on the event loop, read by the client thread).
final class WireCounter: Sendable {
    let sent = Atomic<UInt64>(0)
    let received = Atomic<UInt64>(0)
}

/// First in the connection's pipeline (next to the socket): counts the bytes in and out, and answers
/// the server's HTTP/2 PINGs (RFC 9113 §6.7: type 6, 8 bytes, ACK flag 0x1) itself, so the HTTP/2
/// handler behind it never counts them against its control-frame limit. Every other frame goes on
/// unchanged, split wherever the reads split it.
final class PingAnswerer: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let counter: WireCounter?
    /// Bytes of the current frame still to pass through without looking (its header was seen).
    private var passing = 0
    /// A frame header (or a whole PING) not complete yet.
    private var pending: ByteBuffer?

    init(counter: WireCounter?) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        counter?.received.add(UInt64(buffer.readableBytes), ordering: .relaxed)
        let answered = feed(&buffer) { forward in context.fireChannelRead(wrapInboundOut(forward)) } answer: { ack in
            counter?.sent.add(UInt64(ack.readableBytes), ordering: .relaxed)
            context.write(wrapOutboundOut(.byteBuffer(ack)), promise: nil)
        }
        if answered { context.flush() }
    }

    /// One read: what an earlier read left incomplete, then `buffer`, split by `scan`.
    func feed(_ buffer: inout ByteBuffer, forward: (ByteBuffer) -> Void, answer: (ByteBuffer) -> Void) -> Bool {
        if var p = pending {
            p.writeBuffer(&buffer)
            buffer = p
            pending = nil
        }
        return scan(&buffer, forward: forward, answer: answer)
    }

    /// Splits `buffer` into what goes on (`forward`) and PINGs to answer (`answer` with the ACK);
    /// keeps an incomplete header or PING in `pending`. True when a PING was answered.
    func scan(_ buffer: inout ByteBuffer, forward: (ByteBuffer) -> Void, answer: (ByteBuffer) -> Void) -> Bool {
        var answered = false
        let end = buffer.writerIndex
        var i = buffer.readerIndex, runStart = i
        while i < end {
            if passing > 0 {
                let n = min(passing, end - i)
                i += n
                passing -= n
                continue
            }
            guard end - i >= 9 else { break }
            let length = Int(buffer.getInteger(at: i, as: UInt8.self)!) << 16 | Int(buffer.getInteger(at: i + 1, as: UInt16.self)!)
            let type = buffer.getInteger(at: i + 3, as: UInt8.self)!
            let flags = buffer.getInteger(at: i + 4, as: UInt8.self)!
            if type == 6, flags & 1 == 0, length == 8 {
                guard end - i >= 17 else { break }
                if i > runStart { forward(buffer.getSlice(at: runStart, length: i - runStart)!) }
                var ack = ByteBuffer()
                ack.reserveCapacity(17)
                ack.writeBytes([0, 0, 8, 6, 1, 0, 0, 0, 0])
                ack.writeBytes(buffer.getBytes(at: i + 9, length: 8)!)
                answer(ack)
                answered = true
                i += 17
                runStart = i
                continue
            }
            i += 9
            passing = length
        }
        if i > runStart { forward(buffer.getSlice(at: runStart, length: i - runStart)!) }
        if i < end { pending = buffer.getSlice(at: i, length: end - i) }
        buffer.moveReaderIndex(to: end)
        return answered
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let counter { counter.sent.add(UInt64(unwrapOutboundIn(data).readableBytes), ordering: .relaxed) }
        context.write(data, promise: promise)
    }
}

/// A task executor of one thread: runs the jobs enqueued on it in order.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Lock<(queue: [UnownedJob], stop: Bool)>(([], false))
    private var thread: OrbitThread?
    private var running: [UnownedJob] = []

    init(name: String) throws {
        thread = try OrbitThread(name: name) { [unowned self] in loop() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        jobs.withLock { $0.queue.append(j) }
        jobs.signal()
    }

    private func loop() {
        while true {
            let stop = jobs.withLock(until: { !$0.queue.isEmpty || $0.stop }) { s -> Bool in
                if s.queue.isEmpty { return true }
                swap(&s.queue, &running)
                return false
            }
            if stop { return }
            for j in running { j.runSynchronously(on: asUnownedTaskExecutor()) }
            running.removeAll(keepingCapacity: true)
        }
    }

    /// Runs what is queued, then ends the thread.
    func shutDown() {
        jobs.withLock { $0.stop = true }
        jobs.broadcast()
        thread?.join()
        thread = nil
    }
}

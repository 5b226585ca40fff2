import NIOCore
import OrbitCore

/// One client connection: bytes in → parsed requests → the keyspace → replies out.
///
/// Pipelining: every complete request in the bytes read so far is executed in order and the replies
/// are written together, flushed once per read. A partial request waits for more bytes. Malformed
/// input, or a request over the limits, gets Redis's `-ERR Protocol error: ...` and the connection is
/// closed after the reply; the server and the other connections go on.
final class RESPConnectionHandler<E: StorageEngine, C: WallClock>: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let keyspace: RESPKeyspace<E, C>
    private let parser: RESPRequestParser
    private let maxRequestBytes: Int
    private var session = RESPSession(id: 0)
    private var command = RESPCommand()
    private var out = RESPWriter()
    /// Bytes received and not yet parsed (a partial request, or the rest of a pipeline).
    private var pending: [UInt8] = []
    private var closing = false

    init(keyspace: RESPKeyspace<E, C>, parser: RESPRequestParser, maxRequestBytes: Int) {
        self.keyspace = keyspace
        self.parser = parser
        self.maxRequestBytes = maxRequestBytes
    }

    func channelActive(context: ChannelHandlerContext) {
        session = keyspace.connect()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keyspace.disconnect()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { pending.append(contentsOf: $0) }
        var offset = 0
        while offset < pending.count && !closing {
            let outcome = pending.withUnsafeBytes { raw in
                parser.parse(UnsafeRawBufferPointer(rebasing: raw[offset...]), into: &command)
            }
            switch outcome {
            case .incomplete:
                if pending.count - offset > maxRequestBytes {
                    out.error("ERR Protocol error: request over \(maxRequestBytes) bytes")
                    closing = true
                }
            case .command(let consumed):
                offset += consumed
                if !keyspace.execute(command, &out, &session) { closing = true }
                continue
            case .error(let message):
                out.error("ERR " + message)
                closing = true
            }
            break
        }
        if offset == pending.count { pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20) } else if offset > 0 {
            pending.removeFirst(offset)
        }
        if !out.isEmpty {
            var reply = context.channel.allocator.buffer(capacity: out.bytes.count)
            reply.writeBytes(out.bytes)
            out.removeAll()
            if closing {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            context.write(wrapOutboundOut(reply), promise: nil)
        } else if closing {
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

import NIOCore
import NIOPosix
public import OrbitCore

/// Settings of a RESP listener.
public struct RESPServerOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0: a free port chosen by the kernel (read it back from `RESPServer.port`).
    public var port = 6380
    /// Event-loop threads (each runs its connections' commands; the keyspace lock orders them).
    public var threads = 2
    /// Redis's proto-max-bulk-len: the largest bulk string of a request.
    public var maxBulkLength = 512 << 20
    /// The most bytes one request may take before it is complete.
    public var maxRequestBytes = 512 << 20
    /// How often the background sweep deletes expired keys (up to `sweepBudget` keys looked at each time).
    public var sweepIntervalMillis: Int64 = 100
    public var sweepBudget = 256

    public init() {}
}

/// A Redis-protocol (RESP2) listener over a keyspace, on swift-nio.
///
/// Engine calls run on the event-loop threads (as Redis runs commands on its loop): a command that
/// waits for an fsync holds its connection's loop and, through the keyspace lock, the other
/// commands. `close()` stops accepting, closes every connection and the sweep, and returns when the
/// threads are gone; the caller then closes the engine.
public final class RESPListener<E: StorageEngine, C: WallClock>: @unchecked Sendable {
    public let keyspace: RESPKeyspace<E, C>
    /// The port actually bound.
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let sweeper: RepeatedTask

    private init(keyspace: RESPKeyspace<E, C>, port: Int, group: MultiThreadedEventLoopGroup, channel: any Channel, sweeper: RepeatedTask) {
        self.keyspace = keyspace
        self.port = port
        self.group = group
        self.channel = channel
        self.sweeper = sweeper
    }

    /// Binds and starts serving. Throws (an `.io` OrbitError naming the address) when the address cannot be bound.
    public static func start(_ keyspace: RESPKeyspace<E, C>, options: RESPServerOptions) throws -> RESPListener {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.threads))
        let parser = RESPRequestParser(maxBulkLength: options.maxBulkLength)
        let maxRequest = options.maxRequestBytes
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RESPConnectionHandler(keyspace: keyspace, parser: parser, maxRequestBytes: maxRequest))
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.bind(host: options.host, port: options.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw OrbitError(.io, "cannot listen on \(options.host):\(options.port)", at: "--listen",
                             hint: "pick a free port (or 0 for any), on an address of this machine", cause: .library("\(error)"))
        }
        let port = channel.localAddress?.port ?? options.port
        keyspace.port = port
        let budget = options.sweepBudget
        let sweeper = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(options.sweepIntervalMillis),
                                                        delay: .milliseconds(options.sweepIntervalMillis)) { _ in
            _ = try? keyspace.sweep(budget: budget)
        }
        return RESPListener(keyspace: keyspace, port: port, group: group, channel: channel, sweeper: sweeper)
    }

    /// Stops serving (idempotent enough: a second call finds the group shut down and returns).
    public func close() {
        sweeper.cancel()
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

import ArgumentParser
import Foundation
import OrbitCore
import RESPServer
import Runner

/// `orbit-bench serve --protocol resp`: a Redis-protocol server over any engine (the store is
/// <data-dir>/<backend>, opened read-write with the configured durability mode).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a store over the Redis protocol (RESP2) until SIGINT or SIGTERM (the store is <data-dir>/<backend>).")

    @OptionGroup var options: ConfigOptions
    @Option(name: .customLong("protocol"), help: "The wire protocol: resp (Redis's RESP2).") var wireProtocol = "resp"
    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed on start).") var listen = "127.0.0.1:6380"

    func run() throws {
        try guarded {
            let server = try ServeTool.start(self)
            let line = "orbit-bench: serving \(server.backend) (durability \(server.durability)) over RESP2 on \(server.host):\(server.port)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let queue = DispatchQueue(label: "orbit-serve-signals")
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
            for s in sources {
                s.setEventHandler { server.requestStop() }
                s.resume()
            }
            try server.wait()
        }
    }
}

/// `serve` as a library call: tests start it in-process (on a free port) and stop it.
public enum ServeTool {
    /// Parses `serve`'s arguments (as the command line gives them) and starts serving; returns once
    /// the listener is bound (or throws: bad input, the store refused, the address taken).
    public static func start(arguments: [String]) throws -> RunningServe {
        let command: ServeCommand
        do {
            command = try ServeCommand.parse(arguments)
        } catch {
            throw OrbitError(.invalidArgument, ServeCommand.message(for: error), at: "serve")
        }
        return try start(command)
    }

    static func start(_ command: ServeCommand) throws -> RunningServe {
        guard command.wireProtocol.lowercased() == "resp" else {
            throw OrbitError(.invalidArgument, "unknown protocol '\(command.wireProtocol)'", at: "--protocol", hint: "allowed: resp")
        }
        var options = RESPServerOptions()
        (options.host, options.port) = try parseListen(command.listen)
        let c = try command.options.build(workload: nil)
        let backend = try KVCommand.backend(c)
        let settings = c.settings
        try Engines.validate(backend, settings: settings)
        let root = settings.string("data_dir")
        var dir = root.isEmpty ? "" : root + "/" + backend
        if Engines.isDurable(backend) {
            guard !root.isEmpty else {
                throw OrbitError(.invalidArgument, "serve needs a data directory for the \(backend) backend",
                                 hint: "pass --data-dir DIR (the store is DIR/\(backend))")
            }
            _ = try StoreGuard.check(backend, directory: dir, intent: .create)
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw OrbitError(.invalidArgument, "cannot create the store directory", at: dir, cause: .library("\(error)"))
            }
        } else if dir.isEmpty {
            dir = NSTemporaryDirectory()
        }
        let running = RunningServe(backend: backend, host: options.host)
        let thread = try OrbitThread(name: "orbit-serve") {
            do {
                try Engines.withEngine(backend, directory: dir, settings: settings, access: .readWrite,
                                       Body(options: options, running: running, limits: StoreGuard.limits(backend, settings: settings)))
                running.finish(nil)
            } catch {
                running.finish(error)
            }
        }
        running.thread = thread
        try running.waitUntilServing()
        return running
    }

    /// "HOST:PORT" (an IPv6 host in brackets: "[::1]:6380").
    static func parseListen(_ text: String) throws -> (String, Int) {
        let bad = OrbitError(.invalidArgument, "--listen '\(text)' is not HOST:PORT", at: "--listen",
                             hint: "e.g. 127.0.0.1:6380, [::1]:6380, or 127.0.0.1:0 for any free port")
        guard let colon = text.lastIndex(of: ":") else { throw bad }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw bad }
        return (host, port)
    }

    struct Body: EngineBody {
        let options: RESPServerOptions
        let running: RunningServe
        let limits: EngineLimits
        func run<E: StorageEngine>(_ engine: E) throws {
            let keyspace = RESPKeyspace(engine: engine, clock: SystemWallClock(), limits: limits)
            let server = try RESPListener.start(keyspace, options: options)
            running.serving(port: server.port, durability: "\(engine.durability)")
            running.waitForStopRequest()
            server.close()
        }
    }
}

/// A `serve` running on its own thread: its port, `stop()` (closes the server, then the engine, which syncs).
public final class RunningServe: @unchecked Sendable {
    public let backend: String
    public let host: String
    private struct State {
        var port: Int?
        var durability = ""
        var stopRequested = false
        var finished = false
        var error: (any Error)?
    }
    private let state = Lock(State())
    fileprivate var thread: OrbitThread?

    init(backend: String, host: String) {
        self.backend = backend
        self.host = host
    }

    public var port: Int { state.withLock { $0.port ?? 0 } }
    public var durability: String { state.withLock { $0.durability } }

    fileprivate func serving(port: Int, durability: String) {
        state.withLock { $0.port = port; $0.durability = durability }
        state.broadcast()
    }

    fileprivate func finish(_ error: (any Error)?) {
        state.withLock { $0.finished = true; if $0.error == nil { $0.error = error } }
        state.broadcast()
    }

    fileprivate func waitUntilServing() throws {
        let error = state.withLock(until: { $0.port != nil || $0.finished }) { $0.error }
        if let error {
            thread?.join()
            throw error
        }
    }

    fileprivate func waitForStopRequest() {
        state.withLock(until: { $0.stopRequested }) { _ in }
    }

    /// Asks the server to stop (from any thread, a signal handler's queue included); returns at once.
    public func requestStop() {
        state.withLock { $0.stopRequested = true }
        state.broadcast()
    }

    /// Waits until the server has stopped and the engine is closed; throws what stopped it (an
    /// engine error on close).
    public func wait() throws {
        thread?.join()
        if let error = state.withLock({ $0.error }) { throw error }
    }

    /// Stops the server, closes the engine, and returns when both are done.
    public func stop() throws {
        requestStop()
        try wait()
    }
}

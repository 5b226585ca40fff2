#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore
import Synchronization

/// What every server-backed engine holds once it is open (docs/architecture.md, "Server backends"):
/// the managed server it started (nil: an external one, reached by URL), the endpoint it talks to,
/// one connection per client thread, what summary.json records of the server, and the open/closed
/// state. The engine adds only its protocol: its statements, scripts or calls.
public final class ServerSession<Connection: ServerConnection>: @unchecked Sendable {
    public let backend: String
    public let durability: DurabilityMode
    public let access: StoreAccess
    public let server: ManagedServer?
    /// A log file the managed server wrote outside its directory (a read-only open), removed at close.
    public let temporaryLog: String?
    /// "127.0.0.1:54321", or the URL without its password.
    public let endpoint: String
    public let connections: ThreadConnections<Connection>
    /// Set once, during the engine's open (before any client thread sees the engine).
    public var description: ServerDescription
    private let closed = Atomic<Bool>(false)
    /// Stops the servers of a managed cluster (more than one process: `server` is nil then); set
    /// during the engine's open, run by `shutDown`.
    public var stopCluster: (() -> Void)?

    /// A session for an engine of `backend`. `connect` opens a connection (on the thread that will use
    /// it). The managed server, if any, is this session's from here on: `shutDown` stops it.
    public init(backend: String, durability: DurabilityMode, access: StoreAccess, server: ManagedServer?, temporaryLog: String?,
                endpoint: String, connect: @escaping () throws -> Connection) {
        self.backend = backend
        self.durability = durability
        self.access = access
        self.server = server
        self.temporaryLog = temporaryLog
        self.endpoint = endpoint
        connections = ThreadConnections(connect)
        description = ServerDescription(mode: server == nil ? "external" : "managed", endpoint: endpoint, version: "", settings: [])
    }

    /// Runs the open's remaining steps (settings read back, the schema); on an error the session is
    /// shut down (the managed server stopped) before the error goes on.
    public func finishOpening(_ body: () throws -> Void) throws {
        do { try body() } catch {
            shutDown()
            throw error
        }
    }

    /// The calling thread's connection; an error once the engine is closed.
    @inline(__always)
    public func connection() throws -> Connection {
        guard !closed.load(ordering: .relaxed) else { throw OrbitError(.closed, "the \(backend) engine is closed") }
        return try connections.current()
    }

    /// The calling thread's connection for a write; an error when the store was opened read-only.
    @inline(__always)
    public func writable() throws -> Connection {
        let c = try connection()
        guard access == .readWrite else { throw OrbitError(.readOnly, "the \(backend) store is open read-only") }
        return c
    }

    /// Closes the engine: under a mode that acknowledges before the server syncs, `sync` makes every
    /// acknowledged write durable first (its error is thrown after the shutdown); `then` runs once,
    /// after the shutdown (the engine frees what it kept). A second close is an error.
    public func close(sync: () throws -> Void, then: () -> Void = {}) throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { throw OrbitError(.closed, "the \(backend) engine is closed") }
        var failure: (any Error)?
        if access == .readWrite, !durability.syncsBeforeAck {
            closed.store(false, ordering: .relaxed)
            do { try sync() } catch { failure = error }
            closed.store(true, ordering: .relaxed)
        }
        shutDown()
        then()
        if let failure { throw failure }
    }

    /// Closes every connection and stops the managed server.
    public func shutDown() {
        connections.closeAll()
        if let server { try? server.stop() }
        stopCluster?()
        if let temporaryLog { unlink(temporaryLog) }
    }
}

/// A server-backed engine built on a `ServerSession`: the session answers summary.json's server
/// block, and a server without named snapshots declares them absent in one place.
public protocol ServerSessionEngine: StorageEngine, ServerBackedEngine {
    associatedtype Connection: ServerConnection
    var session: ServerSession<Connection> { get }
    /// Why the server has no named snapshots (the hint of the error every snapshot call throws).
    static var snapshotsAbsentBecause: String { get }
}

extension ServerSessionEngine {
    public var serverDescription: ServerDescription { session.description }

    /// The managed server's crash (`ServerProcess.crash`); false for a server reached by URL.
    public func killServer() throws -> Bool { try session.server?.process.crash() ?? false }

    private func noSnapshots() throws -> Never {
        _ = try session.connection()
        throw OrbitError(.unsupported, "the \(session.backend) backend has no named snapshots",
                         hint: Self.snapshotsAbsentBecause + "; snapshots are declared absent")
    }

    public func createSnapshot(named name: String) throws { try noSnapshots() }
    public func restoreSnapshot(named name: String) throws { try noSnapshots() }
    public func listSnapshots() throws -> [String] { try noSnapshots() }
    public func dropSnapshot(named name: String) throws { try noSnapshots() }
}

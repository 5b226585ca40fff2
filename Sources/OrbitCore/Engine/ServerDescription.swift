/// An engine that is a client of a server (postgres, redis): what summary.json records of the server
/// it talked to. The runner asks once per run, outside the timed section.
public protocol ServerBackedEngine: AnyObject {
    var serverDescription: ServerDescription { get }
    /// Crashes the server this engine talks to (SIGKILL of its whole process tree, waited for) so the
    /// crash lab can kill a server without naming its engine. False when there is no server the
    /// harness may kill (an external one, reached by URL) or it already exited; the engine's
    /// connections are dead afterwards: close it and open it again to restart the server.
    func killServer() throws -> Bool
}

extension ServerBackedEngine {
    public func killServer() throws -> Bool { false }
}

/// A server as a run saw it: where it was, who started it, its version and the settings that decide
/// its durability and speed, read back from the server itself. Never a password or token.
public struct ServerDescription: Sendable, Hashable {
    /// "managed" (the harness started it) or "external" (reached by URL).
    public var mode: String
    /// "127.0.0.1:54321", or the URL without its password.
    public var endpoint: String
    public var version: String
    /// Effective settings, as the server reports them, in a stable order.
    public var settings: [Setting]

    public struct Setting: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public init(mode: String, endpoint: String, version: String, settings: [Setting]) {
        self.mode = mode
        self.endpoint = endpoint
        self.version = version
        self.settings = settings
    }
}

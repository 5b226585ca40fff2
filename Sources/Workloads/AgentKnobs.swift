public import OrbitCore

/// The knobs of multi-host load (`run --agents`; README "Load from several machines"): which agents
/// drive the run, and how long one may stay silent before the run fails naming it.
public enum AgentKnobs {
    public static let agents = "agents"
    public static let timeout = "agent_timeout_s"

    public static let all: [Knob] = [
        Knob(agents, key: agents, env: "ORBIT_AGENTS", kind: .string, default: .string(""),
             help: "HOST:PORT[,HOST:PORT...] of `orbit-bench agent`s that generate the load, each with its share (empty: this process does); server backends with an address only"),
        Knob(timeout, key: timeout, env: "ORBIT_AGENT_TIMEOUT_S", kind: .double(1...86_400), default: .double(30),
             help: "run --agents: the longest an agent may take to accept a connection or stay silent (it sends a frame every second) before the run fails naming it"),
    ]

    /// One agent's address.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// `HOST:PORT` (`[v6]:PORT` for an IPv6 address). The error says what is wrong with which entry.
    public static func parseAddress(_ text: String) throws -> Address {
        let t = text.trimmingWhitespace()
        var host: Substring, port: Substring
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]"), t[t.index(after: close)...].hasPrefix(":") else {
                throw OrbitError(.invalidArgument, "agent address '\(text)': an IPv6 address is written [addr]:port")
            }
            host = t[t.index(after: t.startIndex)..<close]
            port = t[t.index(close, offsetBy: 2)...]
        } else {
            guard let colon = t.lastIndex(of: ":") else {
                throw OrbitError(.invalidArgument, "agent address '\(text)' has no port", hint: "HOST:PORT, e.g. 10.0.0.2:7400")
            }
            host = t[..<colon]
            port = t[t.index(after: colon)...]
            if host.contains(":") {
                throw OrbitError(.invalidArgument, "agent address '\(text)': write an IPv6 address as [addr]:port")
            }
        }
        guard !host.isEmpty else { throw OrbitError(.invalidArgument, "agent address '\(text)' has no host", hint: "HOST:PORT, e.g. 10.0.0.2:7400") }
        guard let p = Int(port), (1...65_535).contains(p) else {
            throw OrbitError(.invalidArgument, "agent address '\(text)': bad port '\(port)'", hint: "a port in 1...65535")
        }
        return Address(host: String(host), port: p)
    }

    /// A comma-separated list of agent addresses, each given once.
    public static func parseAddresses(_ text: String) throws -> [Address] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        var out: [Address] = []
        for p in parts {
            guard !p.trimmingWhitespace().isEmpty else {
                throw OrbitError(.invalidArgument, "agent list '\(text)' has an empty entry", hint: "HOST:PORT[,HOST:PORT...]")
            }
            let a = try parseAddress(p)
            guard !out.contains(a) else { throw OrbitError(.invalidArgument, "agent \(a) is listed twice in '\(text)'", hint: "each agent once") }
            out.append(a)
        }
        return out
    }
}

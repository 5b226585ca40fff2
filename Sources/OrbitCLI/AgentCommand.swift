import ArgumentParser
import OrbitCore
import Runner
import Workloads

/// `orbit-bench agent --listen HOST:PORT`: a load generator for `run --agents` on another machine
/// (README "Load from several machines"; docs/formats/agent-protocol.md).
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Generate load for `orbit-bench run --agents` on this machine: serve coordinators on HOST:PORT, one job at a time.")

    @Option(name: .long, help: ArgumentHelp("Address and port to listen on, e.g. 0.0.0.0:7400 or [::]:7400.", valueName: "host:port"))
    var listen: String

    @Option(name: .long, help: "Directory for each job's store directory (a server backend keeps only a marker there; default: /tmp). Removed after the job.")
    var dataDir: String?

    @Flag(name: .long, help: "Serve one coordinator, then exit (status 0 when its job succeeded).")
    var once = false

    func run() throws {
        try guarded {
            let address: AgentKnobs.Address
            do { address = try AgentKnobs.parseAddress(listen) } catch let e as OrbitError {
                var located = e
                located.location = "flag --listen \(listen)"
                throw located
            }
            try AgentServer(address: address, dataDirectory: dataDir, once: once).serve()
        }
    }
}

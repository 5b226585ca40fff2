public import OrbitCore
import Runner

/// What the two sweeps that crash a server backend (`server-kill`, `node-kill`) set up alike: the
/// backend checked to run a server, the crash plan sized to the workload, the settings under the
/// sweep's durability mode, the writer-thread count (`crash.server_writers`, one connection each,
/// at most one per record) and a fresh scratch store under the experiment directory.
struct ServerSweepSetup {
    let plan: CrashPlan
    let settings: Settings
    let writers: Int
    let store: String

    /// `needs` completes the refusal of a backend without a server: "a server kill needs a server backend".
    init(_ c: CrashSweepContext, needs: String, hint: String = "") throws {
        guard Engines.capabilities(c.engine)?.contains(.server) ?? false else {
            throw OrbitError(.invalidArgument, "backend \(c.engine) runs no server: \(needs)",
                             at: "backend \(c.engine)", hint: "use " + Engines.names(with: .server).joined(separator: ", ") + hint)
        }
        var plan = try CrashPlan(settings: c.settings)
        plan.recordCount = c.recordCount
        plan.valueSize = c.valueSize
        var settings = c.settings
        if settings.durability() != c.durability { settings.set("durability", .string(c.durability.description), from: .flag("durability")) }
        self.plan = plan
        self.settings = settings
        writers = max(1, min(c.settings.int("crash.server_writers"), plan.recordCount))
        store = c.workDirectory + "/store"
        try? POSIXFileSystem().removeTree(store)  // this sweep's own scratch store (under the experiment directory)
    }
}

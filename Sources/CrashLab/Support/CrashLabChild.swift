public import OrbitCore

/// The children of the new crash methods (`orbit-bench crash-lab-child --role ROLE`, hidden):
/// `hold` keeps a store open for a concurrent-open experiment (`HolderChild`), `grow` grows a
/// store under a lowered RLIMIT_NOFILE for a resource-limits run (`GrowChild`). They run as
/// separate processes on purpose: a second open must come from another process, and a resource
/// limit must not shrink the process that judges the outcome.
public enum CrashLabChild {
    public static let roles = ["hold", "grow"]

    public static func run(role: String, backend: String, directory: String, settings: Settings, seed: UInt64) throws -> Never {
        switch role {
        case "hold": try HolderChild.run(backend: backend, directory: directory, settings: settings, seed: seed)
        case "grow": try GrowChild.run(backend: backend, directory: directory, settings: settings, seed: seed)
        default:
            throw OrbitError(.invalidArgument, "unknown crash-lab-child role '\(role)'", at: "--role",
                             hint: "allowed: " + roles.joined(separator: ", "))
        }
    }
}

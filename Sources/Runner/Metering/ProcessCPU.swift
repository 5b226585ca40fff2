/// CPU time the process has used (user + system, every thread), from getrusage(RUSAGE_SELF).
public enum ProcessCPU {
    public static func seconds() -> Double {
        let u = ResourceUsage.now(device: nil, io: false)
        return u.userSeconds + u.systemSeconds
    }
}

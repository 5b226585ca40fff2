/// The crash methods of this build: `orbit-bench crash`, scripts/crash-sweep.sh and the tests find a
/// method's sweep here. Wiring a new method is one line.
public enum CrashMethods {
    public static func sweep(for method: CrashRecord.Method) -> (any CrashSweep.Type)? {
        switch method {
        case .kill: KillSweep.self
        case .serverKill: ServerKillSweep.self
        case .powerLoss: PowerLossSweep.self
        case .corruption: CorruptionSweep.self
        case .ioError: IOErrorSweep.self
        case .fileDamage: FileDamageSweep.self
        case .concurrentOpen: ConcurrentOpenSweep.self
        case .resourceLimits: ResourceLimitsSweep.self
        case .fsyncFailure: FsyncFailureSweep.self
        case .concurrentHistory: ConcurrentHistorySweep.self
        case .differential: DifferentialSweep.self
        case .nodeKill: NodeKillSweep.self
        }
    }

    /// The methods this build has.
    public static var available: [CrashRecord.Method] { CrashRecord.Method.allCases.filter { sweep(for: $0) != nil } }
}

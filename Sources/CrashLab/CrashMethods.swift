/// The crash methods of this build: `orbit-bench crash`, scripts/crash-sweep.sh and the tests find a
/// method's sweep here. Wiring a new method is one line.
public enum CrashMethods {
    public static func sweep(for method: CrashRecord.Method) -> (any CrashSweep.Type)? {
        switch method {
        case .kill: KillSweep.self
        case .powerLoss: nil  // PowerLossSweep.self (branch pl)
        case .corruption: nil  // CorruptionSweep.self (branch corrupt)
        case .ioError: nil  // IOErrorSweep.self (branch fs)
        }
    }

    /// The methods this build has.
    public static var available: [CrashRecord.Method] { CrashRecord.Method.allCases.filter { sweep(for: $0) != nil } }
}

public import OrbitCore
import Runner

/// What every crash method gets from `orbit-bench crash`: one engine, one durability mode, a seed
/// and a budget. Each method (kill, power loss, corruption, I/O errors) is a `CrashSweep`, so the
/// command, `scripts/crash-sweep.sh` and the tests drive them all the same way.
public struct CrashSweepContext: Sendable {
    /// The backend name ("lsm", "cow", "rocksdb", "lmdb").
    public var engine: String
    public var durability: DurabilityMode
    /// The run's settings: engine knobs (`lsm.*`, `cow.*`, ...) already validated.
    public var settings: Settings
    /// Every random choice of the sweep derives from it; printed in every report.
    public var seed: UInt64
    /// The budget: kill cycles, power-loss states, corruption probes or injected faults.
    public var count: Int
    /// A scratch directory the sweep owns (created if missing; stores live under it).
    public var workDirectory: String
    /// The workload's key space and value size, for the operations the sweep issues.
    public var recordCount: Int
    public var valueSize: Int

    public init(engine: String, durability: DurabilityMode, settings: Settings, seed: UInt64, count: Int,
                workDirectory: String, recordCount: Int = 2_000, valueSize: Int = 100) {
        self.engine = engine
        self.durability = durability
        self.settings = settings
        self.seed = seed
        self.count = count
        self.workDirectory = workDirectory
        self.recordCount = recordCount
        self.valueSize = valueSize
    }
}

/// One crash method. `run` reports one `CrashRecord` per cycle, state or probe as it goes (so a
/// long sweep streams into crash.csv), and throws only when the sweep itself cannot go on (a
/// broken promise is a record with verdict `.broken`, not an error).
public protocol CrashSweep {
    static var method: CrashRecord.Method { get }
    /// Whether this method applies to the engine ("power-loss" needs the file layer: lsm, cow).
    static func supports(engine: String) -> Bool
    /// Whether the method needs an engine that keeps its data after its process ends (true for
    /// every method that crashes something; concurrent-history and differential also take memory).
    static var needsDurableEngine: Bool { get }
    static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws
}

extension CrashSweep {
    public static var needsDurableEngine: Bool { true }
}

/// A method for every registered engine that keeps a store on disk (corruption, file damage,
/// concurrent opens, resource limits).
public protocol DurableStoreSweep: CrashSweep {}

extension DurableStoreSweep {
    /// Every registered engine that keeps a store on disk, in registry order (servers keep theirs
    /// behind a server process: the file-level methods do not apply to them).
    public static var engines: [String] { Engines.names(with: .durable, without: .server) }

    public static func supports(engine: String) -> Bool { engines.contains(engine) }
}

/// A method whose cycles run in child processes: the orbit-bench executable itself
/// (`KillSweep.workerExecutable`), or the one a test names.
public protocol ChildProcessSweep: CrashSweep {
    static func run(_ context: CrashSweepContext, executable: String, onRecord: (CrashRecord) throws -> Void) throws
}

extension ChildProcessSweep {
    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try run(context, executable: KillSweep.workerExecutable(), onRecord: onRecord)
    }
}

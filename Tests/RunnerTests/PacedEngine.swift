#if canImport(Glibc)
import Glibc
#endif
import MemoryEngine
import OrbitCore
import Runner
import Synchronization

/// The memory engine behind a server of known capacity: every operation is served in turn, each for
/// `costNanos` (a virtual queue: operation i ends at max(arrival, end of i−1) + cost, and the caller
/// sleeps until then). However loaded the machine, the engine sustains exactly 1/cost operations per
/// second once there is always one waiting, so a search for the highest rate has a known answer.
final class PacedEngine: StorageEngine {
    let inner = MemoryEngine(durability: .none)
    let costNanos: UInt64
    /// A warming engine: the cost starts at `rampFromNanos` and falls linearly to `costNanos` over
    /// `rampNanos` from the first operation (0: no ramp).
    let rampFromNanos: UInt64
    let rampNanos: UInt64
    private let freeAt = Mutex<(free: UInt64, first: UInt64)>((0, 0))

    init(costNanos: UInt64, rampFromNanos: UInt64 = 0, rampNanos: UInt64 = 0) {
        self.costNanos = costNanos
        self.rampFromNanos = rampFromNanos
        self.rampNanos = rampNanos
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func serve() {
        let arrival = Self.now()
        let end = freeAt.withLock { f -> UInt64 in
            if f.first == 0 { f.first = arrival }
            var cost = costNanos
            if rampNanos > 0, rampFromNanos > costNanos, arrival - f.first < rampNanos {
                cost += UInt64(Double(rampFromNanos - costNanos) * (1 - Double(arrival - f.first) / Double(rampNanos)))
            }
            f.free = max(f.free, arrival) + cost
            return f.free
        }
        var ts = timespec(tv_sec: Int(end / 1_000_000_000), tv_nsec: Int(end % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    var backendName: String { PacedDescriptor.name }
    var durability: DurabilityMode { inner.durability }
    var dataDirectory: String? { nil }
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise { MemoryEngine.durabilityPromise(for: mode) }
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws { try inner.put(key, value); serve() }
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        defer { serve() }
        return try inner.get(key, body)
    }
    func delete(_ key: UnsafeRawBufferPointer) throws { try inner.delete(key); serve() }
    func write(_ batch: WriteBatch) throws { try inner.write(batch); serve() }
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        defer { serve() }
        return try inner.scan(from: start, to: end, limit: limit, visit)
    }
    func sync() throws { try inner.sync() }
    func createSnapshot(named name: String) throws { try inner.createSnapshot(named: name) }
    func restoreSnapshot(named name: String) throws { try inner.restoreSnapshot(named: name) }
    func listSnapshots() throws -> [String] { try inner.listSnapshots() }
    func dropSnapshot(named name: String) throws { try inner.dropSnapshot(named: name) }
    func stats() throws -> StorageStats { try inner.stats() }
    func close() throws { try inner.close() }
}

struct PacedOptions: EngineOptions, Hashable {
    var costMicros = 500
    init() {}
    static var knobs: [Knob] {
        [Knob("paced.cost_us", section: "paced_config", key: "cost_us", env: "ORBIT_PACED_COST_US", kind: .int(1...1_000_000),
              default: .int(500), help: "test engine: microseconds each operation holds the server")]
    }
    init(settings: Settings) throws { costMicros = settings.int("paced.cost_us") }
    func validate(durability: DurabilityMode) throws {}
}

/// The paced engine as the registry knows it (a test engine, registered as the toy engine is).
enum PacedDescriptor: EngineDescriptor {
    typealias Engine = PacedEngine
    typealias Options = PacedOptions
    static let name = "paced"
    static let aliases: [String] = []
    static let summary = "test engine: the in-memory engine behind a server of known capacity (1/cost_us)"
    static let capabilities: EngineCapabilities = []

    static func open(directory: String, options: PacedOptions, durability: DurabilityMode, access: StoreAccess) throws -> PacedEngine {
        PacedEngine(costNanos: UInt64(options.costMicros) * 1000)
    }

    private static let once: Void = EngineRegistry.register(PacedDescriptor.self)
    static func register() {
        Engines.install()  // the built-in engines first, so registry order stays theirs
        once
    }
}

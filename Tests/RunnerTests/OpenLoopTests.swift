import Foundation
import Synchronization
import Testing
import MemoryEngine
import OrbitCore
import Runner
import Workloads

/// An engine that stalls `stallNanos` once every `every` operations: a GC pause, a compaction stall.
final class StallingEngine: StorageEngine {
    let inner = MemoryEngine(durability: .none)
    let every: Int
    let stall: UInt32
    let ops = Atomic<Int>(0)
    init(every: Int, stallMicros: UInt32) { self.every = every; stall = stallMicros }

    func tick() { if ops.add(1, ordering: .relaxed).newValue % every == 0 { usleep(stall) } }

    var backendName: String { "stalling-memory" }
    var durability: DurabilityMode { inner.durability }
    var dataDirectory: String? { nil }
    static func durabilityPromise(for mode: DurabilityMode) -> DurabilityPromise { MemoryEngine.durabilityPromise(for: mode) }
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws { tick(); try inner.put(key, value) }
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R { tick(); return try inner.get(key, body) }
    func delete(_ key: UnsafeRawBufferPointer) throws { tick(); try inner.delete(key) }
    func write(_ batch: WriteBatch) throws { try inner.write(batch) }
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Int {
        tick()
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

/// Open-loop pacing: operations on a fixed schedule, intended latency apart from service time.
struct OpenLoopTests {
    static func workload(_ sets: [String]) throws -> (Workload, Settings) {
        var c = Configuration()
        try c.applyFlags(sets: ["record_count=1000", "mix.read=1", "interval_s=0.2", "metrics_all=true"] + sets, backends: [], dataDir: nil)
        return (try Workload(settings: c.settings), c.settings)
    }

    /// A 50 ms stall every 1,000 operations at 4,000 ops/s: the ~200 operations due during each stall
    /// wait for it. Their intended latency shows the stall; their service time does not. This is the
    /// coordinated omission a closed loop (or a loop that reschedules after a late operation) hides.
    @Test func stallsShowInIntendedLatencyNotInServiceTime() throws {
        let (w, s) = try Self.workload(["operation_count=2500", "target_ops_s=4000"])
        let engine = StallingEngine(every: 1000, stallMicros: 50_000)
        let r = try BenchmarkRunner(workload: w, settings: s, showStatus: false).run(engine: engine, backend: "stalling")
        let reads = try #require(r.operations.first { $0.phase == "run" && $0.operation == .get })
        #expect(reads.count == 2500)
        let intendedP99 = reads.intended.valueAtPercentile(99), serviceP99 = reads.histogram.valueAtPercentile(99)
        print("open loop: p99 intended \(intendedP99) ns, p99 service \(serviceP99) ns, ratio \(Double(intendedP99) / Double(serviceP99))")
        #expect(intendedP99 >= 10 * serviceP99)
        #expect(reads.intendedHistogram != nil)
        // The stalls are in the service-time maximum, but not in its p99: few operations were slow.
        #expect(reads.histogram.max >= 50_000_000)
        // metrics.csv rows carry the intended latency, never below the service time.
        let runRows = r.samples.filter { $0.metrics.operationType == .get }
        #expect(runRows.count == 2500)
        #expect(runRows.allSatisfy { $0.intendedLatencyNanos >= $0.metrics.latencyNanos })
        #expect(runRows.contains { $0.intendedLatencyNanos >= 10_000_000 && $0.metrics.latencyNanos < 1_000_000 })
        // The run lasts at least the schedule: 2500 operations at 4000/s.
        #expect(r.runSeconds >= 0.6)
        #expect(r.target?.target == 4000)
    }

    /// A target far above what the engine can do: the run says it was not reached.
    @Test func anUnreachableTargetIsReported() throws {
        let (w, s) = try Self.workload(["operation_count=300", "target_ops_s=1000000"])
        let engine = StallingEngine(every: 100, stallMicros: 20_000)
        let r = try BenchmarkRunner(workload: w, settings: s, showStatus: false).run(engine: engine, backend: "stalling")
        let t = try #require(r.target)
        #expect(!t.reached)
        #expect(t.achieved < 1_000_000)
    }

    /// Without a target the loop is closed: intended latency is the service time.
    @Test func closedLoopIntendedEqualsService() throws {
        let (w, s) = try Self.workload(["operation_count=500"])
        let r = try BenchmarkRunner(workload: w, settings: s, showStatus: false).run(backend: "memory", directory: "")
        #expect(r.target == nil)
        #expect(r.samples.allSatisfy { $0.intendedLatencyNanos == $0.metrics.latencyNanos })
        #expect(r.operations.allSatisfy { $0.intendedHistogram == nil })
    }
}

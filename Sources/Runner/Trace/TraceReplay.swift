public import OrbitCore
import Synchronization
import Workloads

/// `orbit-bench replay FILE --backend B [--speed X]`: drives an engine with a recorded trace, so one
/// trace drives every engine identically. Each traced client thread is replayed by a thread of its
/// own, in its recorded order: first its load-phase records as fast as the engine takes them (they
/// build the store), then, once every thread has loaded, its run-phase records open-loop at their
/// recorded start times divided by `speed` (a late operation starts at once and does not move later
/// ones; its intended latency counts from its due time).
public struct TraceReplay: Sendable {
    public let trace: Trace
    public let speed: Double
    public let settings: Settings

    public init(trace: Trace, speed: Double, settings: Settings) throws {
        guard speed > 0, speed.isFinite else {
            throw OrbitError(.invalidArgument, "--speed must be a positive number, got \(speed)", at: "flag --speed",
                             hint: "1 replays at the recorded pace, 2 twice as fast, 0.5 at half speed")
        }
        self.trace = trace
        self.speed = speed
        self.settings = settings
    }

    /// Opens `backend` with its store in `directory`, replays the trace, closes it.
    public func run(backend: String, directory: String) throws -> BackendRun {
        let cpu = ProcessCPU.seconds()
        let start = MeterClock.shared.nanoseconds()
        var r = try Engines.withEngine(backend, directory: directory, settings: settings, Body(replay: self, backend: backend))
        r.cpuSeconds = ProcessCPU.seconds() - cpu
        r.wallSeconds = Double(MeterClock.shared.nanoseconds() - start) / 1e9
        return r
    }

    struct Body: EngineBody {
        let replay: TraceReplay
        let backend: String
        func run<E: StorageEngine>(_ engine: E) throws -> BackendRun { try replay.drive(engine, backend: backend) }
    }

    /// The trace's run-phase rate: its run records over the latest run-record start time, ×`speed`.
    public var targetOpsPerSecond: Double {
        let run = trace.threads.reduce(0) { $0 + $1.records.filter { $0.op != .load }.count }
        let span = trace.threads.compactMap { $0.records.last { $0.op != .load }?.timeNanos }.max() ?? 0
        return span > 0 ? Double(run) / (Double(span) / 1e9) * speed : 0
    }

    func drive<E: StorageEngine>(_ engine: E, backend: String) throws -> BackendRun {
        let threads = trace.threads.count
        let maxValue = trace.threads.flatMap { $0.records.filter { $0.op != .rangeQuery }.map { Int($0.valueSize) } }.max() ?? 1
        let values = ValuePool(maxLength: max(maxValue, 1), seed: trace.seed)
        let meter = MeterClock.shared
        let collector = IntervalCollector()
        let trace = self.trace
        let speed = self.speed
        let runOps = Array(Set(trace.threads.flatMap { $0.records.map(\.op) }).subtracting([.load])).sorted { $0.rawValue < $1.rawValue }

        // Load records, closed loop.
        let loadRecorders = (0..<threads).map { ThreadRecorder(thread: $0, ops: [.load], sampleRate: 0, seed: trace.seed) }
        collector.beginPhase(threads: threads)
        let loadStart = Atomic<UInt64>(0)
        let loadEnd = runThreads(threads, name: "orbit-replay-load", gate: StartGate(parties: threads),
                                 onOpen: { loadStart.store(meter.nanoseconds(), ordering: .relaxed) }) { t in
            let rec = loadRecorders[t]
            let thread = trace.threads[t]
            thread.keys.withUnsafeBytes { keys in
                for (i, r) in thread.records.enumerated() where r.op == .load {
                    let key = UnsafeRawBufferPointer(rebasing: keys[Int(r.keyOffset)..<Int(r.keyOffset + r.keyLength)])
                    let t0 = meter.startNanoseconds()
                    var ok = true
                    do { try engine.put(key, values.value(length: Int(r.valueSize), salt: UInt64(i))) } catch {
                        ok = false
                        rec.noteError(error)
                    }
                    rec.record(.load, latency: meter.nanoseconds() - t0, success: ok, found: true, bytes: key.count + Int(r.valueSize))
                }
            }
            rec.publishInterval(0, to: collector)
        }
        collector.endPhase()

        // Run records, open loop at the recorded times.
        let runRecorders = (0..<threads).map { ThreadRecorder(thread: $0, ops: runOps, sampleRate: 0, seed: trace.seed, openLoop: true) }
        collector.beginPhase(threads: threads)
        let runStart = Atomic<UInt64>(0)
        let behind = Lock([UInt64](repeating: 0, count: threads))
        let runEnd = runThreads(threads, name: "orbit-replay-run", gate: StartGate(parties: threads),
                                onOpen: { runStart.store(meter.nanoseconds(), ordering: .relaxed) }) { t in
            let rec = runRecorders[t]
            let thread = trace.threads[t]
            let begun = runStart.load(ordering: .relaxed)
            var scratch: [UInt8] = []
            scratch.reserveCapacity(maxValue)
            var late: UInt64 = 0
            thread.keys.withUnsafeBytes { keys in
                for (i, r) in thread.records.enumerated() where r.op != .load {
                    let key = UnsafeRawBufferPointer(rebasing: keys[Int(r.keyOffset)..<Int(r.keyOffset + r.keyLength)])
                    let due = begun + UInt64(Double(r.timeNanos) / speed)
                    Self.sleep(until: due, meter)
                    let t0 = meter.startNanoseconds()
                    var ok = true
                    var moved = 0
                    do { moved = try Self.execute(r, key, engine, values, salt: UInt64(i), &scratch) } catch {
                        ok = false
                        rec.noteError(error)
                    }
                    let t1 = meter.nanoseconds()
                    late = t0 > due ? t0 - due : 0
                    rec.record(r.op, latency: t1 - t0, intended: t1 - min(due, t0), success: ok, found: moved >= 0,
                               bytes: key.count + max(moved, 0))
                }
            }
            rec.publishInterval(0, to: collector)
            behind.withLock { $0[t] = late }
        }
        collector.endPhase()

        let loadSeconds = Double(loadEnd - loadStart.load(ordering: .relaxed)) / 1e9
        let runSeconds = Double(runEnd - runStart.load(ordering: .relaxed)) / 1e9
        var operations = BenchmarkRunner.summarize(loadRecorders, phase: "load", seconds: loadSeconds)
        operations += BenchmarkRunner.summarize(runRecorders, phase: "run", seconds: runSeconds)
        var errors: [String] = []
        for rec in loadRecorders + runRecorders {
            if let e = rec.firstError { errors.append("thread \(rec.thread): \(e)") }
        }
        try engine.sync()
        let finalStats = try engine.stats()
        let count = operations.filter { $0.phase == "run" }.reduce(0) { $0 + $1.count }
        var target = TargetOutcome(target: targetOpsPerSecond, achieved: runSeconds > 0 ? Double(count) / runSeconds : 0,
                                   behindNanos: behind.withLock { $0.max() ?? 0 }, threads: threads)
        target.backlogs = []
        return BackendRun(
            backend: backend, durability: engine.durability, promise: E.durabilityPromise(for: engine.durability),
            dataDirectory: engine.dataDirectory, openSeconds: 0, loadSeconds: loadSeconds, warmupSeconds: 0,
            runSeconds: runSeconds, operations: operations, statsRows: [], timeseries: [], samples: [],
            opStreamDigest: trace.seed, opStreamReproducible: true, finalStats: finalStats, errors: errors,
            target: runOps.isEmpty ? nil : target)
    }

    /// One traced operation; returns the value bytes it moved, -1 when a read found nothing.
    @inline(__always)
    static func execute<E: StorageEngine>(_ r: TraceRecord, _ key: UnsafeRawBufferPointer, _ engine: E, _ values: ValuePool,
                                          salt: UInt64, _ scratch: inout [UInt8]) throws -> Int {
        switch r.op {
        case .get:
            return try engine.get(key) { $0?.count ?? -1 }
        case .insert, .update:
            try engine.put(key, values.value(length: Int(r.valueSize), salt: salt))
            return Int(r.valueSize)
        case .delete:
            try engine.delete(key)
            return 0
        case .rangeQuery:
            var bytes = 0
            let n = try engine.scan(from: key, to: nil, limit: Int(r.valueSize)) { k, v in
                bytes += k.count + v.count
                return true
            }
            return n > 0 ? bytes : -1
        case .readModifyWrite:
            let found = try engine.get(key, into: &scratch)
            try engine.put(key, values.value(length: Int(r.valueSize), salt: salt))
            return found ? scratch.count + Int(r.valueSize) : -1
        default:
            throw OrbitError(.unsupported, "operation \(r.op) cannot be replayed")
        }
    }

    /// Sleeps until the meter clock reads `deadline` (as the open-loop client does).
    static func sleep(until deadline: UInt64, _ meter: MeterClock) {
        let now = meter.nanoseconds()
        guard now < deadline else { return }
        let target = MonotonicClock.nanoseconds() &+ (deadline &- now)
        var ts = timespec(tv_sec: Int(target / 1_000_000_000), tv_nsec: Int(target % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

#if canImport(Glibc)
import Glibc
#endif

import Synchronization
import Leases
import OrbitCore
import Workloads

/// Per-thread state of a phase, built on the coordinating thread before the phase's clock starts
/// (zipfian zeta, buffers), so set-up never counts as measured time.
struct ThreadState: @unchecked Sendable {  // moved into exactly one client thread
    var stream: OpStream
    var scratch: [UInt8]
}

/// The client-thread loops. Generic over the engine, so every engine call is a direct, specialized call.
///
/// Loop shape, per operation: draw the op and format its key (untimed) → clock → engine call → clock →
/// publish the interval if the op ended past its boundary → record the latency (one histogram record).
struct Executor<E: StorageEngine>: Sendable {
    let engine: E
    let workload: Workload
    let values: ValuePool
    let leases: LeaseDriver<E>?
    let heap: HeapGauge
    /// Record numbers must stay below 10^key_size (the key is the zero-padded decimal number).
    let keyLimit: UInt64
    /// The clock every timestamp of a run comes from (held by value: no lazy-global check per read).
    let meter = MeterClock.shared
    /// A server backend counts wire bytes per call (ThreadIO's net counters): read around every op.
    let countsNet: Bool
    /// `record_trace`: every load- and run-phase operation is appended to its thread's buffer.
    var trace: TraceSink?

    init(engine: E, workload: Workload, values: ValuePool, heap: HeapGauge) {
        self.engine = engine
        self.workload = workload
        self.values = values
        self.heap = heap
        leases = workload.usesLeases ? LeaseDriver(engine: engine, workload: workload) : nil
        countsNet = (engine as AnyObject) is any ServerBackedEngine
        var limit: UInt64 = 1
        for _ in 0..<min(workload.keySize, 19) { limit *= 10 }
        if case .ycsb = workload.keyStyle { keyLimit = .max } else { keyLimit = workload.keySize >= 20 ? .max : limit }
    }

    /// data_integrity: the salt of record r's value is a function of r, so a read can check the bytes.
    @inline(__always)
    func integritySalt(_ record: UInt64) -> UInt64 { fnv1a64(record ^ workload.seed) }

    func makeState(thread: Int, warmUp: Bool = false) -> ThreadState {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(workload.valueSize.upperBound)
        return ThreadState(stream: OpStream(workload: workload, thread: warmUp ? thread + 1_000_000 : thread), scratch: scratch)
    }

    /// A run phase's thread state in a multi-phase run: its own random stream, its inserts numbered
    /// from `recordBase` in slot `slot` of `slots` (every thread of the phases running together).
    func makeState(thread: Int, stream: Int, recordBase: UInt64, slot: Int, slots: Int) -> ThreadState {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(workload.valueSize.upperBound)
        return ThreadState(stream: OpStream(workload: workload, thread: thread, stream: stream, recordBase: recordBase,
                                            slot: slot, slots: slots), scratch: scratch)
    }

    /// Inserts this thread's share of the records: positions t, t+T, t+2T, ... of the load order.
    func load(thread t: Int, recorder rec: ThreadRecorder, progress: ProgressCounter, clock: PhaseClock) {
        let w = workload
        let n = UInt64(w.insertCount)
        let base = UInt64(w.insertStart)
        let perm = Permutation(count: max(n, 1), seed: w.seed)
        let keys = KeyFormatter(style: w.keyStyle)
        var rng = SeededRNG(seed: w.seed ^ 0x10AD, stream: t)
        var boundary = clock.nextBoundary(after: meter.nanoseconds())
        var position = UInt64(t)
        var done = 0
        while position < n {
            let record = base + (w.loadSequential ? position : perm.apply(position))
            let length = w.valueSize.lowerBound == w.valueSize.upperBound
                ? w.valueSize.lowerBound : w.valueSize.lowerBound + Int(rng.below(UInt64(w.valueSize.count)))
            let key = keys.format(record)
            let salt = rng.next()
            let value = values.value(length: length, salt: w.dataIntegrity ? integritySalt(record) : salt)
            let sample = rec.shouldSample()
            let io0 = sample || countsNet ? ThreadIO.current() : ThreadIO.Counters()
            let (t0, t1, ok, _) = timed(rec, clock: clock, boundary: &boundary, failed: ()) {
                if let leases { try leases.store(record: record, thread: t) } else { try engine.put(key, value) }
            }
            rec.record(.load, latency: t1 - t0, success: ok, found: true, bytes: key.count + length)
            if let trace { trace.buffers[t].append(time: t0 &- clock.phaseStart, op: .load, key: key, valueSize: length) }
            if countsNet { accountNet(rec, .load, io0) }
            if sample { takeSample(rec, .load, t0: t0, t1: t1, clock: clock, io0: io0, ok: ok) }
            done += 1
            progress.value.store(done, ordering: .relaxed)
            position += UInt64(w.threads)
        }
        rec.publishInterval(clock.interval(containing: meter.nanoseconds()), to: clock.collector)
    }

    /// Unmeasured operations from a separate stream (inserts become updates, so the measured stream's
    /// record numbering is untouched). Returns (operations, failures, first failure).
    /// Runs until both `ops` operations and `deadline` have passed, or `stop` is raised (`warmup: auto`).
    func warmUp(thread t: Int, state: inout ThreadState, progress: ProgressCounter, ops: Int, until deadline: UInt64,
                stop: StopFlag) -> (ops: Int, failures: Int, firstError: (any Error)?) {
        let keys = KeyFormatter(style: workload.keyStyle)
        let existing = UInt64(max(workload.recordCount, 1))
        var done = 0, failures = 0
        var first: (any Error)?
        while (done < ops || meter.nanoseconds() < deadline) && !stop.raised {
            var op = state.stream.next()
            if op.type == .insert { op.type = .update; op.record %= existing }
            if op.type == .leaseStore { op.type = .leaseRenew; op.record %= existing }
            do {
                _ = try execute(op, keys.format(op.record), &state.scratch, thread: t)
            } catch {
                failures += 1
                if first == nil { first = error }
            }
            done += 1
            progress.value.store(done, ordering: .relaxed)
        }
        return (done, failures, first)
    }

    /// The measured run phase. Returns this thread's op-stream digest and, in an open loop, how far
    /// behind its schedule the thread finished (ns; 0 when it kept up).
    ///
    /// Open loop (`target_ops_s` > 0): thread t's k-th operation is due at phase start + (t/T + k)·period,
    /// period = threads / target. The thread sleeps until an operation is due; a late operation starts at
    /// once and does not move later ones (no coordinated omission). Its intended latency is completion -
    /// due time; its service time is completion - actual start. With `duration_s`, the schedule ends
    /// there: operations due later are not issued.
    ///
    /// `stop` (a background phase): the loop ends once it is raised, checked before every operation
    /// and while waiting for a due time.
    func run(thread t: Int, state: inout ThreadState, recorder rec: ThreadRecorder, progress: ProgressCounter,
             clock: PhaseClock, stop: StopFlag? = nil) -> (digest: UInt64, behindNanos: UInt64) {
        let w = workload
        let keys = KeyFormatter(style: w.keyStyle)
        let quota = w.operationCount == 0 ? Int.max : w.operationCount / w.threads + (t < w.operationCount % w.threads ? 1 : 0)
        let deadline = w.durationSeconds > 0 ? clock.phaseStart + UInt64(w.durationSeconds * 1e9) : UInt64.max
        let openLoop = w.targetOpsPerSecond > 0
        let period = openLoop ? Double(w.threads) * 1e9 / w.targetOpsPerSecond : 0
        let firstDue = Double(clock.phaseStart) + period * Double(t) / Double(w.threads)
        var due: UInt64 = 0
        var behind: UInt64 = 0
        var boundary = clock.nextBoundary(after: meter.nanoseconds())
        var done = 0
        if openLoop && w.metering { rec.schedule = ScheduleKeeping(firstDue: firstDue, period: period, quota: quota) }
        while done < quota {
            if let stop, stop.raised { break }
            let op = state.stream.next()
            guard op.record < keyLimit else {
                rec.noteError(OrbitError(.invalidArgument, "record \(op.record) does not fit in key_size \(w.keySize) digits",
                                         hint: "raise key_size; the run stopped here"))
                break
            }
            let key = keys.format(op.record)
            if !w.metering {
                var ok = true
                do { _ = try execute(op, key, &state.scratch, thread: t) } catch { ok = false; rec.noteError(error) }
                rec.count(op.type, success: ok)
                done += 1
                progress.value.store(done, ordering: .relaxed)
                continue
            }
            if openLoop {
                due = UInt64(firstDue + period * Double(done))
                // The schedule ends at duration_s: an operation due after it is not part of the run.
                if due >= deadline { break }
                if let stop {
                    // A background phase waits in slices, so it stops soon after the phase beside it.
                    while !stop.raised, meter.nanoseconds() < due { sleep(until: min(due, meter.nanoseconds() &+ 10_000_000)) }
                    if stop.raised { break }
                } else {
                    sleep(until: due)
                }
                rec.schedule!.started = done + 1
            }
            let sample = rec.shouldSample()
            let io0 = sample || countsNet ? ThreadIO.current() : ThreadIO.Counters()
            let (t0, t1, ok, moved) = timed(rec, clock: clock, boundary: &boundary, failed: 0) {
                try execute(op, key, &state.scratch, thread: t)
            }
            // An operation cannot be intended to start after it did (the sleep may wake a little early).
            let intended = openLoop ? t1 - min(due, t0) : t1 - t0
            if openLoop {
                rec.record(op.type, latency: t1 - t0, intended: intended, success: ok, found: moved >= 0,
                           bytes: key.count + max(moved, 0))
                behind = t0 > due ? t0 - due : 0
                rec.schedule!.noteStart(lag: behind)
            } else {
                rec.record(op.type, latency: t1 - t0, success: ok, found: moved >= 0, bytes: key.count + max(moved, 0))
            }
            if let trace {
                let size = switch op.type {
                case .rangeQuery: op.count
                case .insert, .update, .readModifyWrite: op.valueLength
                default: 0
                }
                trace.buffers[t].append(time: t0 &- clock.phaseStart, op: op.type, key: key, valueSize: size)
            }
            if countsNet { accountNet(rec, op.type, io0) }
            if sample { takeSample(rec, op.type, t0: t0, t1: t1, intended: intended, clock: clock, io0: io0, ok: ok) }
            done += 1
            progress.value.store(done, ordering: .relaxed)
            if t1 >= deadline { break }
        }
        let end = meter.nanoseconds()
        rec.publishInterval(clock.interval(containing: end), to: clock.collector, at: end)
        return (state.stream.digest, behind)
    }

    /// The measured section of one operation: clock, `body`, clock (a failure is counted on `rec`
    /// inside it, as before the second reading); then the interval the operation ended in is
    /// published if it crossed `boundary`. Returns both readings, whether `body` succeeded, and its
    /// result (`failed` when it threw). Inlined: the loops stay one specialised body each.
    @inline(__always)
    func timed<R>(_ rec: ThreadRecorder, clock: PhaseClock, boundary: inout UInt64, failed: R,
                  _ body: () throws -> R) -> (t0: UInt64, t1: UInt64, ok: Bool, result: R) {
        var ok = true
        var result = failed
        let t0 = meter.startNanoseconds()
        do { result = try body() } catch {
            ok = false
            rec.noteError(error)
        }
        let t1 = meter.nanoseconds()
        if t1 >= boundary {
            rec.publishInterval(clock.interval(endingAt: boundary), to: clock.collector, at: boundary)
            boundary = clock.nextBoundary(after: t1)
        }
        return (t0, t1, ok, result)
    }

    /// Sleeps until the meter clock reads `deadline` (returns at once if it already has). The deadline
    /// is moved to CLOCK_MONOTONIC by the two clocks' current offset (they differ by calibration drift).
    @inline(__always)
    func sleep(until deadline: UInt64) {
        let now = meter.nanoseconds()
        guard now < deadline else { return }
        let target = MonotonicClock.nanoseconds() &+ (deadline &- now)
        var ts = timespec(tv_sec: Int(target / 1_000_000_000), tv_nsec: Int(target % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    /// One operation. Returns the value bytes it moved (read or written), or -1 when a read found nothing.
    @inline(__always)
    func execute(_ op: Op, _ key: UnsafeRawBufferPointer, _ scratch: inout [UInt8], thread: Int) throws -> Int {
        switch op.type {
        case .get:
            if workload.dataIntegrity {
                let expected = values.value(length: workload.valueSize.lowerBound, salt: integritySalt(op.record))
                let n = try engine.get(key) { v -> Int in
                    guard let v else { return -1 }
                    return v.count == expected.count && memcmp(v.baseAddress!, expected.baseAddress!, v.count) == 0 ? v.count : -2
                }
                if n == -2 {
                    throw OrbitError(.corruption, "data integrity: the value of record \(op.record) is not the one written",
                                     hint: "data_integrity derives every value from its record number; the store returned other bytes")
                }
                return n
            }
            return try engine.get(key) { $0?.count ?? -1 }
        case .insert, .update:
            try engine.put(key, values.value(length: op.valueLength, salt: workload.dataIntegrity ? integritySalt(op.record) : op.salt))
            return op.valueLength
        case .delete:
            try engine.delete(key)
            return 0
        case .rangeQuery:
            var bytes = 0
            let n = try engine.scan(from: key, to: nil, limit: op.count) { k, v in
                bytes += k.count + v.count
                return true
            }
            return n > 0 ? bytes : -1
        case .readModifyWrite:
            let found = try engine.get(key, into: &scratch)
            // Modify: the new value replaces the old one (YCSB writes new field values).
            try engine.put(key, values.value(length: op.valueLength, salt: workload.dataIntegrity ? integritySalt(op.record) : op.salt))
            return found ? scratch.count + op.valueLength : -1
        default:
            guard let leases else { throw OrbitError(.unsupported, "operation \(op.type) needs a lease workload") }
            return try leases.execute(op, thread: thread) ? 0 : -1
        }
    }

    @inline(__always)
    func accountNet(_ rec: ThreadRecorder, _ type: OperationType, _ io0: ThreadIO.Counters) {
        let io1 = ThreadIO.current()
        rec.addNet(type, sent: io1.netBytesSent &- io0.netBytesSent, received: io1.netBytesReceived &- io0.netBytesReceived)
    }

    func takeSample(_ rec: ThreadRecorder, _ type: OperationType, t0: UInt64, t1: UInt64, intended: UInt64? = nil,
                    clock: PhaseClock, io0: ThreadIO.Counters, ok: Bool) {
        let io1 = ThreadIO.current()
        let m = PersistenceMetrics(operationType: type, latencyNanos: t1 - t0,
                                   memoryUsedBytes: heap.bytes,
                                   diskBytesRead: io1.bytesRead &- io0.bytesRead,
                                   diskBytesWritten: io1.bytesWritten &- io0.bytesWritten, success: ok,
                                   netBytesSent: io1.netBytesSent &- io0.netBytesSent,
                                   netBytesReceived: io1.netBytesReceived &- io0.netBytesReceived)
        rec.samples.append(MetricSample(timestampNanos: t1 - clock.runStart, thread: rec.thread, metrics: m,
                                        intendedLatencyNanos: intended ?? (t1 - t0)))
    }
}

/// Raised once to end a phase early (`warmup: auto`, when throughput is steady); read once per operation.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var raised: Bool { value.load(ordering: .relaxed) }
    func raise() { value.store(true, ordering: .relaxed) }
}

/// The interval grid of one backend's run (shared by all phases) and the phase's own start.
struct PhaseClock: Sendable {
    /// When the backend's load phase started: the origin of elapsed_s and timestamp_ns.
    let runStart: UInt64
    let intervalNanos: UInt64
    let phaseStart: UInt64
    let collector: IntervalCollector

    @inline(__always)
    func nextBoundary(after t: UInt64) -> UInt64 { runStart + intervalNanos * ((t - runStart) / intervalNanos + 1) }
    func interval(endingAt boundary: UInt64) -> Int { Int((boundary - runStart) / intervalNanos) - 1 }
    func interval(containing t: UInt64) -> Int { Int((t - runStart) / intervalNanos) }
}

#if canImport(Glibc)
import Glibc
#endif

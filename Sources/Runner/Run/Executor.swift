import Leases
import OrbitCore
import Workloads

/// The client-thread loops. Generic over the engine, so every engine call is a direct, specialized call.
struct Executor<E: StorageEngine>: Sendable {
    let engine: E
    let workload: Workload
    let values: ValuePool
    let leases: LeaseDriver<E>?

    init(engine: E, workload: Workload, values: ValuePool) {
        self.engine = engine
        self.workload = workload
        self.values = values
        leases = workload.usesLeases ? LeaseDriver(engine: engine, workload: workload) : nil
    }

    /// Inserts this thread's share of the records: positions t, t+T, t+2T, ... of the load order.
    func load(thread t: Int, recorder rec: ThreadRecorder, progress: ProgressCounter, start: UInt64,
              intervalNanos: UInt64, collector: IntervalCollector) {
        let w = workload
        let n = UInt64(w.recordCount)
        let perm = Permutation(count: max(n, 1), seed: w.seed)
        let keys = KeyFormatter(keySize: w.keySize)
        var rng = SeededRNG(seed: w.seed ^ 0x10AD, stream: t)
        var nextBoundary = start + intervalNanos * ((MonotonicClock.nanoseconds() - start) / intervalNanos + 1)
        var position = UInt64(t)
        var done = 0
        while position < n {
            let record = w.loadSequential ? position : perm.apply(position)
            let length = w.valueSize.lowerBound == w.valueSize.upperBound
                ? w.valueSize.lowerBound : w.valueSize.lowerBound + Int(rng.below(UInt64(w.valueSize.count)))
            let key = keys.format(record)
            let value = values.value(length: length, salt: rng.next())
            let sample = rec.shouldSample()
            let io0 = sample ? ThreadIO.current() : ThreadIO.Counters()
            var ok = true
            let t0 = MonotonicClock.nanoseconds()
            do {
                if let leases { try leases.store(record: record, thread: t) } else { try engine.put(key, value) }
            } catch {
                ok = false
                rec.noteError(error)
            }
            let t1 = MonotonicClock.nanoseconds()
            rec.record(.load, latency: t1 - t0, success: ok, found: true, bytes: key.count + length)
            if sample { takeSample(rec, .load, t0: t0, t1: t1, start: start, io0: io0, ok: ok) }
            done += 1
            progress.value.store(done, ordering: .relaxed)
            if t1 >= nextBoundary {
                rec.publishInterval(Int((nextBoundary - start) / intervalNanos) - 1, to: collector)
                nextBoundary = start + intervalNanos * ((t1 - start) / intervalNanos + 1)
            }
            position += UInt64(w.threads)
        }
        rec.publishInterval(Int((MonotonicClock.nanoseconds() - start) / intervalNanos), to: collector)
    }

    /// Unmeasured operations from a separate stream (inserts become updates, so the measured stream's
    /// record numbering is untouched).
    func warmUp(thread t: Int, progress: ProgressCounter, until deadline: UInt64) {
        var stream = OpStream(workload: workload, thread: t + 1_000_000)
        let keys = KeyFormatter(keySize: workload.keySize)
        var scratch: [UInt8] = []
        scratch.reserveCapacity(workload.valueSize.upperBound)
        var done = 0
        while done < workload.warmupOps || MonotonicClock.nanoseconds() < deadline {
            var op = stream.next()
            if op.type == .insert { op.type = .update; op.record %= UInt64(max(workload.recordCount, 1)) }
            if op.type == .leaseStore { op.type = .leaseRenew; op.record %= UInt64(max(workload.recordCount, 1)) }
            _ = try? execute(op, keys.format(op.record), &scratch, thread: t)
            done += 1
            progress.value.store(done, ordering: .relaxed)
        }
    }

    /// The measured run phase. Returns this thread's op-stream digest.
    func run(thread t: Int, recorder rec: ThreadRecorder, progress: ProgressCounter, start: UInt64, runStart: UInt64,
             intervalNanos: UInt64, collector: IntervalCollector) -> UInt64 {
        let w = workload
        var stream = OpStream(workload: w, thread: t)
        let keys = KeyFormatter(keySize: w.keySize)
        var scratch: [UInt8] = []
        scratch.reserveCapacity(w.valueSize.upperBound)
        let quota = w.operationCount == 0 ? Int.max : w.operationCount / w.threads + (t < w.operationCount % w.threads ? 1 : 0)
        let deadline = w.durationSeconds > 0 ? runStart + UInt64(w.durationSeconds * 1e9) : UInt64.max
        var nextBoundary = start + intervalNanos * ((MonotonicClock.nanoseconds() - start) / intervalNanos + 1)
        var done = 0
        while done < quota {
            let op = stream.next()
            let key = keys.format(op.record)
            let sample = rec.shouldSample()
            let io0 = sample ? ThreadIO.current() : ThreadIO.Counters()
            var ok = true
            var found = true
            let t0 = MonotonicClock.nanoseconds()
            do {
                found = try execute(op, key, &scratch, thread: t)
            } catch {
                ok = false
                rec.noteError(error)
            }
            let t1 = MonotonicClock.nanoseconds()
            rec.record(op.type, latency: t1 - t0, success: ok, found: found, bytes: key.count + op.valueLength)
            if sample { takeSample(rec, op.type, t0: t0, t1: t1, start: start, io0: io0, ok: ok) }
            done += 1
            progress.value.store(done, ordering: .relaxed)
            if t1 >= nextBoundary {
                rec.publishInterval(Int((nextBoundary - start) / intervalNanos) - 1, to: collector)
                nextBoundary = start + intervalNanos * ((t1 - start) / intervalNanos + 1)
            }
            if t1 >= deadline { break }
        }
        rec.publishInterval(Int((MonotonicClock.nanoseconds() - start) / intervalNanos), to: collector)
        return stream.digest
    }

    /// One operation. Returns whether the record was found (reads), true otherwise.
    @inline(__always)
    func execute(_ op: Op, _ key: UnsafeRawBufferPointer, _ scratch: inout [UInt8], thread: Int) throws -> Bool {
        switch op.type {
        case .get:
            return try engine.get(key) { $0 != nil }
        case .insert, .update:
            try engine.put(key, values.value(length: op.valueLength, salt: op.salt))
            return true
        case .delete:
            try engine.delete(key)
            return true
        case .rangeQuery:
            return try engine.scan(from: key, to: nil, limit: op.count) { _, _ in true } > 0
        case .readModifyWrite:
            let found = try engine.get(key, into: &scratch)
            // Modify: the new value is the old one's length-adjusted replacement (YCSB writes new field values).
            try engine.put(key, values.value(length: op.valueLength, salt: op.salt))
            return found
        default:
            guard let leases else { throw OrbitError(.unsupported, "operation \(op.type) needs a lease workload") }
            return try leases.execute(op, thread: thread)
        }
    }

    func takeSample(_ rec: ThreadRecorder, _ type: OperationType, t0: UInt64, t1: UInt64, start: UInt64,
                    io0: ThreadIO.Counters, ok: Bool) {
        let io1 = ThreadIO.current()
        let m = PersistenceMetrics(operationType: type, latencyNanos: t1 - t0,
                                   memoryUsedBytes: ProcessMemory.allocatedBytes(),
                                   diskBytesRead: io1.bytesRead &- io0.bytesRead,
                                   diskBytesWritten: io1.bytesWritten &- io0.bytesWritten, success: ok)
        rec.samples.append(MetricSample(timestampNanos: t1 - start, thread: rec.thread, metrics: m, intendedLatencyNanos: t1 - t0))
    }
}

/// Lease operations over a LeaseDirectory on the engine (lease workloads only): the seeds' actor-lease
/// domain. Record r is the actor "a<r>" of addressable type "ActorType<r mod types>", held by node
/// "node-<fnv(r) mod nodes>". Type and node names are built once; the actor key is a small string
/// (13 bytes, stored inline: no heap allocation).
struct LeaseDriver<E: StorageEngine>: Sendable {
    let directory: LeaseDirectory<E>
    let workload: Workload
    let types: [String]
    let nodes: [NodeId]
    let clock = SystemWallClock()

    init(engine: E, workload: Workload) {
        directory = LeaseDirectory(engine: engine, clock: SystemWallClock())
        self.workload = workload
        types = (0..<workload.leaseActorTypes).map { "ActorType\($0)" }
        nodes = (0..<workload.leaseNodes).map { NodeId("node-\($0)") }
    }

    @inline(__always)
    func reference(_ record: UInt64) -> AddressableReference {
        AddressableReference(addressableType: types[Int(record % UInt64(types.count))], key: "a\(record)")
    }

    @inline(__always)
    func node(_ record: UInt64) -> NodeId { nodes[Int(fnv1a64(record) % UInt64(nodes.count))] }

    func store(record: UInt64, thread: Int) throws {
        try directory.store(AddressableLease(reference: reference(record), nodeId: node(record),
                                             grantedAt: clock.nowMillis(), duration: Int64(workload.leaseDurationMillis)))
    }

    /// Returns whether the lease (or list) was found.
    func execute(_ op: Op, thread: Int) throws -> Bool {
        switch op.type {
        case .leaseStore:
            try store(record: op.record, thread: thread)
            return true
        case .leaseRenew:
            return try directory.renew(reference(op.record), duration: Int64(workload.leaseDurationMillis)) != nil
        case .leaseGet:
            return try directory.get(reference(op.record)) != nil
        case .leaseRemove:
            return try directory.remove(reference(op.record))
        case .leaseListNode:
            return try !directory.listLeases(node: nodes[op.count]).isEmpty
        case .leaseRangeQuery:
            let r = workload.scanLength
            let limit = r.lowerBound + Int(op.salt % UInt64(r.count))
            return try !directory.leases(ofType: types[op.count], limit: limit).isEmpty
        case .leaseCleanup:
            return try directory.cleanupExpired() > 0
        default:
            throw OrbitError(.unsupported, "operation \(op.type) is not a lease operation")
        }
    }
}

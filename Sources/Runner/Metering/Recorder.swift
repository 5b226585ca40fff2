public import OrbitCore
public import Histogram
import Synchronization

/// HdrHistogram of latencies in nanoseconds: 1 ns to 1 hour, 3 significant digits.
public typealias LatencyHistogram = Histogram<UInt64>

public func makeLatencyHistogram() -> LatencyHistogram {
    LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: maxTrackableLatency, numberOfSignificantValueDigits: .three)
}

let maxTrackableLatency: UInt64 = 3_600_000_000_000

/// One sampled row of metrics.csv.
public struct MetricSample: Sendable {
    /// Nanoseconds since the backend's run started.
    public var timestampNanos: UInt64
    public var thread: Int
    public var metrics: PersistenceMetrics
    /// Completion minus intended start; equals the latency in closed-loop runs.
    public var intendedLatencyNanos: UInt64
    /// The phase of the operation ("load", "run" or the run phase's name); set when the phase is summarised.
    public var phase: String = ""
}

/// The metering layer's per-thread state: per operation type, counters and the current interval's
/// latency counts (`OpMeter`), the phase's histograms, and sampled PersistenceMetrics rows. Owned by
/// exactly one client thread while a phase runs, so recording takes no lock; read by the runner after
/// the thread is joined.
///
/// The per-operation state lives in raw memory indexed by operation type: a record is a pointer offset,
/// an increment in HdrHistogram's layout and a few adds, with no array bounds, copy-on-write or
/// exclusivity checks. The counts become real `Histogram`s once per interval (`publishInterval`).
final class ThreadRecorder: @unchecked Sendable {
    let thread: Int
    /// The phase's totals, one per operation type (nil for types the workload does not issue).
    var histograms: [LatencyHistogram?]
    /// Open loop only: intended latencies (completion - scheduled start), apart from service times.
    /// Empty in closed-loop runs, where the intended latency is the service time.
    var intendedHistograms: [LatencyHistogram?]
    /// Scratch histograms the interval's counts are drained into before publishing.
    private var intervalHistograms: [LatencyHistogram?]
    private var intendedIntervalHistograms: [LatencyHistogram?]
    let openLoop: Bool
    /// Service-time meters, and (open loop) intended-latency meters, indexed by operation type.
    private let meters: UnsafeMutablePointer<OpMeter>
    private let intendedMeters: UnsafeMutablePointer<OpMeter>
    private static let operationTypes = OperationType.allCases.count
    @exclusivity(unchecked) var samples: [MetricSample] = []
    var firstError: (any Error)?
    /// Sampling as 32.32 fixed point: each operation adds `sampleStep`; crossing 1.0 samples it.
    /// Exact for any rate (0.7 samples 7 of 10), deterministic, one add and compare per operation.
    let sampleStep: UInt64
    @exclusivity(unchecked) var sampleAccumulator: UInt64
    /// Open loop: this thread's schedule and how it is kept (nil in closed-loop phases).
    @exclusivity(unchecked) var schedule: ScheduleKeeping?

    init(thread: Int, ops: [OperationType], sampleRate: Double, seed: UInt64, openLoop: Bool = false) {
        self.thread = thread
        self.openLoop = openLoop
        let n = Self.operationTypes
        histograms = Array(repeating: nil, count: n)
        intervalHistograms = Array(repeating: nil, count: n)
        intendedHistograms = Array(repeating: nil, count: n)
        intendedIntervalHistograms = Array(repeating: nil, count: n)
        for op in ops {
            histograms[Int(op.rawValue)] = makeLatencyHistogram()
            intervalHistograms[Int(op.rawValue)] = makeLatencyHistogram()
            if openLoop {
                intendedHistograms[Int(op.rawValue)] = makeLatencyHistogram()
                intendedIntervalHistograms[Int(op.rawValue)] = makeLatencyHistogram()
            }
        }
        net.initialize(repeating: (0, 0), count: n)
        meters = .allocate(capacity: n)
        meters.initialize(repeating: OpMeter(), count: n)
        intendedMeters = .allocate(capacity: n)
        intendedMeters.initialize(repeating: OpMeter(), count: n)
        sampleStep = UInt64((min(max(sampleRate, 0), 1) * 4_294_967_296).rounded())
        // A seeded phase, so threads do not all sample the same op numbers.
        sampleAccumulator = (seed &+ UInt64(thread) &* 0x9E37_79B9) & 0xFFFF_FFFF
        if sampleStep > 0 { samples.reserveCapacity(4096) }
    }

    deinit {
        for i in 0..<Self.operationTypes {
            meters[i].deallocate()
            intendedMeters[i].deallocate()
        }
        meters.deinitialize(count: Self.operationTypes).deallocate()
        net.deallocate()
        intendedMeters.deinitialize(count: Self.operationTypes).deallocate()
    }

    /// The phase's counters of one operation type (read after the thread is joined).
    func counters(_ op: OperationType) -> (count: UInt64, errors: UInt64, notFound: UInt64, latencySum: UInt64, logicalBytes: UInt64) {
        let m = meters[Int(op.rawValue)]
        return (m.count, m.errors, m.notFound, m.latencySum, m.logicalBytes)
    }

    /// Wire bytes (sent, received) per operation type (server backends only).
    private let net = UnsafeMutablePointer<(sent: UInt64, received: UInt64)>.allocate(capacity: ThreadRecorder.operationTypes)

    @inline(__always)
    func addNet(_ op: OperationType, sent: UInt64, received: UInt64) {
        net[Int(op.rawValue)].sent &+= sent
        net[Int(op.rawValue)].received &+= received
    }

    func netBytes(_ op: OperationType) -> (sent: UInt64, received: UInt64) { net[Int(op.rawValue)] }

    /// Whether the next operation is sampled into metrics.csv.
    @inline(__always)
    func shouldSample() -> Bool {
        sampleAccumulator &+= sampleStep
        if sampleAccumulator >= 4_294_967_296 {
            sampleAccumulator -= 4_294_967_296
            return true
        }
        return false
    }

    /// Records one operation. Failed operations are counted as errors and kept out of the latency
    /// histograms and counts (a fast failure must not make the percentiles look better).
    @inline(__always)
    func record(_ op: OperationType, latency: UInt64, success: Bool, found: Bool, bytes: Int) {
        let m = meters + Int(op.rawValue)
        guard success else {
            m.pointee.errors &+= 1
            return
        }
        // One record per operation, into the interval's counts; they are folded into the phase total
        // when the interval is published (a thread publishes its last interval when the phase ends).
        m.pointee.record(min(max(latency, 1), maxTrackableLatency))
        m.pointee.count &+= 1
        m.pointee.latencySum &+= latency
        // MB/s counts only bytes an operation moved: a read that found nothing moved none.
        if found { m.pointee.logicalBytes &+= UInt64(truncatingIfNeeded: bytes) } else { m.pointee.notFound &+= 1 }
    }

    /// Records one open-loop operation: its service time as `record` does, and its intended latency
    /// (completion - scheduled start) in the intended histograms.
    @inline(__always)
    func record(_ op: OperationType, latency: UInt64, intended: UInt64, success: Bool, found: Bool, bytes: Int) {
        record(op, latency: latency, success: success, found: found, bytes: bytes)
        guard success else { return }
        intendedMeters[Int(op.rawValue)].record(min(max(intended, 1), maxTrackableLatency))
    }

    /// Counts an operation without timing it (`metering: false`).
    @inline(__always)
    func count(_ op: OperationType, success: Bool) {
        if success { meters[Int(op.rawValue)].count &+= 1 } else { meters[Int(op.rawValue)].errors &+= 1 }
    }

    func noteError(_ e: any Error) {
        if firstError == nil { firstError = e }
    }

    /// Moves the interval's counts into histograms, adds them to the phase totals, hands them to the
    /// collector and starts a new interval. Must be called at the end of a phase too, or the last
    /// interval is missing from the totals.
    ///
    /// `at`: the interval's end (or the phase's, for its last interval), for the open-loop backlog.
    func publishInterval(_ index: Int, to collector: IntervalCollector, at end: UInt64 = 0) {
        for i in intervalHistograms.indices where intervalHistograms[i] != nil {
            intervalHistograms[i]!.reset()
            meters[i].drain(into: &intervalHistograms[i]!)
            if intervalHistograms[i]!.totalCount > 0 { histograms[i]!.add(intervalHistograms[i]!) }
            if openLoop {
                intendedIntervalHistograms[i]!.reset()
                intendedMeters[i].drain(into: &intendedIntervalHistograms[i]!)
                if intendedIntervalHistograms[i]!.totalCount > 0 { intendedHistograms[i]!.add(intendedIntervalHistograms[i]!) }
            }
        }
        var figures: ScheduleFigures?
        if schedule != nil { figures = schedule!.drain(at: end) }
        collector.publish(interval: index, thread: thread, histograms: intervalHistograms,
                          intended: openLoop ? intendedIntervalHistograms : [], schedule: figures)
    }
}

/// One client thread's open-loop schedule (operation k due at `firstDue + k·period`, `quota` of them)
/// and how it kept it in the current interval. Lateness is counted in the interval the operation
/// ended in, as its latency is.
struct ScheduleKeeping {
    let firstDue: Double
    let period: Double
    let quota: Int
    /// Operations started so far in the phase.
    var started = 0
    /// Operations of this interval that started more than `lateNanos` after they were due.
    var late: UInt64 = 0
    /// How late the thread's most recent operation started, ns (0: on time).
    var latestLag: UInt64 = 0

    /// An operation starting more than this after its due time is late (the sleep wakes within
    /// tens of microseconds; a millisecond is a real delay).
    static let lateNanos: UInt64 = 1_000_000

    @inline(__always)
    mutating func noteStart(lag: UInt64) {
        latestLag = lag
        if lag > Self.lateNanos { late &+= 1 }
    }

    /// Operations due by `time` (at most `quota`).
    func due(by time: UInt64) -> Int {
        let t = Double(time)
        guard t >= firstDue else { return 0 }
        return min(quota, Int(((t - firstDue) / period).rounded(.down)) + 1)
    }

    /// This interval's figures, and a new interval.
    mutating func drain(at end: UInt64) -> ScheduleFigures {
        defer { late = 0 }
        return ScheduleFigures(lateOps: late, lagNanos: latestLag, backlogOps: UInt64(max(0, due(by: end) - started)))
    }
}

/// How the open-loop schedule was kept in one interval (timeseries.csv's last columns): summed, or for
/// the lag the largest, over the threads that published the interval.
public struct ScheduleFigures: Sendable, Hashable {
    /// Operations that started more than 1 ms after they were due.
    public var lateOps: UInt64
    /// How late the latest operation started, ns (the largest over the threads).
    public var lagNanos: UInt64
    /// Operations due by the interval's end that had not started.
    public var backlogOps: UInt64

    mutating func merge(_ o: ScheduleFigures) {
        lateOps += o.lateOps
        lagNanos = Swift.max(lagNanos, o.lagNanos)
        backlogOps += o.backlogOps
    }
}

/// One bucket of an interval's HdrHistogram: `count` latencies equivalent to `value` (ns).
public struct IntervalBucket: Sendable, Hashable {
    public var value: UInt64
    public var count: UInt64
}

/// Latency figures of one interval of one operation type: what timeseries.csv keeps, the YCSB status
/// line shows, and (as its non-empty buckets) what interval-<backend>-<op>.csv holds.
public struct IntervalSummary: Sendable, Hashable {
    public var count: UInt64
    public var p50, p95, p99, p999, max: UInt64  // nanoseconds
    public var min, p90, p9999: UInt64  // nanoseconds
    public var mean: Double  // nanoseconds
    /// The histogram's non-empty buckets: a few hundred at most, against ~270 KB for the histogram.
    public var buckets: [IntervalBucket]

    public init(_ h: LatencyHistogram) {
        count = h.totalCount
        p50 = h.valueAtPercentile(50)
        p95 = h.valueAtPercentile(95)
        p99 = h.valueAtPercentile(99)
        p999 = h.valueAtPercentile(99.9)
        max = h.max
        min = h.min
        p90 = h.valueAtPercentile(90)
        p9999 = h.valueAtPercentile(99.99)
        mean = h.mean
        buckets = h.recordedValues().compactMap { v in v.count > 0 ? IntervalBucket(value: v.value, count: UInt64(v.count)) : nil }
    }
}

/// Merges the per-thread interval histograms into per-interval, per-operation figures (timeseries.csv)
/// and keeps the latest complete interval for the status line.
///
/// Memory stays bounded however long a run lasts: an interval's merged histograms (~270 KB each) are
/// reduced to an `IntervalSummary` once it is complete, that is once every thread of the phase has
/// published that interval or a later one (a thread publishes its intervals in increasing order).
/// Client threads take its lock once per interval, never per operation, and only to merge: the
/// reduction (percentiles over every bucket, tens of milliseconds of CPU) runs on the monitor thread
/// (`reduceCompleteIntervals`, every 100 ms) and at the end of the phase, outside the lock, so it
/// neither delays a client's next operation nor holds up another client's publish.
public final class IntervalCollector: Sendable {
    struct State {
        var open: [Int: [LatencyHistogram?]] = [:]
        var openIntended: [Int: [LatencyHistogram?]] = [:]
        var done: [Int: [OperationType: IntervalSummary]] = [:]
        var doneIntended: [Int: [OperationType: IntervalSummary]] = [:]
        var lastPublished: [Int] = []
        var latestAll: IntervalSummary?
        var latestByOperation: [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)] = []
        var schedule: [Int: ScheduleFigures] = [:]
        var latestSchedule: ScheduleFigures?
    }
    private let state = Lock(State())

    /// Starts a phase run by `threads` client threads.
    func beginPhase(threads: Int) {
        state.withLock { $0.lastPublished = Array(repeating: -1, count: threads) }
    }

    /// Ends the phase: every interval still open is complete.
    func endPhase() {
        reduce(upTo: { _ in Int.max })
        state.withLock { $0.lastPublished = [] }
    }

    /// Reduces every interval all threads have moved past. Called by the monitor thread.
    public func reduceCompleteIntervals() {
        reduce(upTo: { $0.lastPublished.min() ?? -1 })
    }

    /// Takes the complete intervals out under the lock, reduces them outside it, stores the results.
    private func reduce(upTo last: (State) -> Int) {
        let ready = state.withLock { s -> [(index: Int, service: [LatencyHistogram?], intended: [LatencyHistogram?]?)] in
            let limit = last(s)
            var out: [(index: Int, service: [LatencyHistogram?], intended: [LatencyHistogram?]?)] = []
            for idx in s.open.keys.sorted() where idx <= limit {
                out.append((idx, s.open.removeValue(forKey: idx)!, s.openIntended.removeValue(forKey: idx)))
            }
            return out
        }
        guard !ready.isEmpty else { return }
        var reduced: [(index: Int, figures: [OperationType: IntervalSummary], intended: [OperationType: IntervalSummary],
                       all: IntervalSummary?, byOperation: [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)])] = []
        for (idx, slot, intendedSlot) in ready {
            var figures: [OperationType: IntervalSummary] = [:]
            var intended: [OperationType: IntervalSummary] = [:]
            var byOperation: [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)] = []
            var all: LatencyHistogram?
            for (i, h) in slot.enumerated() {
                guard let h, h.totalCount > 0 else { continue }
                let op = OperationType(rawValue: UInt8(i))!
                figures[op] = IntervalSummary(h)
                if let ih = intendedSlot?[i], ih.totalCount > 0 { intended[op] = IntervalSummary(ih) }
                byOperation.append((op, figures[op]!, intended[op]))
                if all == nil { all = h } else { all!.add(h) }
            }
            reduced.append((idx, figures, intended, all.map(IntervalSummary.init), byOperation))
        }
        state.withLock { s in
            for r in reduced {
                s.done[r.index, default: [:]].merge(r.figures) { old, _ in old }
                if !r.intended.isEmpty { s.doneIntended[r.index, default: [:]].merge(r.intended) { old, _ in old } }
                if let all = r.all {
                    s.latestAll = all
                    s.latestByOperation = r.byOperation
                }
                if let f = s.schedule[r.index] { s.latestSchedule = f }
            }
        }
    }

    /// `intended`: open-loop runs' intended-latency histograms (empty in closed-loop runs).
    func publish(interval: Int, thread: Int, histograms: [LatencyHistogram?], intended: [LatencyHistogram?] = [],
                 schedule: ScheduleFigures? = nil) {
        state.withLock { s in
            if let schedule {
                if s.schedule[interval] == nil { s.schedule[interval] = schedule } else { s.schedule[interval]!.merge(schedule) }
            }
            func merge(_ into: inout [Int: [LatencyHistogram?]], _ hs: [LatencyHistogram?]) {
                var slot = into[interval] ?? Array(repeating: nil, count: hs.count)
                for (i, h) in hs.enumerated() {
                    guard let h, h.totalCount > 0 else { continue }
                    if slot[i] == nil { slot[i] = h } else { slot[i]!.add(h) }
                }
                into[interval] = slot
            }
            merge(&s.open, histograms)
            if !intended.isEmpty { merge(&s.openIntended, intended) }
            if thread < s.lastPublished.count {
                s.lastPublished[thread] = Swift.max(s.lastPublished[thread], interval)
            }
        }
    }

    /// All operations of the most recent complete interval, merged (for the status line).
    func latest() -> IntervalSummary? { state.withLock { $0.latestAll } }

    /// Per operation, the most recent complete interval (for YCSB-style status lines).
    func latestByOperation() -> [(op: OperationType, service: IntervalSummary, intended: IntervalSummary?)] {
        state.withLock { $0.latestByOperation }
    }

    /// Open loop: the schedule figures of the most recent complete interval (status line).
    func latestSchedule() -> ScheduleFigures? { state.withLock { $0.latestSchedule } }

    /// Open loop: the schedule figures of every interval, by index.
    func scheduleFigures() -> [Int: ScheduleFigures] { state.withLock { $0.schedule } }

    /// Figures of every complete interval, by index and operation.
    func summaries() -> [Int: [OperationType: IntervalSummary]] { state.withLock { $0.done } }

    /// Open-loop runs: intended-latency figures of every complete interval, by index and operation.
    func intendedSummaries() -> [Int: [OperationType: IntervalSummary]] { state.withLock { $0.doneIntended } }
}

/// The process heap (jemalloc `stats.allocated`), refreshed by the monitor thread every 100 ms.
/// Refreshing costs tens of microseconds (jemalloc rebuilds its statistics), far too much per sampled
/// operation; a sample reads the latest refreshed value instead (at most 100 ms old).
public final class HeapGauge: Sendable {
    private let value = Atomic<UInt64>(0)
    public init() { refresh() }
    public func refresh() { value.store(ProcessMemory.allocatedBytes(), ordering: .relaxed) }
    public var bytes: UInt64 { value.load(ordering: .relaxed) }
}

/// A counter one thread writes (once per operation) and the status thread reads. Padded past a cache
/// line, so two threads' counters, allocated one after the other, never share one (false sharing
/// would make every store of one thread miss in the other's cache).
final class ProgressCounter: Sendable {
    let value = Atomic<Int>(0)
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

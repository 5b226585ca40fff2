import OrbitCore
import Foundation
import Histogram

/// The JSON payloads of the agent protocol's frames (docs/formats/agent-protocol.md). Field names
/// are snake_case on the wire.

/// job (coordinator → agent): the backend, and every setting that is not a built-in default with
/// this agent's share already applied (insert_start, insert_count, operation_count, target_ops_s, seed).
struct AgentJob: Codable {
    var protocolVersion: Int
    var index: Int
    var agents: Int
    var backend: String
    /// (knob name, value as text, where the coordinator's value came from).
    var settings: [[String]]
}

/// accepted (agent → coordinator): the job's workload is valid on the agent.
struct AgentAccepted: Codable {
    var hostname: String
    var threads: Int
}

/// go (coordinator → agent): a barrier is passed; "start" (open the store, load, warm up) or "run".
struct AgentGo: Codable {
    var barrier: String
}

/// error (either way): why the sender stops; the exit status it stands for.
struct AgentErrorMessage: Codable {
    var message: String
    var exitStatus: Int32
}

/// A latency histogram as raw bucket counts in the layout of `makeLatencyHistogram()`: (counts
/// index, count) for every non-empty bucket, with the exact least and greatest value recorded.
/// The receiver rebuilds a histogram equal to the sender's (`LatencyHistogram.==`, every percentile).
public struct RawHistogram: Codable, Sendable, Hashable {
    public var min: UInt64
    public var max: UInt64
    public var buckets: [[UInt64]]

    public init(min: UInt64, max: UInt64, buckets: [[UInt64]]) {
        self.min = min
        self.max = max
        self.buckets = buckets
    }

    public init(_ h: LatencyHistogram) {
        min = h.totalCount == 0 ? 0 : h.min
        max = h.maxRecorded
        var counts: [Int: UInt64] = [:]
        for v in h.recordedValues() where v.count > 0 { counts[LatencyBuckets.index(Swift.max(1, v.value)), default: 0] += UInt64(v.count) }
        buckets = counts.keys.sorted().map { [UInt64($0), counts[$0]!] }
    }

    /// An interval's figures (their non-empty buckets, and min and max).
    init(_ s: IntervalSummary) {
        min = s.min
        max = s.max
        var counts: [Int: UInt64] = [:]
        for b in s.buckets where b.count > 0 { counts[LatencyBuckets.index(Swift.max(1, b.value)), default: 0] += b.count }
        buckets = counts.keys.sorted().map { [UInt64($0), counts[$0]!] }
    }

    public var totalCount: UInt64 { buckets.reduce(0) { $0 + $1[1] } }

    /// The histogram: each bucket recorded at its lowest value, the buckets of the least and the
    /// greatest value at those exact values (as `OpMeter.drain` does), so min and max stay exact.
    public func histogram() throws -> LatencyHistogram {
        var h = makeLatencyHistogram()
        guard !buckets.isEmpty else { return h }
        guard min >= 1, max >= min, max <= maxTrackableLatency else {
            throw AgentWireError("histogram with min \(min) and max \(max) ns (allowed: 1 <= min <= max <= \(maxTrackableLatency))")
        }
        let low = LatencyBuckets.index(min), high = LatencyBuckets.index(max)
        for b in buckets {
            guard b.count == 2, b[0] < UInt64(LatencyBuckets.length), b[1] > 0 else {
                throw AgentWireError("histogram bucket \(b) (allowed: [index < \(LatencyBuckets.length), count > 0])")
            }
            let i = Int(b[0]), c = b[1]
            guard i >= low, i <= high else { throw AgentWireError("histogram bucket \(i) outside the buckets of min \(min) and max \(max)") }
            if i == low && i == high {
                h.record(min, count: 1)
                if c > 1 { h.record(max, count: c - 1) }
            } else if i == low {
                h.record(min, count: c)
            } else if i == high {
                h.record(max, count: c)
            } else {
                h.record(LatencyBuckets.value(at: i), count: c)
            }
        }
        return h
    }
}

struct WireOperation: Codable {
    var phase: String
    var operation: String
    var count, errors, notFound, latencySumNanos, logicalBytes, netBytesSent, netBytesReceived: UInt64
    var phaseSeconds: Double
    var histogram: RawHistogram
    var intended: RawHistogram?
}

struct WireRow: Codable {
    var phase: String
    var operation: String
    var elapsedSeconds, lengthSeconds: Double
    var count: UInt64
    var achievedOpsPerSecond, targetOpsPerSecond: Double
    var latency: RawHistogram?
    var intended: RawHistogram?
    /// late_ops, lag_ns, backlog_ops (open loop only).
    var schedule: [UInt64]?
}

struct WireTarget: Codable {
    var target, achieved: Double
    var behindNanos: UInt64
    var threads: Int
    var backlogs: [UInt64]
    var maxLagNanos, lateOps: UInt64
}

struct WirePhase: Codable {
    var name: String
    var background: Bool
    var threads: Int
    var startSeconds, endSeconds: Double
    var operations: Int
    var target: WireTarget?
}

/// timestamp_ns, thread, op, latency_ns, intended_ns, memory, disk read, disk written, success (0/1), net sent, net received.
typealias WireSample = [UInt64]

/// result (agent → coordinator): everything the agent measured, histograms raw.
struct AgentResultMessage: Codable {
    var hostname: String
    var openSeconds, loadSeconds, warmupSeconds, runSeconds, cpuSeconds, wallSeconds: Double
    var operations: [WireOperation]
    var timeseries: [WireRow]
    var phases: [WirePhase]
    var target: WireTarget?
    var samples: [WireSample]
    var samplePhases: [String]
    var errors: [String]
    var opStreamDigest: String
    var opStreamReproducible: Bool
}

enum AgentJSON {
    static func encode<T: Encodable>(_ v: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        return Array(try e.encode(v))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], frame: AgentFrame.Kind) throws -> T {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try d.decode(type, from: Data(bytes))
        } catch {
            throw AgentWireError("\(frame) frame's JSON does not parse: \(error)")
        }
    }
}

extension OperationType {
    init?(wireName: String) {
        guard let op = OperationType.allCases.first(where: { $0.name == wireName }) else { return nil }
        self = op
    }
}

extension TargetOutcome {
    var wire: WireTarget {
        WireTarget(target: target, achieved: achieved, behindNanos: behindNanos, threads: threads, backlogs: backlogs,
                   maxLagNanos: maxLagNanos, lateOps: lateOps)
    }
    init(wire w: WireTarget) {
        self.init(target: w.target, achieved: w.achieved, behindNanos: w.behindNanos, threads: w.threads)
        backlogs = w.backlogs
        maxLagNanos = w.maxLagNanos
        lateOps = w.lateOps
    }
}

extension AgentResultMessage {
    /// What the agent's backend run measured, for the wire.
    init(_ b: BackendRun, hostname: String) {
        self.hostname = hostname
        openSeconds = b.openSeconds
        loadSeconds = b.loadSeconds
        warmupSeconds = b.warmupSeconds
        runSeconds = b.runSeconds
        cpuSeconds = b.cpuSeconds
        wallSeconds = b.wallSeconds
        operations = b.operations.map { o in
            WireOperation(phase: o.phase, operation: o.operation.name, count: o.count, errors: o.errors, notFound: o.notFound,
                          latencySumNanos: o.latencySumNanos, logicalBytes: o.logicalBytes, netBytesSent: o.netBytesSent,
                          netBytesReceived: o.netBytesReceived, phaseSeconds: o.phaseSeconds, histogram: RawHistogram(o.histogram),
                          intended: o.intendedHistogram.map(RawHistogram.init))
        }
        timeseries = b.timeseries.map { r in
            WireRow(phase: r.phase, operation: r.operation.name, elapsedSeconds: r.elapsedSeconds, lengthSeconds: r.lengthSeconds,
                    count: r.count, achievedOpsPerSecond: r.achievedOpsPerSecond, targetOpsPerSecond: r.targetOpsPerSecond,
                    latency: r.latency.map(RawHistogram.init), intended: r.intendedLatency.map(RawHistogram.init),
                    schedule: r.schedule.map { [$0.lateOps, $0.lagNanos, $0.backlogOps] })
        }
        phases = b.phases.map { p in
            WirePhase(name: p.name, background: p.background, threads: p.threads, startSeconds: p.startSeconds,
                      endSeconds: p.endSeconds, operations: p.operations, target: p.target?.wire)
        }
        target = b.target?.wire
        samples = b.samples.map { s in
            let m = s.metrics
            return [s.timestampNanos, UInt64(s.thread), UInt64(m.operationType.rawValue), m.latencyNanos, s.intendedLatencyNanos,
                    m.memoryUsedBytes, m.diskBytesRead, m.diskBytesWritten, m.success ? 1 : 0, m.netBytesSent, m.netBytesReceived]
        }
        samplePhases = b.samples.map(\.phase)
        errors = b.errors
        opStreamDigest = String(b.opStreamDigest, radix: 16)
        opStreamReproducible = b.opStreamReproducible
    }
}

import Foundation
import OrbitCore
import Runner
import Synchronization

/// Differential testing (issue 14, "Widen the crash lab" item 6): one seeded op stream — puts,
/// deletes, batches, bounded scans, full-scan checks, reopens, snapshot create/restore/drop — run
/// on every registered engine; every observation (the digest and size of each scan's result and of a full
/// scan at each check and at the end, or the fact that an operation failed) must be equal.
///
/// The engine under test (`--backend`) is compared with the majority of the five at each
/// observation: the run is broken when it disagrees with it (a peer that disagrees is noted, for
/// the record). memory cannot survive a reopen: for it a reopen does nothing; every other engine
/// must keep everything across one (a clean close). lsm and cow run on the in-memory
/// `FaultInjectingFileSystem` with tiny memtables, pages and checkpoint intervals (so flushes,
/// compactions and checkpoints happen inside a stream); rocksdb and lmdb in a scratch directory
/// under the work directory (the sweep's own; emptied before each stream).
///
/// A difference prints (in the record's detail, and so in the progress line) the seed, the stream,
/// the op index and the first differing key, then shrinks the stream (drop chunks, halving, down to
/// single ops: delta debugging) to a short stream that still shows the difference between the
/// engine and the reference, and writes it to `differential-<engine>-seed<S>-stream<N>.ops` in the
/// work directory. `--set crash.differential_replay=FILE` runs such a file once instead of generating
/// streams.
public enum DifferentialSweep: CrashSweep {
    public static let method: CrashRecord.Method = .differential
    /// Every registered engine.
    public static var engines: [String] { Engines.names(without: .server) }
    public static func supports(engine: String) -> Bool { engines.contains(engine) }
    /// The engine that breaks ties: the first without a disk to get wrong (memory).
    static var reference: String? { engines.first { !Engines.isDurable($0) } }
    public static var needsDurableEngine: Bool { false }

    public struct Plan: Sendable {
        public var operations = 10_000
        public var replay: String? = nil
        /// Shrinking: the most candidate streams tried.
        public var shrinkAttempts = 400
        public var engines = DifferentialSweep.engines
        public init() {}
        public init(settings s: Settings) {
            if s.knob(named: "crash.differential_operations") != nil {
                operations = s.int("crash.differential_operations")
                let r = s.string("crash.differential_replay")
                replay = r.isEmpty ? nil : r
            }
        }
    }

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try run(context, plan: Plan(settings: context.settings), onRecord: onRecord)
    }

    /// The ops of a replay file (bad input: an error naming the file and the line).
    public static func readReplay(_ file: String) throws -> [DiffOp] {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw OrbitError(.invalidArgument, "differential replay: cannot read the file", at: file, cause: .library("\(error)"))
        }
        return try DiffStream.parse(text, file: file)
    }

    public static func streamSeed(_ seed: UInt64, _ stream: Int) -> UInt64 { fnv1a64(seed &+ UInt64(stream) &* 0xA24B_AED4_963E_E407) }

    public static func run(_ context: CrashSweepContext, plan: Plan, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: context.engine) else {
            throw OrbitError(.unsupported, "the differential sweep cannot run on \(context.engine)", at: "engine",
                             hint: "engines: " + engines.joined(separator: ", "))
        }
        if let file = plan.replay {
            let ops = try readReplay(file)
            try onRecord(compare(context, plan: plan, ops: ops, stream: 0, label: "replay \(file)", shrink: false))
            return
        }
        for stream in 0..<context.count {
            let seed = streamSeed(context.seed, stream)
            let ops = DiffStream.generate(seed: seed, count: plan.operations)
            try onRecord(compare(context, plan: plan, ops: ops, stream: stream,
                                 label: "seed=\(context.seed) stream=\(stream) stream_seed=0x\(String(seed, radix: 16))", shrink: true))
        }
    }

    /// One observation: the op index, and the digest and size of what it showed (or "failed").
    struct Observation: Hashable, CustomStringConvertible {
        var op: Int
        var digest: UInt64
        var count: Int
        var failed: Bool
        var description: String { failed ? "op \(op) failed" : "op \(op): \(count) entries, digest \(String(digest, radix: 16))" }
    }

    struct Outcome {
        var observations: [Observation] = []
        /// The entries the captured observation saw (to name the first differing key).
        var captured: [([UInt8], [UInt8])]? = nil
        var errors: [Int: String] = [:]
        var reopenMs: [Double] = []
    }

    /// Digests of engines' observation lists by stream (see `compare`): 16 bytes per engine and stream.
    static let memo = Lock<[String: ObservationDigest]>([:])

    struct ObservationDigest: Equatable, Sendable {
        var hash: UInt64
        var count: Int
    }

    static func digest(_ o: Outcome) -> ObservationDigest {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in o.observations {
            h = fnv1a64(h ^ UInt64(x.op)) ^ x.digest
            h = fnv1a64(h ^ UInt64(bitPattern: Int64(x.count)) ^ (x.failed ? 1 : 0))
        }
        return ObservationDigest(hash: h, count: o.observations.count)
    }

    /// Runs `ops` on the chosen engines and judges the subject.
    static func compare(_ context: CrashSweepContext, plan: Plan, ops: [DiffOp], stream: Int, label: String, shrink: Bool) throws -> CrashRecord {
        var record = CrashRecord(cycle: stream, engine: context.engine, durability: context.durability.description, method: .differential,
                                 crashPointOrTime: "ops=\(ops.count)", opsAcknowledged: ops.count, opsSynced: 0, opsRecovered: 0,
                                 lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)
        // A stream's outcome on each engine is a function of the stream: a sweep of several subjects
        // (--backend lsm --backend cow) runs every peer once per stream, not once per subject. The
        // memo keeps a digest of each engine's whole observation list; when every peer's digest
        // equals the subject's, the streams agree and the peers need not run again. Otherwise they
        // run, and the comparison below is made on full observations, as always.
        let memoKey = shrink ? "\(label)|ops=\(ops.count)|\(context.durability)" : nil
        var outcomes: [String: Outcome] = [:]
        let subjectOutcome = try execute(context.engine, ops, context, capture: nil)
        outcomes[context.engine] = subjectOutcome
        let subjectDigest = Self.digest(subjectOutcome)
        let peers = plan.engines.filter { $0 != context.engine }
        let remembered = memoKey.map { key in Self.memo.withLock { m in peers.map { m[key + "|" + $0] } } } ?? []
        if remembered.count == peers.count && remembered.allSatisfy({ $0 == subjectDigest }) {
            for e in peers { outcomes[e] = subjectOutcome }  // equal observations, by their digests
        } else {
            for e in peers { outcomes[e] = try execute(e, ops, context, capture: nil) }
        }
        if let memoKey {
            Self.memo.withLock { m in for (e, o) in outcomes { m[memoKey + "|" + e] = Self.digest(o) } }
        }
        let subject = subjectOutcome
        record.recoveryMs = subject.reopenMs.max() ?? 0
        record.opsRecovered = subject.observations.count
        let reopenMedian = CrashSummaryRow.median(subject.reopenMs.sorted())
        var notes = ["\(subject.observations.count) observations, \(subject.reopenMs.count) reopens (p50 \(formatDouble(reopenMedian, decimals: 2)) ms)"]
        let n = outcomes.values.map(\.observations.count).max() ?? 0
        var verdict: (index: Int, reference: String)? = nil
        var peerNotes: [String] = []
        for i in 0..<n {
            var votes: [Observation?: [String]] = [:]
            for e in plan.engines { votes[outcomes[e]!.observations[safe: i], default: []].append(e) }
            guard votes.count > 1 else { continue }
            // The majority (ties: the group the reference engine is in).
            let ref = Self.reference ?? ""
            let majority = votes.max { a, b in a.value.count != b.value.count ? a.value.count < b.value.count : !a.value.contains(ref) }!
            let dissent = votes.filter { $0.key != majority.key }.flatMap(\.value).sorted()
            if dissent.contains(context.engine) {
                verdict = (i, majority.value.contains(ref) ? ref : majority.value[0])
                break
            }
            if peerNotes.isEmpty {
                let shown = dissent.map { e -> String in
                    let o = outcomes[e]!.observations[safe: i]
                    return "\(e): \(o?.description ?? "none")" + (o.flatMap { outcomes[e]!.errors[$0.op] }.map { " (\($0))" } ?? "")
                }
                peerNotes.append("peer(s) \(dissent.joined(separator: ",")) differ from the majority (\(majority.key?.description ?? "none")) "
                                 + "at observation \(i): " + shown.joined(separator: "; "))
            }
        }
        notes += peerNotes
        guard let (index, reference) = verdict else {
            record.detail = (notes + [label]).joined(separator: "; ")
            return record
        }
        record.verdict = .broken
        let mine = subject.observations[safe: index]
        let theirs = outcomes[reference]!.observations[safe: index]
        let opIndex = mine?.op ?? theirs?.op ?? ops.count
        record.crashPointOrTime = "op=\(opIndex)"
        var what = "BROKEN: \(context.engine) differs from \(reference) at op \(opIndex) (\(opName(ops[safe: opIndex]))): "
            + "\(context.engine) \(mine?.description ?? "no observation (stopped)"), \(reference) \(theirs?.description ?? "none")"
        if let e = subject.errors[opIndex] { what += "; \(context.engine) error: \(e)" }
        if let e = outcomes[reference]!.errors[opIndex] { what += "; \(reference) error: \(e)" }
        if mine?.failed == false && theirs?.failed == false {
            let a = try execute(context.engine, ops, context, capture: opIndex).captured ?? []
            let b = try execute(reference, ops, context, capture: opIndex).captured ?? []
            what += "; first differing key: " + firstDifference(a, b, context.engine, reference)
        }
        var details = [what]
        if shrink {
            let short = shrinkStream(ops, context, plan: plan, subject: context.engine, reference: reference)
            let file = context.workDirectory + "/differential-\(context.engine)-seed\(context.seed)-stream\(stream).ops"
            let header = ["orbit-bench differential replay: \(label)", "\(context.engine) against \(reference), \(context.durability)",
                          "shrunk from \(ops.count) to \(short.count) ops; replay: orbit-bench crash WORKLOAD --backend \(context.engine) "
                            + "--set crash_methods=differential --set crash.differential_replay=\(file)"]
            do {
                try FileManager.default.createDirectory(atPath: context.workDirectory, withIntermediateDirectories: true)
                try DiffStream.render(short, header: header).write(toFile: file, atomically: true, encoding: .utf8)
                details.append("shrunk to \(short.count) ops: \(file)")
            } catch { details.append("shrunk to \(short.count) ops, could not write \(file): \(error)") }
        }
        record.detail = (details + notes + [label]).joined(separator: "; ")
        return record
    }

    static func opName(_ op: DiffOp?) -> String {
        switch op {
        case .put?: "put"
        case .delete?: "delete"
        case .batch?: "batch"
        case .scan?: "scan"
        case .check?: "check"
        case .reopen?: "reopen"
        case .snapshotCreate(let n)?: "snapshot-create \(n)"
        case .snapshotRestore(let n)?: "snapshot-restore \(n)"
        case .snapshotDrop(let n)?: "snapshot-drop \(n)"
        case nil: "end"
        }
    }

    static func printable(_ k: [UInt8]) -> String {
        k.allSatisfy { $0 >= 0x20 && $0 < 0x7f } ? "'" + String(decoding: k, as: UTF8.self) + "'" : DiffStream.hex(k)
    }

    static func firstDifference(_ a: [([UInt8], [UInt8])], _ b: [([UInt8], [UInt8])], _ an: String, _ bn: String) -> String {
        var i = 0
        while i < a.count && i < b.count {
            if a[i].0 != b[i].0 {
                return compareBytes(a[i].0, b[i].0) < 0 ? "\(printable(a[i].0)) only in \(an)" : "\(printable(b[i].0)) only in \(bn)"
            }
            if a[i].1 != b[i].1 { return "\(printable(a[i].0)): \(an) \(a[i].1.count) bytes, \(bn) \(b[i].1.count) bytes (values differ)" }
            i += 1
        }
        if i < a.count { return "\(printable(a[i].0)) only in \(an)" }
        if i < b.count { return "\(printable(b[i].0)) only in \(bn)" }
        return "none (the same entries: the difference is elsewhere)"
    }

    /// Delta debugging on the op list: drop chunks (halves, quarters, ... single ops) while the
    /// subject still differs from the reference on the shorter stream (plus a final check).
    static func shrinkStream(_ ops: [DiffOp], _ context: CrashSweepContext, plan: Plan, subject: String, reference: String) -> [DiffOp] {
        ddmin(ops, attempts: plan.shrinkAttempts) { candidate in
            let c = candidate + [.check]
            guard let a = try? execute(subject, c, context, capture: nil), let b = try? execute(reference, c, context, capture: nil) else { return true }
            return a.observations != b.observations
        } + [.check]
    }

    /// Delta debugging (complements only): drop one of `chunks` pieces while `fails` still holds,
    /// halving the piece size when none can go, down to single ops; every candidate is normalized
    /// (snapshot ops made invalid by a drop are dropped too). At most `attempts` calls of `fails`.
    static func ddmin(_ ops: [DiffOp], attempts budget: Int, _ fails: ([DiffOp]) -> Bool) -> [DiffOp] {
        var attempts = 0
        var current = ops
        var chunks = 2
        while current.count > 1 && attempts < budget {
            let size = (current.count + chunks - 1) / chunks
            var reduced = false
            var start = 0
            while start < current.count && attempts < budget {
                let candidate = DiffStream.normalize(Array(current[..<start] + current[min(current.count, start + size)...]))
                if candidate.count < current.count {
                    attempts += 1
                    if fails(candidate) { current = candidate; reduced = true; break }
                }
                start += size
            }
            if reduced { chunks = max(2, chunks - 1); continue }
            if size <= 1 { break }
            chunks = min(current.count, chunks * 2)
        }
        return current
    }

    // MARK: Running a stream on one engine

    struct Segment: EngineBody {
        let ops: [DiffOp]
        let start: Int
        /// false for memory: a reopen does nothing.
        let stopAtReopen: Bool
        let capture: Int?

        func run<E: StorageEngine>(_ engine: E) throws -> (Outcome, next: Int) {
            var out = Outcome()
            var i = start
            while i < ops.count {
                let op = ops[i]
                if case .reopen = op {
                    if stopAtReopen { return (out, i + 1) }
                    i += 1
                    continue
                }
                do {
                    switch op {
                    case .put(let k, let v): try engine.put(k, v)
                    case .delete(let k): try engine.delete(k)
                    case .batch(let es):
                        var b = WriteBatch()
                        for e in es { if e.isPut { b.put(e.key, e.value) } else { b.delete(e.key) } }
                        try engine.write(b)
                    case .scan(let a, let b, let limit):
                        out.observations.append(try observe(engine, i, a, b, limit, &out))
                    case .check:
                        out.observations.append(try observe(engine, i, nil, nil, 0, &out))
                    case .snapshotCreate(let n): try engine.createSnapshot(named: n)
                    case .snapshotRestore(let n): try engine.restoreSnapshot(named: n)
                    case .snapshotDrop(let n): try engine.dropSnapshot(named: n)
                    case .reopen: break
                    }
                } catch {
                    out.observations.append(Observation(op: i, digest: 0, count: -1, failed: true))
                    out.errors[i] = "\(error)"
                }
                i += 1
            }
            return (out, ops.count)
        }

        func observe<E: StorageEngine>(_ engine: E, _ i: Int, _ a: [UInt8]?, _ b: [UInt8]?, _ limit: Int,
                                       _ out: inout Outcome) throws -> Observation {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            @inline(__always) func mix(_ x: UInt8) { h = (h ^ UInt64(x)) &* 0x100_0000_01B3 }
            func mixLength(_ n: Int) { for s in stride(from: 0, to: 32, by: 8) { mix(UInt8(truncatingIfNeeded: n >> s)) } }
            var count = 0
            var entries: [([UInt8], [UInt8])]? = capture == i ? [] : nil
            func visit(_ s: UnsafeRawBufferPointer?, _ e: UnsafeRawBufferPointer?) throws {
                try engine.scan(from: s, to: e, limit: limit) { k, v in
                    count += 1
                    mixLength(k.count); for x in k { mix(x) }
                    mixLength(v.count); for x in v { mix(x) }
                    entries?.append(([UInt8](k), [UInt8](v)))
                    return true
                }
            }
            switch (a, b) {
            case let (s?, e?): try s.withUnsafeBytes { sp in try e.withUnsafeBytes { ep in try visit(sp, ep) } }
            case let (s?, nil): try s.withUnsafeBytes { try visit($0, nil) }
            case let (nil, e?): try e.withUnsafeBytes { try visit(nil, $0) }
            case (nil, nil): try visit(nil, nil)
            }
            if let entries { out.captured = entries }
            return Observation(op: i, digest: h, count: count, failed: false)
        }
    }

    /// Runs `ops` on `engine` from a fresh store; a failed reopen ends the stream (its observations
    /// stop there, which the comparison sees).
    static func execute(_ engine: String, _ ops: [DiffOp], _ context: CrashSweepContext, capture: Int?) throws -> Outcome {
        var total = Outcome()
        func add(_ o: Outcome) {
            total.observations += o.observations
            total.errors.merge(o.errors) { a, _ in a }
            if let c = o.captured { total.captured = c }
        }
        let durability = context.durability
        var start = 0
        // One open per segment (a reopen op ends it) until the stream is done or an open or close fails.
        func runSegments(_ openAndRun: (Timed) throws -> (Outcome, next: Int)) {
            while start < ops.count {
                let t0 = MonotonicClock.nanoseconds()
                let result: (Outcome, next: Int)
                do {
                    result = try openAndRun(Timed(segment: Segment(ops: ops, start: start, stopAtReopen: true, capture: capture), t0: t0))
                } catch {
                    total.observations.append(Observation(op: max(0, start - 1), digest: 0, count: -1, failed: true))
                    total.errors[max(0, start - 1)] = "open or close failed: \(error)"
                    return
                }
                if start > 0, let ms = result.0.reopenMs.first { total.reopenMs.append(ms) }
                add(result.0)
                start = result.next
            }
        }
        if !Engines.isDurable(engine) {
            // Keeps nothing across a reopen: one segment.
            let (o, _) = try Engines.withEngine(engine, directory: "", settings: context.settings,
                                                Segment(ops: ops, start: 0, stopAtReopen: false, capture: capture))
            add(o)
        } else if FileLayerEngines.supports(engine) {
            // On the in-memory fault injector (no faults), with the engine's stress options.
            let fs = FaultInjectingFileSystem(seed: 1)
            try fs.createDirectory("/store", intermediates: true)
            runSegments { body in
                try FileLayerEngines.withEngine(engine, fs: fs, directory: "/store", durability: durability, body)
            }
        } else {
            let dir = context.workDirectory + "/differential-\(engine)"
            try? POSIXFileSystem().removeTree(dir)  // the sweep's own scratch store
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? POSIXFileSystem().removeTree(dir) }
            runSegments { body in try Engines.withEngine(engine, directory: dir, settings: context.settings, body) }
        }
        return total
    }

    /// A segment that notes how long the open took (the engine is open when `run` is called).
    struct Timed: EngineBody {
        let segment: Segment
        let t0: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> (Outcome, next: Int) {
            let ms = Double(MonotonicClock.nanoseconds() &- t0) / 1e6
            var (o, next) = try segment.run(engine)
            o.reopenMs = [ms]
            return (o, next)
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}

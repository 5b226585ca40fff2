import Foundation
import LSMTree
import OrbitCore
import Runner

/// Concurrent writers and readers, checked for linearizability (issue 14, "Widen the crash lab"
/// item 4).
///
/// Each run: a fresh store whose background work is forced often (lsm: 4 KiB memtables, two tables
/// per level trigger a compaction; cow: a checkpoint every 8 commits or 8 KiB of WAL, 512-byte
/// pages), `crash.history_writers` writer threads (puts with unique values, deletes, small batches) and
/// `crash.history_readers` reader threads (gets, and one scan in four over a random key range) sharing a
/// small key space, `crash.history_operations` operations in all. Every operation's invocation and
/// response (monotonic clock) and result are recorded, and `RecordedHistory.check` verifies each get
/// and each scan (see there). A failing call is a broken run too (nothing should fail here).
///
/// lsm and cow run on the in-memory `FaultInjectingFileSystem` (no faults: it is fast and
/// deterministic in its I/O); rocksdb and lmdb on a scratch directory under the work directory
/// (removed after the run: the sweep created it); memory in process. One `CrashRecord` per run
/// (method `concurrent-history`); no recovery (`recovery_ms` 0).
public enum ConcurrentHistorySweep: CrashSweep {
    public static let method: CrashRecord.Method = .concurrentHistory
    /// Every registered engine.
    public static func supports(engine: String) -> Bool { Engines.capabilities(engine).map { !$0.contains(.server) } ?? false }
    public static var needsDurableEngine: Bool { false }

    /// What one run does (from the `history.*` knobs; tests set it directly).
    public struct Plan: Sendable {
        public var writers = 4
        public var readers = 4
        public var operations = 10_000
        public var keys = 16
        /// For tests: a bug planted back into lsm (`LSMOptions.plantedBug`).
        public var lsmPlantedBug: LSMPlantedBug = .none
        public init() {}

        /// The options with the planted bug (a test hook of lsm's; other engines' options unchanged).
        func planted(_ options: any EngineOptions) -> any EngineOptions {
            guard var o = options as? LSMOptions, lsmPlantedBug != .none else { return options }
            o.plantedBug = lsmPlantedBug
            return o
        }

        public init(settings s: Settings) {
            if s.knob(named: "crash.history_writers") != nil {
                writers = s.int("crash.history_writers")
                readers = s.int("crash.history_readers")
                operations = s.int("crash.history_operations")
                keys = s.int("crash.history_keys")
            }
        }
    }

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try run(context, plan: Plan(settings: context.settings), onRecord: onRecord)
    }

    public static func run(_ context: CrashSweepContext, plan: Plan, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: context.engine) else {
            throw OrbitError(.unsupported, "the concurrent-history sweep cannot run on \(context.engine)", at: "engine",
                             hint: "engines: " + Engines.names().joined(separator: ", "))
        }
        for run in 0..<context.count {
            let seed = fnv1a64(context.seed ^ UInt64(run) &* 0x9E37_79B9_7F4A_7C15)
            try onRecord(one(context, plan: plan, run: run, seed: seed))
        }
    }

    struct Body: EngineBody {
        let plan: Plan
        let seed: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> (RecordedHistory, [String]) {
            ConcurrentHistorySweep.drive(engine, plan: plan, seed: seed)
        }
    }

    static func one(_ context: CrashSweepContext, plan: Plan, run: Int, seed: UInt64) throws -> CrashRecord {
        var record = CrashRecord(cycle: run, engine: context.engine, durability: context.durability.description,
                                 method: .concurrentHistory, crashPointOrTime: "w=\(plan.writers) r=\(plan.readers) ops=\(plan.operations)",
                                 opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0, lostSynced: 0, lostUnsynced: 0, resurrected: 0,
                                 recoveryMs: 0, verdict: .ok, storeBytes: 0)
        let body = Body(plan: plan, seed: seed)
        let result: (RecordedHistory, [String])
        if FileLayerEngines.supports(context.engine) {
            // On the in-memory fault injector (no faults), with the engine's stress options.
            let fs = FaultInjectingFileSystem(seed: seed)
            try fs.createDirectory("/store", intermediates: true)
            result = try FileLayerEngines.withEngine(context.engine, fs: fs, directory: "/store", durability: context.durability,
                                                     adjust: { plan.planted($0) }, body)
            record.storeBytes = fs.usedBytes
        } else {
            // Per engine: sweeps of several engines may share one work directory (the tests run them at once).
            let dir = context.workDirectory + "/history-\(context.engine)-run-\(run)"
            try? POSIXFileSystem().removeTree(dir)  // our own scratch store of an earlier run
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? POSIXFileSystem().removeTree(dir) }
            result = try Engines.withEngine(context.engine, directory: dir, settings: context.settings, body)
        }
        let (history, failures) = result
        let (violations, first) = history.check()
        record.opsAcknowledged = history.writes.count
        record.opsRecovered = history.reads.count + history.scans.count
        record.verdict = violations == 0 && failures.isEmpty ? .ok : .broken
        var detail: [String] = []
        if violations > 0 {
            detail.append("BROKEN: \(violations) non-linearizable read(s) or scan(s); first: "
                          + first.prefix(4).map(\.description).joined(separator: " | "))
        }
        if !failures.isEmpty { detail.append("BROKEN: \(failures.count) failed call(s), first: \(failures[0])") }
        detail.append("\(history.writes.count) writes, \(history.reads.count) gets, \(history.scans.count) scans")
        detail.append("seed=\(context.seed) run=\(run) run_seed=0x\(String(seed, radix: 16))"
                      + (plan.lsmPlantedBug == .none ? "" : " planted=\(plan.lsmPlantedBug)"))
        record.detail = detail.joined(separator: "; ")
        return record
    }

    static func key(_ k: Int) -> [UInt8] { Array("h-key-\(1000 + k)".utf8) }

    /// A put's value: its write id (8 bytes), its key index (2 bytes), filler.
    static func value(id: UInt64, key k: Int, size: Int) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: max(10, size))
        for i in 0..<8 { v[i] = UInt8(truncatingIfNeeded: id >> (8 * UInt64(i))) }
        v[8] = UInt8(truncatingIfNeeded: k); v[9] = UInt8(truncatingIfNeeded: k >> 8)
        for i in 10..<v.count { v[i] = UInt8(truncatingIfNeeded: id &* 131 &+ UInt64(i)) }
        return v
    }

    /// The write id a value read for key k carries (nil: not a value written for k).
    static func decode(_ v: UnsafeRawBufferPointer, key k: Int) -> UInt64? {
        guard v.count >= 10 else { return nil }
        var id: UInt64 = 0
        for i in 0..<8 { id |= UInt64(v[i]) << (8 * UInt64(i)) }
        guard Int(v[8]) | Int(v[9]) << 8 == k else { return nil }
        for i in 10..<v.count where v[i] != UInt8(truncatingIfNeeded: id &* 131 &+ UInt64(i)) { return nil }
        return id
    }

    /// Per thread: what it did.
    struct ThreadLog {
        var writes: [RecordedHistory.Write] = []
        var reads: [RecordedHistory.Read] = []
        var scans: [RecordedHistory.Scan] = []
        var failures: [String] = []
    }

    static func drive<E: StorageEngine>(_ engine: E, plan: Plan, seed: UInt64) -> (RecordedHistory, [String]) {
        let threads = plan.writers + plan.readers
        let perThread = max(1, plan.operations / max(1, threads))
        let slots = ThreadSlots(threads, ThreadLog())
        let keyIndex: [[UInt8]: Int] = Dictionary(uniqueKeysWithValues: (0..<plan.keys).map { (key($0), $0) })
        LabThreads.run(threads) { t in
            var rng = SeededRNG(seed: seed, stream: t)
            slots.with(t) { log in
                if t < plan.writers {
                    var n: UInt64 = 0
                    func nextID() -> UInt64 { n += 1; return UInt64(t + 1) << 40 | n }
                    for _ in 0..<perThread {
                        let r = rng.below(100)
                        if r < 8 {
                            // A batch of 2-3 distinct keys: one interval for each of its writes.
                            var batch = WriteBatch()
                            var ws: [(Int, UInt64, Bool)] = []
                            for _ in 0..<(2 + Int(rng.below(2))) {
                                let k = Int(rng.below(UInt64(plan.keys)))
                                if ws.contains(where: { $0.0 == k }) { continue }
                                let id = nextID()
                                let del = rng.below(5) == 0
                                if del { batch.delete(key(k)) } else { batch.put(key(k), value(id: id, key: k, size: 16 + Int(rng.below(48)))) }
                                ws.append((k, id, del))
                            }
                            let inv = MonotonicClock.nanoseconds()
                            do { try engine.write(batch) } catch { log.failures.append("batch: \(error)"); continue }
                            let resp = MonotonicClock.nanoseconds()
                            for (k, id, del) in ws { log.writes.append(.init(id: id, key: k, isDelete: del, invoked: inv, responded: resp)) }
                        } else {
                            let k = Int(rng.below(UInt64(plan.keys)))
                            let id = nextID()
                            let del = r < 18
                            let v = del ? [] : value(id: id, key: k, size: 16 + Int(rng.below(48)))
                            let kb = key(k)
                            let inv = MonotonicClock.nanoseconds()
                            do { if del { try engine.delete(kb) } else { try engine.put(kb, v) } } catch {
                                log.failures.append("\(del ? "delete" : "put"): \(error)"); continue
                            }
                            let resp = MonotonicClock.nanoseconds()
                            log.writes.append(.init(id: id, key: k, isDelete: del, invoked: inv, responded: resp))
                        }
                    }
                } else {
                    for _ in 0..<perThread {
                        if rng.below(4) == 0 {
                            let a = Int(rng.below(UInt64(plan.keys)))
                            let b = a + 1 + Int(rng.below(UInt64(plan.keys - a)))
                            var observed = [UInt64?](repeating: 0, count: b - a)
                            var malformed: String? = nil
                            var last = a - 1
                            let lo = key(a), hi = key(b)
                            let inv = MonotonicClock.nanoseconds()
                            do {
                                try lo.withUnsafeBytes { lp in
                                    try hi.withUnsafeBytes { hp in
                                        try engine.scan(from: lp, to: b == plan.keys ? nil : hp, limit: 0) { k, v in
                                            guard let i = keyIndex[[UInt8](k)], i >= a, i < b, i > last else {
                                                if malformed == nil { malformed = "key \(String(decoding: k, as: UTF8.self)) out of range or order" }
                                                return true
                                            }
                                            last = i
                                            observed[i - a] = decode(v, key: i)
                                            return true
                                        }
                                    }
                                }
                            } catch { log.failures.append("scan: \(error)"); continue }
                            let resp = MonotonicClock.nanoseconds()
                            log.scans.append(.init(lower: a, upper: b, observed: observed, invoked: inv, responded: resp, malformed: malformed))
                        } else {
                            let k = Int(rng.below(UInt64(plan.keys)))
                            let kb = key(k)
                            let inv = MonotonicClock.nanoseconds()
                            let observed: UInt64?
                            do { observed = try kb.withUnsafeBytes { kp in try engine.get(kp) { $0.map { decode($0, key: k) } ?? 0 } } } catch {
                                log.failures.append("get: \(error)"); continue
                            }
                            let resp = MonotonicClock.nanoseconds()
                            log.reads.append(.init(key: k, observed: observed, invoked: inv, responded: resp))
                        }
                    }
                }
            }
        }
        var h = RecordedHistory(keyCount: plan.keys)
        var failures: [String] = []
        for l in slots.all {
            h.writes += l.writes
            h.reads += l.reads
            h.scans += l.scans
            failures += l.failures
        }
        return (h, failures)
    }
}

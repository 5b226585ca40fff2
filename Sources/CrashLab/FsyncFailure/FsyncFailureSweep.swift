import OrbitCore

/// Failed fsync/fdatasync with concurrent writers (issue 14, "Widen the crash lab" item 3).
///
/// Each probe: a fresh store on a `FaultInjectingFileSystem` (which models Linux's writeback-error
/// semantics: a failed sync drops the dirty pages it covered from the durable history — the records
/// of every writer whose bytes shared them — and reports the error once; the next sync of the file
/// succeeds; per 4 KiB page: all dropped, or each written or dropped, and a dropped page dirtied
/// again is written whole), 1, 2 or 4 writer threads (probe % 3) writing their own keys (puts with versioned
/// values, deletes, small batches, and under `none`/`periodic` an explicit `sync()` now and then),
/// and ONE failing fsync/fdatasync (EIO, any file) at a seeded call number aimed inside the calls a
/// fault-free run makes. Small memtables, WAL segments and checkpoint intervals put WAL switches,
/// flushes and checkpoints inside the window. Then:
///
/// 1. while the engine is still open, every key is read: every acknowledged write is visible, and
///    in the modes that sync before the ack, a value whose write's caller got an error may be served
///    only if it survives the power loss below (a write in doubt that was durable after all); one
///    served and then lost was a dirty read;
/// 2. a power loss is taken at that moment (`dropUnsynced`: what no successful sync covered is
///    gone, and what the failed sync covered is gone too) and the store reopened on it: every write
///    the mode made durable — acknowledged under `every-write` and `group` (cow.wal=false: every
///    mode but `none`), or acknowledged before a successful `sync()` began — must be there, no
///    delete undone, no value another key's;
/// 3. what the engine does next: once it has said it is read-only until reopened (lsm) or
///    poisoned (cow), a further write must fail (a failed sync it recovers from — the header sync
///    of a fresh lsm log it abandons, cow's spare segment prepared ahead — may leave it writable,
///    and a fault no call reported is noted); the store then reopens on the same file system (a
///    process restart) with every acknowledged write.
///
/// Engines: every registered file-layer engine (`FileLayerEngineDescriptor`: lsm, cow), with its
/// stress options and its fsync-failure hooks (`fsyncFailureConfigurations`: cow alternates its WAL
/// on and off; which files an acknowledgement depends on; what the engine says once it refuses
/// writes; its value sizes).
///
/// One `CrashRecord` per probe (method `fsync-failure`); `crash_point_or_time` is the fault that
/// fired (`EIO@fdatasync#12 wal t=4`), the detail holds the replay seeds and what broke.
/// Replay: the probe's choices come from `SeededRNG(seed:, stream: probe)`; the threads'
/// interleaving varies from run to run (that is the point: the sweep samples it).
public enum FsyncFailureSweep: CrashSweep {
    public static let method: CrashRecord.Method = .fsyncFailure
    public static func supports(engine: String) -> Bool { FileLayerEngines.supports(engine) }

    static let threadCounts = [1, 2, 4]

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try FileLayerEngines.sweep(Sweep(), context, method: method, does: "fails syncs", onRecord: onRecord)
    }
}

/// The sweep, specialised on the engine's descriptor and its engine type over the fault injector.
private struct Sweep: FileLayerSweepBody {
    var threadCounts: [Int] { FsyncFailureSweep.threadCounts }

    func run<D: FileLayerEngineDescriptor, E: StorageEngine>(_: D.Type, _: E.Type, _ context: CrashSweepContext,
                                                             _ onRecord: (CrashRecord) throws -> Void) throws {
        let configurations = D.fsyncFailureConfigurations(FileLayerEngines.stressed(D.self, settings: context.settings))
        var setup = FsyncSetup<D>(context, configurations[0])
        // Calibration: the syncs a fault-free run makes, per thread count and configuration.
        var calls: [String: Int] = [:]
        for t in threadCounts {
            for (c, configuration) in configurations.enumerated() {
                setup.configuration = configuration
                let fs = setup.freshFileSystem(seed: context.seed)
                let probe = FsyncProbe<D, E>(setup: setup, threads: t, seed: context.seed, fs: fs)
                let before = fs.callCounts
                _ = try probe.runWorkloadOnly()
                let after = fs.callCounts
                calls["\(t)-\(c)"] = max(1, (after[.fsync] ?? 0) + (after[.fdatasync] ?? 0)
                                         - (before[.fsync] ?? 0) - (before[.fdatasync] ?? 0))
            }
        }
        for probe in 0..<context.count {
            var rng = SeededRNG(seed: context.seed, stream: probe)
            let threads = threadCounts[probe % threadCounts.count]
            let c = (probe / threadCounts.count) % configurations.count
            setup.configuration = configurations[c]
            let n = calls["\(threads)-\(c)"] ?? 1
            let after = Int(rng.below(UInt64(n)))
            let fs = setup.freshFileSystem(seed: rng.next())
            // The failure is per 4 KiB page, as a page cache fails writeback: every other group of
            // six probes, every dirty page dropped; in the others, each written or dropped. A
            // dropped page dirtied again is written whole by the next good sync (its dropped bytes
            // come back), so no probe makes a state a real disk could not be left in.
            let some = (probe / (2 * threadCounts.count)) % 2 == 1
            fs.setSyncFailureModel(some ? .pages(4096) : .allPages(4096))
            var p = FsyncProbe<D, E>(setup: setup, threads: threads, seed: rng.next(), fs: fs)
            p.modelLabel = some ? "pages-4096" : "all-pages-4096"
            var record = p.run(probe: probe, after: after, sweepSeed: context.seed)
            record.cycle = probe
            try onRecord(record)
        }
    }
}

/// The engine under test, configured small (as the I/O-error sweep's): one of its descriptor's
/// `fsyncFailureConfigurations`.
struct FsyncSetup<D: FileLayerEngineDescriptor> {
    var engine: String
    var durability: DurabilityMode
    var configuration: (label: String, options: D.Options)
    var keysPerThread: Int
    var operations: Int
    let directory = "/store"

    init(_ context: CrashSweepContext, _ configuration: (label: String, options: D.Options)) {
        engine = context.engine
        durability = context.durability
        self.configuration = configuration
        keysPerThread = 12
        operations = 160
    }

    var options: D.Options { configuration.options }
    var syncsOnAck: Bool { D.syncsOnAck(options, durability: durability) }
    var label: String { configuration.label }

    func freshFileSystem(seed: UInt64) -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: seed)
        try! fs.createDirectory(directory, intermediates: true)  // in memory, fresh: cannot fail
        fs.makeEverythingDurable()
        return fs
    }

    /// Whether a failed sync of `path` must leave the engine refusing writes (the file an
    /// acknowledgement or a checkpoint depends on; lsm's tables and manifest fail the background
    /// work instead, which refuses writes once they need it).
    func isAckPathFile(_ path: String) -> Bool {
        D.acknowledgementsDependOn(fileNamed: path.split(separator: "/").last.map(String.init) ?? path)
    }

    /// The kind of file a failed sync hit, in the engine's words (as the io-error sweep names it).
    func fileKind(_ path: String) -> String {
        StoreFormat.of(engine: engine)?.kind(ofPath: path, in: directory) ?? path
    }
}

/// One write operation of a probe: its writes (key, version; 0 = delete), its logical invocation
/// and acknowledgement stamps (nil: it threw, its writes are in doubt).
struct FsyncOp {
    var writes: [(key: Int, version: UInt64)]
    var invoked: Int
    var acked: Int?
}

/// A probe's workload and checks, on the engine `D` opens over the fault injector (`E`).
struct FsyncProbe<D: FileLayerEngineDescriptor, E: StorageEngine> {
    let setup: FsyncSetup<D>
    let threads: Int
    let seed: UInt64
    let fs: FaultInjectingFileSystem
    /// The sync-failure model, for the record ("drop-all", "pages-4096").
    var modelLabel = "drop-all"

    var keyCount: Int { setup.keysPerThread * threads }
    func key(_ k: Int) -> [UInt8] { Array("fs-key-\(10_000 + k)".utf8) }

    /// What the writer threads did.
    struct Log {
        var ops: [FsyncOp] = []
        /// Successful `sync()` calls: their invocation stamps.
        var syncs: [Int] = []
        var errors = 0
        var firstError: String? = nil
        var unclear: String? = nil

        /// An error said the engine now refuses writes (lsm: read-only; cow: poisoned).
        var declaredReadOnly = false

        mutating func failed(_ what: String, _ error: any Error) {
            errors += 1
            let text = "\(error)"
            if text.contains("read-only") || text.contains("refuses further writes") { declaredReadOnly = true }
            if firstError == nil { firstError = "\(what): \(error)" }
            if let e = error as? OrbitError, e.errno != nil || e.message.contains("refuses") || e.code == .readOnly { return }
            if unclear == nil { unclear = "\(what): \(error)" }
        }
    }

    /// Calibration: the workload alone, fault-free; closes the engine.
    func runWorkloadOnly() throws -> [Log] {
        let e = try open(fs)
        let logs = workload(e)
        try e.close()
        return logs
    }

    /// The engine on `fs` (the probe's file system, or a power-loss state of it).
    func open(_ fs: FaultInjectingFileSystem) throws -> E {
        try D.open(as: E.self, fs: fs, directory: setup.directory, options: setup.options, durability: setup.durability)
    }

    /// The threads' writes. Thread t owns keys t, t + threads, t + 2·threads, ...
    func workload(_ engine: E) -> [Log] {
        let slots = ThreadSlots(threads, Log())
        let clock = LogicalClock()
        let perThread = max(1, setup.operations / threads)
        let explicitSyncs = !setup.syncsOnAck
        LabThreads.run(threads) { t in
            var rng = SeededRNG(seed: seed, stream: 1000 + t)
            var version = UInt64(t + 1) << 32
            slots.with(t) { log in
                for _ in 0..<perThread {
                    let r = rng.below(100)
                    if explicitSyncs && r < 4 {
                        let begin = clock.tick()
                        do { try engine.sync(); log.syncs.append(begin) } catch { log.failed("sync", error) }
                        continue
                    }
                    let n = r < 10 ? 2 + Int(rng.below(2)) : 1
                    var writes: [(key: Int, version: UInt64)] = []
                    var batch = WriteBatch()
                    for _ in 0..<n {
                        let k = t + threads * Int(rng.below(UInt64(setup.keysPerThread)))
                        if writes.contains(where: { $0.key == k }) { continue }
                        if rng.below(100) < 12 {
                            writes.append((k, 0))
                            batch.delete(key(k))
                        } else {
                            version += 1
                            writes.append((k, version))
                            batch.put(key(k), VersionedValueCodec.encode(key: key(k), version: version, size: valueSize(&rng)))
                        }
                    }
                    let invoked = clock.tick()
                    do {
                        if writes.count > 1 {
                            try engine.write(batch)
                        } else {
                            try batch.forEach { op, k, v in if op == .put { try engine.put(k, v) } else { try engine.delete(k) } }
                        }
                        log.ops.append(FsyncOp(writes: writes, invoked: invoked, acked: clock.tick()))
                    } catch {
                        log.ops.append(FsyncOp(writes: writes, invoked: invoked, acked: nil))
                        log.failed(writes.count > 1 ? "batch" : (writes[0].version == 0 ? "delete" : "put"), error)
                    }
                }
            }
        }
        return slots.all
    }

    /// The descriptor's sizes (cow: large enough that a probe crosses a 64 KiB WAL segment).
    func valueSize(_ rng: inout SeededRNG) -> Int {
        let sizes = D.fsyncFailureValueSizes
        return sizes.lowerBound + Int(rng.below(UInt64(sizes.count)))
    }

    /// Per key, its operations in program order (one thread owns each key).
    func perKey(_ logs: [Log]) -> [[FsyncOp]] {
        var out = [[FsyncOp]](repeating: [], count: keyCount)
        for log in logs { for op in log.ops { for w in op.writes { out[w.key].append(op) } } }
        return out
    }

    enum Finding { case ok, lost, resurrected, wrong, dirty }

    /// Checks `found` (the version read for key k, 0 absent, nil undecodable or another key's) against
    /// the writes to k: `required` says which acknowledged writes must be there.
    func check(_ k: Int, _ found: UInt64?, _ ops: [FsyncOp], required: (FsyncOp) -> Bool, allowInDoubt: Bool) -> Finding {
        guard let found else { return .wrong }
        func version(_ op: FsyncOp) -> UInt64 { op.writes.first { $0.key == k }!.version }
        let req = ops.lastIndex { $0.acked != nil && required($0) }
        // Candidates: the required write or any later one (acknowledged, or in doubt if allowed).
        let from = req ?? 0
        for (i, op) in ops.enumerated() where i >= from {
            if version(op) == found && (op.acked != nil || allowInDoubt) { return .ok }
        }
        if req == nil && found == 0 { return .ok }
        if !allowInDoubt, ops[from...].contains(where: { $0.acked == nil && version($0) == found }) { return .dirty }
        if found != 0 && !ops.contains(where: { version($0) == found }) { return .wrong }
        if let req, version(ops[req]) == 0 { return .resurrected }
        // A delete in doubt after the required write may explain an absent key only if allowed.
        return .lost
    }

    func readAll(_ engine: E) throws -> [UInt64?] {
        var out = [UInt64?](repeating: 0, count: keyCount)
        for k in 0..<keyCount {
            guard let v = try engine.get(key(k)) else { continue }
            if case .value(let kk, let version) = VersionedValueCodec.decode(v), kk == key(k) { out[k] = version } else { out[k] = nil }
        }
        return out
    }

    func run(probe: Int, after: Int, sweepSeed: UInt64) -> CrashRecord {
        var record = CrashRecord(cycle: probe, engine: setup.engine, durability: setup.durability.description, method: .fsyncFailure,
                                 crashPointOrTime: "", opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0, lostSynced: 0,
                                 lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)
        let replay = "seed=\(sweepSeed) probe=\(probe) threads=\(threads) fault_after=\(after) \(setup.label) sync_failure=\(modelLabel)"
        var problems: [String] = []
        var notes: [String] = []
        let engine: E
        do { engine = try open(fs) } catch {
            record.verdict = .broken
            record.detail = "the fault-free open failed: \(error); \(replay)"
            return record
        }
        fs.inject(Fault(.ioError, on: FileOperation.fileSyncs, after: after, count: 1))
        let logs = workload(engine)
        var merged = Log()
        for l in logs {
            merged.ops += l.ops
            merged.syncs += l.syncs
            merged.errors += l.errors
            if merged.firstError == nil { merged.firstError = l.firstError }
            if merged.unclear == nil { merged.unclear = l.unclear }
            merged.declaredReadOnly = merged.declaredReadOnly || l.declaredReadOnly
        }
        let fired = fs.firedFaults.first
        record.crashPointOrTime = (fired.map { "\($0.errno.name)@\($0.operation.rawValue)#\($0.call) \(setup.fileKind($0.path))" }
                                   ?? "EIO@sync#\(after + 1) (not reached)") + " t=\(threads)"
        var keyOps = perKey(logs)
        let syncs = merged.syncs.sorted()
        let syncsOnAck = setup.syncsOnAck
        func durable(_ op: FsyncOp) -> Bool {
            // The probe write after the workload (acked Int.max) came after the power loss.
            guard let acked = op.acked, acked != Int.max else { return false }
            return syncsOnAck || syncs.contains { $0 > acked }
        }

        // 1. The live engine: acknowledged writes visible. A value whose write's caller got an error
        // may be served only if it then survives the power loss (the write was in doubt but durable:
        // lsm reports a failure to a waiter whose record a sync had covered); one that is served and
        // then lost was a dirty read (judged after the reopen, below).
        var dirtyServed: [(key: Int, version: UInt64)] = []
        do {
            let live = try readAll(engine)
            var lost = 0, wrong = 0
            for k in 0..<keyCount {
                switch check(k, live[k], keyOps[k], required: { _ in true }, allowInDoubt: false) {
                case .ok: break
                case .dirty: dirtyServed.append((k, live[k]!))
                case .wrong: wrong += 1
                case .lost, .resurrected: lost += 1
                }
            }
            if lost > 0 { problems.append("\(lost) acknowledged write(s) not visible while the engine was open") }
            if wrong > 0 { problems.append("\(wrong) wrong value(s) while open") }
        } catch { notes.append("reads while open failed: \(error)") }

        // 2. The power loss at this moment.
        var noRandom = SeededRNG(seed: 0)  // dropUnsynced makes no random choice
        let lost = fs.powerLoss(.dropUnsynced, rng: &noRandom)

        // 3. What the engine does next: once it has said it is read-only (lsm) or poisoned (cow), no
        // write may succeed until it is reopened. (A failed sync it recovers from, such as the header
        // sync of a fresh lsm log it then abandons, may leave it writable: a note.)
        let ackPathFault = fired.map { setup.isAckPathFile($0.path) } ?? false
        let declared = merged.declaredReadOnly
        if fired != nil {
            let v = UInt64(1) << 60
            var probeWriteOK = false
            do {
                try engine.put(key(0), VersionedValueCodec.encode(key: key(0), version: v, size: 40))
                probeWriteOK = true
            } catch { merged.failed("put after the fault", error) }
            keyOps[0].append(FsyncOp(writes: [(0, v)], invoked: Int.max - 1, acked: probeWriteOK ? Int.max : nil))
            if probeWriteOK && declared {
                problems.append("a write was acknowledged after the engine said it was " + D.writeRefusalAfterFailedSync)
            } else if probeWriteOK && ackPathFault {
                notes.append("still writable after the failed \(fired!.operation.rawValue) of \(fired!.path)")
            }
        }
        var closeError: String? = nil
        do { try engine.close() } catch { closeError = "\(error)"; merged.failed("close", error) }
        fs.clearFaults()  // the reopens below run fault-free (an unfired rule must not hit them)
        // A fault no call reported is a note, not a broken promise: background work that is retried
        // (cow prepares a spare WAL segment ahead of need and drops its own failure) may swallow it;
        // what it would cost shows up above as a lost write.
        if fired != nil && merged.errors == 0 { notes.append("no call reported the failed \(fired!.operation.rawValue) of \(fired!.path)") }
        if let u = merged.unclear { problems.append("unclear error: \(u)") }
        _ = closeError

        // 4. Reopen after the power loss: every durable write there.
        let start = MonotonicClock.nanoseconds()
        var lostSynced = 0, resurrected = 0, wrong = 0, recovered = 0
        do {
            let reopened = try open(lost)
            _ = try reopened.get(key(0))
            record.recoveryMs = Double(MonotonicClock.nanoseconds() &- start) / 1e6
            let state = try readAll(reopened)
            try reopened.close()
            // In the modes that sync before the ack, what readers see must be durable; in the others
            // readers see unsynced writes by design.
            for (k, served) in dirtyServed where syncsOnAck {
                let ops = keyOps[k]
                func index(_ v: UInt64?) -> Int { ops.lastIndex { $0.writes.contains { $0.key == k && $0.version == v } } ?? -1 }
                if index(state[k]) < index(served) {
                    problems.append("key \(k) served v\(served), whose write's caller got an error, and lost it at the power loss (a dirty read)")
                }
            }
            for k in 0..<keyCount {
                if state[k] != 0 { recovered += 1 }
                switch check(k, state[k], keyOps[k], required: durable, allowInDoubt: true) {
                case .ok, .dirty: break
                case .lost: lostSynced += 1
                case .resurrected: resurrected += 1
                case .wrong: wrong += 1
                }
            }
        } catch { problems.append("reopen after the power loss failed: \(error)") }
        if lostSynced + resurrected + wrong > 0 {
            problems.append("after the power loss: \(lostSynced) durable write(s) lost, \(resurrected) delete(s) undone, \(wrong) wrong value(s)")
        }
        record.storeBytes = lost.usedBytes

        // 5. A process restart on the same file system: every acknowledged write there.
        do {
            let reopened = try open(fs)
            let state = try readAll(reopened)
            try reopened.close()
            var missing = 0
            for k in 0..<keyCount {
                switch check(k, state[k], keyOps[k], required: { _ in true }, allowInDoubt: true) {
                case .ok, .dirty: break
                default: missing += 1
                }
            }
            if missing > 0 { problems.append("reopened without a power loss: \(missing) acknowledged write(s) missing or wrong") }
        } catch { problems.append("reopen on the same file system failed: \(error)") }

        record.opsAcknowledged = merged.ops.count { $0.acked != nil }
        record.opsSynced = merged.ops.count(where: durable)
        record.opsRecovered = recovered
        record.lostSynced = lostSynced
        record.resurrected = resurrected
        record.verdict = problems.isEmpty ? .ok : .broken
        var detail: [String] = []
        if !problems.isEmpty { detail.append("BROKEN: " + problems.joined(separator: " | ")) }
        detail.append("\(merged.errors) error(s)" + (merged.firstError.map { ", first: \($0)" } ?? ""))
        if let f = fired { detail.append("fault at \(f.path)") }
        detail += notes
        detail.append(replay)
        record.detail = detail.joined(separator: "; ")
        return record
    }
}

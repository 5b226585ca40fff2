import OrbitCore

/// Disk-full and I/O errors (issue 5, part 4): each probe runs a small seeded workload (puts,
/// deletes, batches, gets, short scans, syncs) on a fresh store on a `FaultInjectingFileSystem`, with one fault
/// injected — during the workload, or (one probe in five) before a reopen half way, into
/// recovery — (ENOSPC or EIO on write/append, EIO on read, EIO on fsync/fdatasync/directory sync,
/// ENOSPC on truncate or create, EIO on rename) at a seeded call number, once or sticky. Small
/// memtables, pages and WAL segments make the background work (flushes, compactions,
/// checkpoints) run, so faults land there too.
///
/// Each probe checks the issue's rules and is one `CrashRecord` (method `io-error`):
/// - every failing call throws a clear error: an `OrbitError` naming the errno and a file;
/// - reads, with the fault still active, return a correct value or an error, never a wrong one;
/// - the fault must surface: a fault that fired is reported by an operation, `sync()` or `close()`;
/// - after the fault clears, the store closes and reopens on the same file system with every
///   acknowledged write present and no deleted key back;
/// - a power-loss state taken at the end of the workload (unsynced changes dropped, and those a
///   failed sync dropped: fsyncgate) reopens with every durable write present
///   (acknowledged under `every-write`/`group`, or covered by a successful `sync()`): a failed
///   sync followed by acknowledging the writes it covered shows up here as a lost write.
///
/// Engines: every registered file-layer engine (`FileLayerEngineDescriptor`: lsm, cow), with its
/// stress options. `rocksdb` and `lmdb` do their own I/O, which this file system cannot reach.
public enum IOErrorSweep: CrashSweep {
    public static let method: CrashRecord.Method = .ioError

    public static func supports(engine: String) -> Bool { FileLayerEngines.supports(engine) }

    /// The faults a probe picks from (uniformly).
    static let menu: [(Errno, FileOperation)] = [
        (.noSpace, .write), (.noSpace, .append), (.ioError, .write), (.ioError, .append),
        (.ioError, .read), (.ioError, .fsync), (.ioError, .fdatasync), (.ioError, .syncDirectory),
        (.noSpace, .truncate), (.noSpace, .open), (.ioError, .rename),
    ]

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try FileLayerEngines.sweep(Body(), context, method: method, does: "injects faults", onRecord: onRecord)
    }

    /// The sweep, specialised on the engine's descriptor and its engine type over the fault injector.
    private struct Body: FileLayerSweepBody {
        func run<D: FileLayerEngineDescriptor, E: StorageEngine>(_: D.Type, _: E.Type, _ context: CrashSweepContext,
                                                                 _ onRecord: (CrashRecord) throws -> Void) throws {
            let options = FileLayerEngines.stressed(D.self, settings: context.settings)
            let setup = EngineSetup(context, qualifier: D.durabilityQualifier(options))
            let durability = context.durability
            try sweep(context, setup, open: { fs in
                try D.open(as: E.self, fs: fs, directory: setup.directory, options: options, durability: durability)
            }, onRecord: onRecord)
        }
    }

    static func sweep<E: StorageEngine>(_ context: CrashSweepContext, _ setup: EngineSetup,
                                        open: (FaultInjectingFileSystem) throws -> E,
                                        onRecord: (CrashRecord) throws -> Void) throws {
        // Calibration: a fault-free run counts the calls of each kind, so faults are aimed inside it.
        var calls: [FileOperation: Int] = [:]
        var reopenCalls: [FileOperation: Int] = [:]
        do {
            let fs = setup.freshFileSystem(seed: context.seed)
            let engine = try open(fs)
            let before = fs.callCounts
            var rng = SeededRNG(seed: context.seed ^ 0xCA11_B4A7E)
            var history = WriteHistory(keys: setup.keys, valueSize: context.valueSize)
            var log = ProbeLog()
            runWorkload(engine, setup, &history, &log, &rng, operations: setup.operations)
            try engine.close()
            let afterWorkload = fs.callCounts
            for (op, n) in afterWorkload { calls[op] = n - (before[op] ?? 0) }
            // And the calls a reopen of that store makes (recovery: reads, replay, cleanup).
            try open(fs).close()
            for (op, n) in fs.callCounts { reopenCalls[op] = n - (afterWorkload[op] ?? 0) }
        }
        // Faults go only into calls the workload makes (cow reads pages on cache misses; lsm
        // writes in place only for CURRENT).
        let menu = Self.menu.filter { (calls[$0.1] ?? 0) > 0 }
        let reopenMenu = Self.menu.filter { (reopenCalls[$0.1] ?? 0) > 0 }
        for probe in 0..<context.count {
            try onRecord(runProbe(probe, context, setup, calls, menu, reopenCalls, reopenMenu, open: open))
        }
    }

    /// One probe: a fresh store, one fault, the workload, the checks.
    static func runProbe<E: StorageEngine>(_ probe: Int, _ context: CrashSweepContext, _ setup: EngineSetup,
                                           _ calls: [FileOperation: Int], _ menu: [(Errno, FileOperation)],
                                           _ reopenCalls: [FileOperation: Int], _ reopenMenu: [(Errno, FileOperation)],
                                           open: (FaultInjectingFileSystem) throws -> E) throws -> CrashRecord {
        var rng = SeededRNG(seed: context.seed, stream: probe)
        // One probe in five arms its fault before a reopen half way: recovery's calls fail.
        let atReopen = rng.below(5) == 0 && !reopenMenu.isEmpty
        let (errno, operation) = atReopen ? reopenMenu[Int(rng.below(UInt64(reopenMenu.count)))] : menu[Int(rng.below(UInt64(menu.count)))]
        let after = Int(rng.below(UInt64(max(1, (atReopen ? reopenCalls : calls)[operation] ?? 1))))
        let sticky = rng.below(10) < 3
        let fault = Fault(errno, on: operation, after: after, count: sticky ? nil : 1)
        let fs = setup.freshFileSystem(seed: rng.next())
        var history = WriteHistory(keys: setup.keys, valueSize: context.valueSize)
        var log = ProbeLog()
        var record = CrashRecord(cycle: probe, engine: context.engine, durability: setup.durabilityLabel, method: .ioError,
                                 crashPointOrTime: "", opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0, lostSynced: 0,
                                 lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)

        var engine: E
        do { engine = try open(fs) } catch {
            record.verdict = .broken
            record.detail = "the fault-free open failed: \(error)"
            return record
        }
        if atReopen {
            runWorkload(engine, setup, &history, &log, &rng, operations: setup.operations / 2)
            do { try engine.close() } catch { log.problems.append("a fault-free close failed: \(error)") }
            fs.inject(fault)
            do { engine = try open(fs) } catch {
                // The open fails with a clear error; once the fault clears, the store opens.
                log.failed("open", error)
                fs.clearFaults()
                do { engine = try open(fs) } catch {
                    record.verdict = .broken
                    record.crashPointOrTime = fs.firedFaults.first.map { "\($0.errno.name)@\($0.operation.rawValue)#\($0.call) open" } ?? "open"
                    record.detail = "the open after the fault cleared failed: \(error)"
                    return record
                }
            }
            runWorkload(engine, setup, &history, &log, &rng, operations: setup.operations - setup.operations / 2)
        } else {
            fs.inject(fault)
            runWorkload(engine, setup, &history, &log, &rng, operations: setup.operations)
        }
        // The end of the workload, with the fault still active: a sync, then every key read back.
        do { try engine.sync(); history.synced() } catch { log.failed("sync", error) }
        var readBack = log.readsDuringFault
        readAll(engine, history, .acknowledged, &log, into: &readBack)
        log.readsDuringFault = readBack

        // A power loss at this moment (the engine is still open, as at a real one). Only what was
        // not synced is dropped (plus what a failed sync dropped): torn and partly kept unsynced
        // writes are the power-loss sweep's subject, not this one's.
        let lossMode = PowerLossMode.dropUnsynced
        let lost = fs.powerLoss(lossMode, rng: &rng)

        // The fault clears; the engine closes (reporting what failed), and the store reopens on the
        // same file system with everything acknowledged.
        let fired = fs.firedFaults
        fs.clearFaults()
        do { try engine.close() } catch { log.failed("close", error) }
        var afterClear = Counts()
        do {
            let reopened = try open(fs)
            readAll(reopened, history, .acknowledged, &log, into: &afterClear)
            try reopened.close()
        } catch { log.problems.append("reopen after the fault cleared failed: \(error)") }

        // The power-loss state reopens with everything durable.
        var afterLoss = Counts()
        let start = MonotonicClock.nanoseconds()
        do {
            let reopened = try open(lost)
            var firstRead = true
            readAll(reopened, history, .durable, &log, into: &afterLoss) {
                if firstRead { record.recoveryMs = Double(MonotonicClock.nanoseconds() - start) / 1e6; firstRead = false }
            }
            try reopened.close()
        } catch { log.problems.append("reopen after a power loss (\(lossMode)) failed: \(error)") }
        record.storeBytes = setup.storeBytes(lost)

        // The verdict.
        let firedText = fired.first.map { f in "\(f.errno.name)@\(f.operation.rawValue)#\(f.call) \(setup.fileKind(f.path))" }
        record.crashPointOrTime = (firedText ?? "\(errno.name)@\(operation.rawValue)#\(after + 1) (not reached)") + (sticky ? " sticky" : "")
            + (atReopen ? " at-reopen" : "")
        // A fault no call reported is a note, not a broken promise: background work that is retried
        // (a spare WAL segment prepared ahead of need) may drop its own failure.
        let unreported = !fired.isEmpty && log.errors == 0
        if log.unclear > 0 { log.problems.append("\(log.unclear) unclear error(s), first: \(log.firstUnclear ?? "")") }
        if log.readsDuringFault.wrong > 0 { log.problems.append("\(log.readsDuringFault.wrong) wrong value(s) read during the fault") }
        if log.readsDuringFault.lost > 0 { log.problems.append("\(log.readsDuringFault.lost) acknowledged write(s) not visible during the fault") }
        if afterClear.lost + afterClear.wrong + afterClear.resurrected > 0 {
            log.problems.append("reopened after the fault: \(afterClear.lost) acknowledged lost, \(afterClear.resurrected) resurrected, \(afterClear.wrong) wrong")
        }
        if afterLoss.lost + afterLoss.wrong + afterLoss.resurrected > 0 {
            log.problems.append("after \(lossMode): \(afterLoss.lost) durable lost, \(afterLoss.resurrected) resurrected, \(afterLoss.wrong) wrong")
        }
        record.opsAcknowledged = history.acknowledgedCount
        record.opsSynced = history.durableCount
        record.opsRecovered = afterLoss.present
        record.lostSynced = afterLoss.lost + afterClear.lost + log.readsDuringFault.lost
        record.lostUnsynced = afterLoss.olderAllowed
        record.resurrected = afterLoss.resurrected + afterClear.resurrected + log.readsDuringFault.resurrected
        record.verdict = log.problems.isEmpty ? .ok : .broken
        var detail = ["\(log.errors) error(s)" + (log.firstError.map { ", first: \($0)" } ?? "")]
        if let path = fired.first?.path { detail.append("fault at \(path)") }
        if unreported { detail.append("no call reported the fault (retried background work)") }
        detail += log.problems
        detail.append("power loss: \(lost.powerLossDescription ?? "")")
        record.detail = detail.joined(separator: " | ")
        return record
    }

    /// The workload: `setup.operations` puts, deletes, batches, reads and syncs on random keys.
    /// A call that throws leaves its writes in doubt; the workload goes on (reads must keep
    /// working; writes may be refused).
    static func runWorkload<E: StorageEngine>(_ engine: E, _ setup: EngineSetup, _ history: inout WriteHistory,
                                              _ log: inout ProbeLog, _ rng: inout SeededRNG, operations: Int) {
        let durableAck = setup.durability.syncsBeforeAck
        for _ in 0..<operations {
            let r = rng.below(100)
            let k = Int(rng.below(UInt64(history.keyCount)))
            switch r {
            case 0..<45:
                let id = history.begin(key: k, isPut: true)
                do {
                    try engine.put(WriteHistory.key(k), history.value(id))
                    history.finish([id], acknowledged: true, durable: durableAck)
                } catch { history.finish([id], acknowledged: false, durable: false); log.failed("put", error) }
            case 45..<60:
                let id = history.begin(key: k, isPut: false)
                do {
                    try engine.delete(WriteHistory.key(k))
                    history.finish([id], acknowledged: true, durable: durableAck)
                } catch { history.finish([id], acknowledged: false, durable: false); log.failed("delete", error) }
            case 60..<72:
                var batch = WriteBatch()
                var ids: [Int] = []
                for _ in 0..<(2 + Int(rng.below(3))) {
                    let key = Int(rng.below(UInt64(history.keyCount)))
                    let isPut = rng.below(4) != 0
                    let id = history.begin(key: key, isPut: isPut)
                    ids.append(id)
                    let kb = WriteHistory.key(key)
                    if isPut {
                        let v = history.value(id)
                        kb.withUnsafeBytes { kp in v.withUnsafeBytes { batch.put(kp, $0) } }
                    } else {
                        kb.withUnsafeBytes { batch.delete($0) }
                    }
                }
                do {
                    try engine.write(batch)
                    history.finish(ids, acknowledged: true, durable: durableAck)
                } catch { history.finish(ids, acknowledged: false, durable: false); log.failed("batch", error) }
            case 72..<88:
                do {
                    let v = try engine.get(WriteHistory.key(k))
                    log.readsDuringFault.add(history.check(k, v, .acknowledged), present: v != nil)
                } catch { log.failed("get", error) }
            case 88..<95:
                // A short scan: a page read on demand (cow) can fail here too; what it returns
                // must be right.
                do {
                    try WriteHistory.key(k).withUnsafeBytes { start in
                        try engine.scan(from: start, to: nil, limit: 8) { key, v in
                            if let n = WriteHistory.index(ofKey: key), n < history.keyCount {
                                log.readsDuringFault.add(history.check(n, [UInt8](v), .acknowledged), present: true)
                            }
                            return true
                        }
                    }
                } catch { log.failed("scan", error) }
            default:
                do { try engine.sync(); history.synced() } catch { log.failed("sync", error) }
            }
        }
    }

    /// Reads every key back and checks it against `rule`; a read that throws is logged (it must be
    /// a clear error) and counts as neither right nor wrong.
    static func readAll<E: StorageEngine>(_ engine: E, _ history: WriteHistory, _ rule: WriteHistory.Rule,
                                          _ log: inout ProbeLog, into counts: inout Counts, afterFirst: () -> Void = {}) {
        for k in 0..<history.keyCount {
            do {
                let v = try engine.get(WriteHistory.key(k))
                afterFirst()
                counts.add(history.check(k, v, rule), present: v != nil)
            } catch { log.failed("get", error) }
        }
    }
}

/// Tallies of read-back findings.
struct Counts {
    var present = 0, lost = 0, wrong = 0, resurrected = 0, olderAllowed = 0

    mutating func add(_ f: WriteHistory.Finding, present isPresent: Bool) {
        if isPresent { present += 1 }
        switch f {
        case .current: break
        case .olderAllowed: olderAllowed += 1
        case .lost: lost += 1
        case .resurrected: resurrected += 1
        case .wrong: wrong += 1
        }
    }
}

/// What went wrong in one probe.
struct ProbeLog {
    var errors = 0
    var firstError: String?
    var unclear = 0
    var firstUnclear: String?
    var readsDuringFault = Counts()
    var problems: [String] = []

    /// A call threw: it must be a clear error (an `OrbitError` naming the errno and a file).
    mutating func failed(_ call: String, _ error: any Error) {
        errors += 1
        if firstError == nil { firstError = "\(call): \(error)" }
        if let e = error as? OrbitError, e.errno != nil, let location = e.location, !location.isEmpty { return }
        unclear += 1
        if firstUnclear == nil { firstUnclear = "\(call): \(error)" }
    }
}

/// The probe's shape, for the engine under test (configured small, by its descriptor's `stressed`,
/// so background work runs within a probe).
struct EngineSetup {
    var engine: String
    var durability: DurabilityMode
    var keys: Int
    var operations: Int
    let directory = "/store"
    /// The durability column: the mode, and what the engine's options add ("none wal=false").
    var durabilityLabel: String

    init(_ context: CrashSweepContext, qualifier: String?) {
        engine = context.engine
        durability = context.durability
        keys = max(8, min(context.recordCount, 64))
        operations = 200
        durabilityLabel = qualifier.map { "\(context.durability) \($0)" } ?? "\(context.durability)"
    }

    /// A file system holding the store's (empty) directory, durable, as a set-up step makes it.
    func freshFileSystem(seed: UInt64) -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: seed)
        try! fs.createDirectory(directory, intermediates: true)  // in memory, on a fresh file system: cannot fail
        fs.makeEverythingDurable()
        return fs
    }

    /// The kind of file a fault hit, in the engine's words ("wal", "sstable", "data-page", "wal-segment",
    /// the store's "directory"; a file the engine does not know by its name).
    func fileKind(_ path: String) -> String {
        StoreFormat.of(engine: engine)?.kind(ofPath: path, in: directory) ?? path
    }

    func storeBytes(_ fs: FaultInjectingFileSystem) -> Int64 {
        let names = (try? fs.list(directory: directory)) ?? []
        return names.reduce(0) { $0 + ((try? fs.fileSize(joinPath(directory, $1))) ?? 0) }
    }
}

import OrbitCore

/// Simulated power loss for the hand-written engines (issue 5, part 2), on `FaultInjectingFileSystem`.
///
/// For each state: run a small random workload (puts with versioned values, overwrites, deletes,
/// write batches, syncs, flushes or checkpoints) with the engine's crash points armed, until one
/// fires or the file system is crashed between operations or at a mutating call; take a power-loss
/// state (the modes of `PowerLossMode.powerLossModes` in turn); reopen the engine on it (now and
/// then crashing the reopen too, and power-losing again); read every key back (scan and get); and
/// check the prefix rule with `HistoryOracle`. Then continue on the recovered store for a few more
/// cycles, and start a fresh store. cow stores alternate `cow.wal=true` and `false` (WAL mode only
/// under `none`: pure copy-on-write without syncs does not promise to survive a power loss).
///
/// One `CrashRecord` per state: crash point (or "op=N", "call#N ..."), the counts, recovery time,
/// verdict, and in `detail` the power-loss mode, the seeds that replay it and what broke.
///
/// Replay: every random choice of state `i` comes from `stateSeed(sweepSeed, i)` and of its store
/// from `storeSeed`; background threads (LSM flush and compaction, cow checkpoints, periodic syncs)
/// make the interleaving, and so the exact state, vary from run to run.
public enum PowerLossSweep: CrashSweep {
    public static var method: CrashRecord.Method { .powerLoss }
    /// Every registered engine that does its I/O through the file layer.
    public static func supports(engine: String) -> Bool { FileLayerEngines.supports(engine) }

    /// Crash cycles on one store before a fresh one.
    public static let cyclesPerStore = 4
    /// Keys the workload uses (small, so overwrites and deletes of live keys are common).
    public static let keyCount = 120
    /// Operations at most before a cycle crashes anyway.
    public static let maxOperations = 300

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try FileLayerEngines.sweep(Body(), context, encrypts: true, onRecord: onRecord) {
            OrbitError(.invalidArgument, "power-loss sweep: engine '\(context.engine)' does not run on the file layer",
                       hint: "power loss is simulated for the engines that do their I/O through it: "
                           + FileLayerEngines.names.joined(separator: ", "))
        }
    }

    /// The sweep, specialised on the engine's descriptor and its engine type over the fault injector.
    private struct Body: FileLayerSweepBody {
        func run<D: FileLayerEngineDescriptor, E: StorageEngine>(_: D.Type, _: E.Type, _ context: CrashSweepContext,
                                                                 _ onRecord: (CrashRecord) throws -> Void) throws {
            let durability = context.durability
            let key = try FileLayerEngines.encryptionKey(context.settings)
            try sweep(context, onRecord) { rng, store in DescriptorDriver<D, E>(rng: &rng, store: store, durability: durability, key: key) }
        }
    }

    public static func stateSeed(_ seed: UInt64, _ state: Int) -> UInt64 { fnv1a64(seed ^ UInt64(state) &* 0x9E37_79B9_7F4A_7C15) }
    public static func storeSeed(_ seed: UInt64, _ store: Int) -> UInt64 { fnv1a64(~seed ^ UInt64(store) &* 0xC2B2_AE3D_27D4_EB4F) }

    static func sweep<D: PowerLossDriver>(_ context: CrashSweepContext, _ onRecord: (CrashRecord) throws -> Void,
                                          _ makeDriver: (inout SeededRNG, Int) -> D) throws {
        var state = 0
        var store = 0
        while state < context.count {
            var storeRNG = SeededRNG(seed: storeSeed(context.seed, store))
            let driver = makeDriver(&storeRNG, store)
            var cycle = 0
            var run = StoreRun(driver: driver, context: context, store: store)
            defer { run.finish() }
            do { try run.start() } catch {
                throw OrbitError(.io, "power-loss sweep: could not create a fresh \(context.engine) store: \(error)",
                                 at: "store \(store), seed \(context.seed)")
            }
            while cycle < cyclesPerStore && state < context.count {
                let record = run.cycle(state: state, cycle: cycle)
                try onRecord(record)
                state += 1
                cycle += 1
                if record.verdict == .broken { break }  // a fresh store: a broken one would cascade
            }
            store += 1
        }
    }
}

/// One store's life: the engine on the current file system, the oracle, the cycles.
struct StoreRun<D: PowerLossDriver> {
    let driver: D
    let context: CrashSweepContext
    let store: Int
    let directory = "/store"
    var fs = FaultInjectingFileSystem()
    var engine: D.Engine?
    var oracle = HistoryOracle(keyCount: PowerLossSweep.keyCount)
    /// Version → key, for every write ever made (tells a stale value from another key's).
    var versionKey: [UInt64: Int] = [:]
    var nextVersion: UInt64 = 1
    let keys: [[UInt8]]
    let keyIndex: [[UInt8]: Int]

    init(driver: D, context: CrashSweepContext, store: Int) {
        self.driver = driver
        self.context = context
        self.store = store
        keys = (0..<PowerLossSweep.keyCount).map { Array("pl-\(store)-key-\(1000 + $0)".utf8) }
        var index: [[UInt8]: Int] = [:]
        for (i, k) in keys.enumerated() { index[k] = i }
        keyIndex = index
    }

    mutating func start() throws {
        fs = FaultInjectingFileSystem(seed: PowerLossSweep.storeSeed(context.seed, store))
        try fs.createDirectory(directory, intermediates: true)
        try fs.syncDirectory("/")
        engine = try driver.open(fs, directory, context.durability)
    }

    mutating func finish() {
        if let e = engine { try? e.close() }
        engine = nil
    }

    /// One crash, power loss, recovery and verification.
    mutating func cycle(state: Int, cycle: Int) -> CrashRecord {
        let seed = PowerLossSweep.stateSeed(context.seed, state)
        var rng = SeededRNG(seed: seed)
        let mode = PowerLossMode.powerLossModes[state % PowerLossMode.powerLossModes.count]
        var record = CrashRecord(cycle: cycle, engine: context.engine, durability: context.durability.description,
                                 method: .powerLoss, crashPointOrTime: "", opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0,
                                 lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .broken, storeBytes: 0)
        var notes: [String] = []
        let replay = "seed=\(context.seed) state=\(state) state_seed=0x\(String(seed, radix: 16)) store=\(store) cycle=\(cycle)"

        // Arm the crash points, and one more trigger: a crash between operations or at a call.
        for (name, p) in driver.crashPoints(context.durability) { fs.arm(name, probability: p, seed: rng.next()) }
        let crashAtOp = 1 + Int(rng.below(UInt64(PowerLossSweep.maxOperations)))
        if rng.below(2) == 0 { fs.crashAfter(mutatingCalls: 1 + Int(rng.below(1_500))) }

        // The workload, until the file system dies.
        var opNumber = 0
        var failure: String? = nil
        if let engine {
            while fs.crashed == nil && opNumber < crashAtOp {
                opNumber += 1
                do { try step(engine, &rng) } catch {
                    if !((error as? OrbitError)?.isSimulatedCrash ?? false) || fs.crashed == nil {
                        failure = "operation \(opNumber) failed without a crash: \(error)"
                    }
                    break
                }
            }
        }
        if fs.crashed == nil { fs.crash("op=\(opNumber)") }
        record.crashPointOrTime = fs.crashed ?? "op=\(opNumber)"
        record.opsAcknowledged = oracle.history.count
        record.opsSynced = oracle.synced
        // The crashed engine may not write any more (its file system is dead); it must close or
        // be freed without taking the process down.
        if let e = engine { try? e.close() }
        engine = nil
        fs.disarm()

        // The power loss, and the reopen (crashed too, now and then, and power-lost again).
        var lost = fs.powerLoss(mode, rng: &rng)
        notes.append(lost.powerLossDescription ?? mode.description)
        var reopened: D.Engine? = nil
        let t0 = MonotonicClock.nanoseconds()
        do {
            if rng.below(5) == 0 {
                // Crash the recovery itself (or the background work it starts), then lose power again.
                lost.crashAfter(mutatingCalls: Int(rng.below(40)))
                let e = try? driver.open(lost, directory, context.durability)
                lost.disarm()
                if let crashedAt = lost.crashed {
                    if let e { try? e.close() }
                    let second = PowerLossMode.powerLossModes[Int(rng.below(UInt64(PowerLossMode.powerLossModes.count)))]
                    record.crashPointOrTime += " +reopen:\(crashedAt)"
                    lost = lost.powerLoss(second, rng: &rng)
                    notes.append("reopen crashed, then " + (lost.powerLossDescription ?? second.description))
                } else if let e {
                    reopened = e
                }
            }
            if reopened == nil { reopened = try driver.open(lost, directory, context.durability) }
            _ = try reopened!.get(keys[0])
        } catch {
            record.recoveryMs = Double(MonotonicClock.nanoseconds() &- t0) / 1e6
            record.storeBytes = lost.usedBytes
            record.detail = "REOPEN FAILED: \(error); " + notes.joined(separator: "; ") + "; " + replay + "; " + driver.configLabel
            if let r = reopened { try? r.close() }
            fs = lost
            return record
        }
        record.recoveryMs = Double(MonotonicClock.nanoseconds() &- t0) / 1e6
        record.storeBytes = lost.usedBytes
        let engine = reopened!

        // Read everything back and judge it.
        var recovered = [UInt64](repeating: 0, count: keys.count)
        var wrong: Set<Int> = []
        var problems: [String] = []
        if let f = failure { problems.append(f) }
        do {
            var seen = 0
            try engine.scan(from: nil, to: nil, limit: 0) { k, v in
                seen += 1
                guard let i = keyIndex[[UInt8](k)] else {
                    problems.append("unknown key \(String(decoding: k, as: UTF8.self)) in a scan")
                    return true
                }
                switch VersionedValueCodec.decode([UInt8](v)) {
                case .value(let key, let version) where key == keys[i] && versionKey[version] == i:
                    recovered[i] = version
                case .value(_, let version):
                    wrong.insert(i); problems.append("key \(i): value v\(version) of another key")
                case .garbage(let why):
                    wrong.insert(i); problems.append("key \(i): \(why)")
                }
                return true
            }
            for (i, k) in keys.enumerated() {
                let got = try engine.get(k)
                let version: UInt64
                if let got, case .value(_, let v) = VersionedValueCodec.decode(got) { version = v } else { version = got == nil ? 0 : UInt64.max }
                if version != recovered[i] && !wrong.contains(i) {
                    wrong.insert(i); problems.append("key \(i): get says v\(version), scan v\(recovered[i])")
                }
            }
        } catch {
            problems.append("reading back failed: \(error)")
        }
        let verdict = oracle.verify(recovered, wrong: wrong)
        record.opsRecovered = verdict.prefix ?? 0
        record.lostSynced = verdict.lostSynced
        record.lostUnsynced = verdict.lostUnsynced
        record.resurrected = verdict.resurrected
        record.verdict = verdict.ok && problems.isEmpty ? .ok : .broken
        problems.append(contentsOf: verdict.problems)
        if verdict.inFlightApplied { notes.append("in-flight op applied") }
        record.detail = (problems.isEmpty ? [] : ["BROKEN: " + problems.prefix(6).joined(separator: " | ")])
            .joined() + (problems.isEmpty ? "" : "; ") + notes.joined(separator: "; ") + "; " + replay + "; " + driver.configLabel

        oracle.rebase(onto: recovered)
        fs = lost
        self.engine = engine
        return record
    }

    /// One random operation of the workload, recorded in the oracle.
    mutating func step(_ engine: D.Engine, _ rng: inout SeededRNG) throws {
        let r = rng.below(100)
        switch r {
        case 0..<4:
            try engine.sync()
            oracle.markSynced()
            return
        case 4..<6:
            if try driver.persist(engine, context.durability) { oracle.markSynced() }
            return
        default: break
        }
        var writes: [HistoryOracle.Write] = []
        var batch = WriteBatch()
        let entries = r < 14 ? 2 + Int(rng.below(7)) : 1
        for _ in 0..<entries {
            let live = (0..<keys.count).filter { oracle.current[$0] != 0 }
            let deleting = rng.below(100) < 22
            let k: Int
            if (deleting || rng.below(100) < 35), !live.isEmpty { k = live[Int(rng.below(UInt64(live.count)))] }
            else { k = Int(rng.below(UInt64(keys.count))) }
            if deleting {
                writes.append(.init(key: k, version: 0))
                batch.delete(keys[k])
            } else {
                let v = nextVersion
                nextVersion += 1
                versionKey[v] = k
                writes.append(.init(key: k, version: v))
                batch.put(keys[k], VersionedValueCodec.encode(key: keys[k], version: v, size: valueSize(&rng, keys[k].count)))
            }
        }
        oracle.begin(writes)
        if entries > 1 {
            try engine.write(batch)
        } else {
            try batch.forEach { op, k, v in
                if op == .put { try engine.put(k, v) } else { try engine.delete(k) }
            }
        }
        oracle.acknowledge()
        if driver.syncedOnAck(context.durability) { oracle.markSynced() }
    }

    func valueSize(_ rng: inout SeededRNG, _ keyLength: Int) -> Int {
        let min = VersionedValueCodec.minimumSize(keyLength: keyLength)
        let r = rng.below(100)
        if r < 70 { return min + Int(rng.below(UInt64(max(1, 2 * context.valueSize)))) }
        if r < 96 { return min + Int(rng.below(1_024)) }
        return 2_048 + Int(rng.below(38_000))
    }
}

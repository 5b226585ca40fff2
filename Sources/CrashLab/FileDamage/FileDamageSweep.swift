public import OrbitCore
import Runner

/// Issue 14, "Widen the crash lab" 1: whole-file damage, as an operator, a backup tool or a full
/// disk leaves it. For each file of a store — a store closed cleanly, and a copy taken while the
/// engine held it open — one case per damage: delete it; truncate it to 0 bytes, to its first 16
/// bytes, to half; replace it with the same file from an earlier generation of the same store;
/// put another engine's file of the same name (or role) in its place. Each case reopens the
/// damaged copy read-write in a child process (`ProbeIsolation`: a trap is a record, not the end
/// of the sweep) and reads every record back.
///
/// The verdict per case (`judge`):
/// - ok: the open fails with an error naming the damaged file (or, noted, another file of the
///   store), and the directory listing and every file's bytes are as before the open (lock files
///   aside: `StoreImage`); or the open succeeds and every acknowledged write is there (`KillOracle`:
///   last acknowledged value, no deleted key back, nothing foreign);
/// - crash-equivalent, reported and not judged: a live log of an open copy cut to 16 bytes or to
///   half that opens without the cut-off writes (`isCrashEquivalent`: no format can tell that
///   from a crash);
/// - broken: an open that succeeds with acknowledged data missing or wrong (the detail says what
///   the open did to the files: an engine that deletes tables it cannot place is seen here); a
///   refused open that changed the store; an error that names no file of the store; a crash or
///   a hang of the opening process.
///
/// Every case starts from a fresh copy of its base. Budget: `count` cases, taken round-robin over
/// (file kind, damage) so a small budget still covers every pair; more stores (seeds `seed + n`)
/// are built until the budget is spent.
public enum FileDamageSweep: DurableStoreSweep {
    public static let method = CrashRecord.Method.fileDamage

    public struct Options: Sendable {
        /// Only cases whose point ("<base>:<file>:<damage>") contains this; "*" matches anything (nil: all).
        public var filter: String?
        public var isolate = true
        public var timeoutSeconds = 30
        public init(filter: String? = nil) { self.filter = filter }
    }

    /// The knob that replays chosen cases (`crash.case_filter`, a substring of crash_point_or_time).
    public static let filterKnobName = "crash.case_filter"

    public static func options(for context: CrashSweepContext) -> Options {
        var o = Options()
        if context.settings.knob(named: filterKnobName) != nil {
            let f = context.settings.string(filterKnobName)
            if !f.isEmpty { o.filter = f }
        }
        return o
    }

    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        try run(context, options: options(for: context), onRecord: onRecord)
    }

    struct Case {
        var base: Int
        var path: String
        var damage: String
        var image: StoreImage
        var group: String
        var point: String
    }

    public static func run(_ context: CrashSweepContext, options: Options, onRecord: (CrashRecord) throws -> Void) throws {
        guard supports(engine: context.engine) else {
            throw OrbitError(.unsupported, "the file-damage sweep does not support engine '\(context.engine)'",
                             hint: "supported: " + engines.joined(separator: ", "))
        }
        let fs = POSIXFileSystem()
        try fs.createDirectory(context.workDirectory, intermediates: true)
        let recordCount = max(16, min(context.recordCount, 5_000))
        let valueSize = max(KillOp.minimumValueSize, context.valueSize)
        let config = SweepEngineConfig(engine: context.engine, durability: context.durability, settings: context.settings)
        // Another engine's files, from one small closed store of each.
        var foreign: [(engine: String, image: StoreImage)] = []
        for other in engines where other != context.engine {
            let dir = joinPath(context.workDirectory, "foreign-" + other)
            try POSIXFileSystem().removeTree(dir)
            let c = SweepEngineConfig(engine: other, durability: context.durability, settings: context.settings)
            let ops = (0..<64).map { KillOp(index: $0, entries: [.init(record: $0, put: true)], isBatch: false) }
            _ = try c.with(dir, ApplyKillOps(ops: ops, keySize: FileDamageStore.keySize, valueSize: valueSize, copyOf: nil))
            foreign.append((other, try StoreImage.read(dir)))
            try? POSIXFileSystem().removeTree(dir)
        }
        let probeDir = joinPath(context.workDirectory, "probe")
        var done = 0
        var build = 0
        while done < max(1, context.count) {
            let seed = context.seed &+ UInt64(build)
            let store = try FileDamageStore.build(config, directory: joinPath(context.workDirectory, "store"), seed: seed,
                                                  recordCount: recordCount, valueSize: valueSize)
            var cases = plan(store, foreign: foreign, filter: options.filter)
            if cases.isEmpty { break }
            cases = roundRobin(cases, seed: seed)
            for c in cases.prefix(max(1, context.count) - done) {
                done += 1
                try onRecord(runCase(c, number: done, store: store, config: config, context: context, seed: seed,
                                     probeDir: probeDir, options: options))
            }
            build += 1
            if build > 10_000 { break }
        }
        try? POSIXFileSystem().removeTree(probeDir)
    }

    /// Every (base, file, damage) case of one store.
    static func plan(_ store: FileDamageStore, foreign: [(engine: String, image: StoreImage)], filter: String?) -> [Case] {
        var out: [Case] = []
        for (bi, base) in store.bases.enumerated() {
            for path in base.image.files.keys.sorted() {
                let bytes = base.image.files[path]!
                let kind = StoreFileKind(path)
                func add(_ damage: String, _ replacement: [UInt8]?) {
                    var image = base.image
                    if let r = replacement {
                        if r == bytes { return }  // no damage at all
                        image.files[path] = r
                    } else {
                        image.files[path] = nil
                    }
                    let point = "\(base.name):\(path):\(damage)"
                    if let f = filter, !matches(point, f) { return }
                    let group = kind.rawValue + "|" + (damage.split(separator: ":").first.map(String.init) ?? damage)
                    out.append(Case(base: bi, path: path, damage: damage, image: image, group: group, point: point))
                }
                add("delete", nil)
                add("truncate-0", [])
                if bytes.count > 16 { add("truncate-16", Array(bytes.prefix(16))) }
                if bytes.count / 2 != 16 && bytes.count > 1 { add("truncate-half", Array(bytes.prefix(bytes.count / 2))) }
                if let old = base.earlier.files[path] {
                    add("earlier-generation", old)
                } else if let (name, old) = base.earlier.files.sorted(by: { $0.key < $1.key })
                            .first(where: { StoreFileKind($0.key) == kind && $0.value != bytes }) {
                    add("earlier-generation:" + name, old)
                }
                let name = path.split(separator: "/").last.map(String.init) ?? path
                for (engine, image) in foreign {
                    if let same = image.files.first(where: { ($0.key.split(separator: "/").last.map(String.init) ?? $0.key) == name }) {
                        add("foreign:\(engine):\(same.key)", same.value)
                    } else if kind != .other, let similar = image.files.sorted(by: { $0.key < $1.key })
                                .first(where: { StoreFileKind($0.key) == kind }) {
                        add("foreign:\(engine):\(similar.key)", similar.value)
                    }
                }
            }
        }
        return out
    }

    /// Whether `point` contains the parts of `filter` split at "*", in order ("closed:MANIFEST-*:truncate-0").
    static func matches(_ point: String, _ filter: String) -> Bool {
        var rest = Substring(point)
        for part in filter.split(separator: "*", omittingEmptySubsequences: true) {
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }

    /// Orders cases so every (file kind, damage) pair comes before any pair repeats.
    static func roundRobin(_ cases: [Case], seed: UInt64) -> [Case] {
        var rng = SeededRNG(seed: seed, stream: 0x7272)
        var groups: [String: [Case]] = [:]
        for c in cases { groups[c.group, default: []].append(c) }
        var keys = groups.keys.sorted()
        keys.shuffle(using: &rng)
        var queues = keys.map { k -> [Case] in var g = groups[k]!; g.shuffle(using: &rng); return g }
        var out: [Case] = []
        var i = 0
        while out.count < cases.count {
            if !queues[i].isEmpty { out.append(queues[i].removeFirst()) }
            i = (i + 1) % queues.count
        }
        return out
    }

    static func runCase(_ c: Case, number: Int, store: FileDamageStore, config: SweepEngineConfig, context: CrashSweepContext,
                        seed: UInt64, probeDir: String, options: Options) throws -> CrashRecord {
        let base = store.bases[c.base]
        try c.image.write(probeDir)
        let check = DamageCheck(oracle: base.oracle, keySize: store.keySize, valueSize: store.valueSize, start: 0)
        func attempt() -> (CorruptionProbe.Outcome, String) {
            ProbeIsolation.run(timeoutSeconds: options.timeoutSeconds, isolate: options.isolate) {
                let t0 = MonotonicClock.nanoseconds()
                do {
                    var body = check
                    body = DamageCheck(oracle: body.oracle, keySize: body.keySize, valueSize: body.valueSize, start: t0)
                    return try config.with(probeDir, body)
                } catch {
                    return (.detected, "ms=\(formatDouble(Double(MonotonicClock.nanoseconds() - t0) / 1e6, decimals: 3));\(error)")
                }
            }
        }
        var (outcome, text) = attempt()
        if outcome == .hang {
            // Once more (see CorruptionSweep: a forked child can block on a lock another thread held).
            try c.image.write(probeDir)
            (outcome, text) = attempt()
        }
        let after = (try? StoreImage.read(probeDir)) ?? StoreImage(files: [:])
        let changes = c.image.changes(to: after)
        var record = CrashRecord(cycle: number, engine: context.engine, durability: context.durability.description, method: .fileDamage,
                                 crashPointOrTime: c.point, opsAcknowledged: base.acknowledged, opsSynced: base.acknowledged,
                                 opsRecovered: 0, lostSynced: 0, lostUnsynced: 0, resurrected: 0,
                                 recoveryMs: LabText.field("ms", in: text) ?? 0, verdict: .ok, storeBytes: c.image.totalBytes)
        let verdict = judge(outcome: outcome, text: text, damaged: c.path, image: c.image, changes: changes,
                            crashEquivalent: isCrashEquivalent(base: base.name, path: c.path, damage: c.damage))
        record.verdict = verdict.broken ? .broken : .ok
        if outcome == .correct { record.opsRecovered = base.acknowledged }
        if outcome == .silent {
            record.lostSynced = Int(LabText.field("lost", in: text) ?? 0)
            record.resurrected = Int(LabText.field("resurrected", in: text) ?? 0)
        }
        record.detail = LabText.oneLine("\(verdict.summary); seed=\(context.seed) store_seed=\(seed); "
                                        + (changes.isEmpty ? "" : "the open changed: " + changes.prefix(6).joined(separator: ", ")
                                           + (changes.count > 6 ? " (+\(changes.count - 6) more)" : "") + "; ")
                                        + text, limit: 700)
        return record
    }

    /// Whether the damaged copy is, byte for byte, a state a crash can leave: a log of a store
    /// copied while the engine held it, cut to its first 16 bytes or to half, is a valid header
    /// and a prefix of its records (a cut inside a record reads as a torn tail), which is what a
    /// crash before the later appends leaves. No log format tells the two apart without a second
    /// durable record per commit (the manifest or meta page holding each commit's end), so such a
    /// case that opens with the cut-off writes missing is reported as crash-equivalent, not judged.
    /// A store closed cleanly records its log's length (lsm) or checkpoints (cow): there a cut is
    /// damage and is judged.
    static func isCrashEquivalent(base: String, path: String, damage: String) -> Bool {
        base == "open" && StoreFileKind(path) == .log && (damage == "truncate-16" || damage == "truncate-half")
    }

    /// The verdict of one case from what the opening process reported and what it left.
    static func judge(outcome: CorruptionProbe.Outcome, text: String, damaged: String, image: StoreImage,
                      changes: [String], crashEquivalent: Bool = false) -> (broken: Bool, summary: String) {
        switch outcome {
        case .correct, .tail:
            return (false, "opened: every acknowledged key correct")
        case .silent where crashEquivalent:
            return (false, "crash-equivalent (not judged): opened without the writes the cut removed; a prefix of a live log is what a crash leaves")
        case .silent:
            return (true, "OPENED WITH ACKNOWLEDGED DATA MISSING OR WRONG")
        case .crash:
            return (true, "THE OPENING PROCESS CRASHED")
        case .hang:
            return (true, "THE OPEN HUNG")
        case .detected:
            if !changes.isEmpty { return (true, "REFUSED, BUT THE OPEN CHANGED THE STORE FIRST") }
            let name = damaged.split(separator: "/").last.map(String.init) ?? damaged
            if text.contains(name) { return (false, "refused, naming \(name)") }
            let others = image.files.keys.compactMap { $0.split(separator: "/").last.map(String.init) }
                .filter { !StoreImage.isLockFile($0) && text.contains($0) }
            if let other = others.first { return (false, "refused, naming \(other) (not \(name))") }
            return (true, "REFUSED WITHOUT NAMING A FILE")
        }
    }
}

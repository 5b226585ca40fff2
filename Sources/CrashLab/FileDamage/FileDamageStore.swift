#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import Runner

/// The generations of one store a file-damage sweep damages, built with the real engine
/// (`SweepEngineConfig`: small memtables and WAL segments, so every file kind exists):
///
/// - `gen0`: after the first round (every record inserted), closed;
/// - `closed`: after the second round (overwrites and deletes), closed — a base store;
/// - `open`: after the third round, copied while the engine still holds the store (no extra sync:
///   what the engine acknowledged under its mode and wrote to its files) — a base store.
///
/// Each base has an earlier generation (`closed` ← `gen0`, `open` ← `closed`) and the oracle of
/// every write acknowledged before it.
struct FileDamageStore: Sendable {
    struct Base: Sendable {
        var name: String
        var image: StoreImage
        var earlier: StoreImage
        var oracle: KillOracle
        var acknowledged: Int
    }

    var engine: String
    var bases: [Base]
    var keySize: Int
    var valueSize: Int
    var recordCount: Int

    static let keySize = 16

    /// Builds the store in `directory` (replaced), with ops numbered from `firstOp`.
    static func build(_ config: SweepEngineConfig, directory: String, seed: UInt64, recordCount: Int,
                      valueSize: Int) throws -> FileDamageStore {
        try POSIXFileSystem().removeTree(directory)
        var rng = SeededRNG(seed: seed, stream: 0x66_64)
        var oracle = KillOracle(recordCount: recordCount)
        var index = 0
        func makeOps(_ n: Int, insertAll: Bool) -> [KillOp] {
            var ops: [KillOp] = []
            for i in 0..<n {
                defer { index += 1 }
                if insertAll { ops.append(KillOp(index: index, entries: [.init(record: i, put: true)], isBatch: false)); continue }
                if rng.below(10) == 0 {
                    var seen = Set<Int>()
                    var entries: [KillOp.Entry] = []
                    while entries.count < min(4, recordCount) {
                        let r = Int(rng.below(UInt64(recordCount)))
                        if seen.insert(r).inserted { entries.append(.init(record: r, put: rng.below(4) != 0)) }
                    }
                    ops.append(KillOp(index: index, entries: entries, isBatch: true))
                } else {
                    ops.append(KillOp(index: index, entries: [.init(record: Int(rng.below(UInt64(recordCount))), put: rng.below(10) >= 3)],
                                      isBatch: false))
                }
            }
            return ops
        }
        func apply(_ ops: [KillOp], copyWhileOpen: Bool) throws -> StoreImage? {
            let body = ApplyKillOps(ops: ops, keySize: keySize, valueSize: valueSize, copyOf: copyWhileOpen ? directory : nil)
            let image = try config.with(directory, body)
            for op in ops {
                oracle.begin(op)
                oracle.acknowledge(op.index, synced: true)
            }
            return image
        }
        _ = try apply(makeOps(recordCount, insertAll: true), copyWhileOpen: false)
        let gen0 = try StoreImage.read(directory)
        var acknowledged = index
        _ = try apply(makeOps(max(8, recordCount / 2), insertAll: false), copyWhileOpen: false)
        let closed = try StoreImage.read(directory)
        let closedOracle = settled(oracle)
        let closedAcked = index
        let openImage = try apply(makeOps(max(8, recordCount / 4), insertAll: false), copyWhileOpen: true)!
        let openOracle = settled(oracle)
        acknowledged = index
        return FileDamageStore(engine: config.engine, bases: [
            Base(name: "closed", image: closed, earlier: gen0, oracle: closedOracle, acknowledged: closedAcked),
            Base(name: "open", image: openImage, earlier: closed, oracle: openOracle, acknowledged: acknowledged),
        ], keySize: keySize, valueSize: valueSize, recordCount: recordCount)
    }

    /// The oracle with every acknowledged op adopted as the base state (no op in flight).
    private static func settled(_ o: KillOracle) -> KillOracle {
        var copy = o
        var states: [KillOracle.State] = []
        for r in 0..<o.recordCount { states.append(o.expected(r)) }
        _ = copy.verifyAndAdopt(states)
        return copy
    }
}

/// Issues the ops (each one acknowledged when it returns), then optionally copies the store while
/// the engine holds it. The copy is taken when two reads in a row agree, so background work (a
/// flush, a checkpoint) is not caught half way: a torn copy would be an artifact of copying, not a
/// state the engine could have left.
struct ApplyKillOps: EngineBody {
    let ops: [KillOp]
    let keySize: Int
    let valueSize: Int
    let copyOf: String?

    func run<E: StorageEngine>(_ engine: E) throws -> StoreImage? {
        for op in ops {
            if op.isBatch {
                var b = WriteBatch()
                for e in op.entries {
                    let k = KillOp.key(e.record, size: keySize)
                    if e.put { b.put(k, KillOp.value(record: e.record, version: op.index, size: valueSize)) } else { b.delete(k) }
                }
                try engine.write(b)
            } else {
                let e = op.entries[0]
                let k = KillOp.key(e.record, size: keySize)
                if e.put { try engine.put(k, KillOp.value(record: e.record, version: op.index, size: valueSize)) } else { try engine.delete(k) }
            }
        }
        guard let dir = copyOf else { return nil }
        var previous = try StoreImage.read(dir)
        for _ in 0..<50 {
            usleepMillis(20)
            let now = try StoreImage.read(dir)
            if now.changes(to: previous).isEmpty { return now }
            previous = now
        }
        return previous
    }
}

func usleepMillis(_ ms: Int) {
    #if canImport(Glibc)
    usleep(UInt32(ms) * 1000)
    #endif
}

/// Reads every record of a reopened store and checks it against the oracle (a copy: the check
/// does not change it), in the forked probe child.
struct DamageCheck: EngineBody {
    let oracle: KillOracle
    let keySize: Int
    let valueSize: Int
    let start: UInt64

    func run<E: StorageEngine>(_ engine: E) throws -> (CorruptionProbe.Outcome, String) {
        var states: [KillOracle.State] = []
        var recoveryMs = 0.0
        for r in 0..<oracle.recordCount {
            let key = KillOp.key(r, size: keySize)
            let s: KillOracle.State = try key.withUnsafeBytes { k in
                try engine.get(k) { v in
                    guard let v else { return .absent }
                    return KillOp.version(of: v, record: r, size: valueSize).map { .value(version: $0) } ?? .foreign
                }
            }
            if r == 0 { recoveryMs = Double(MonotonicClock.nanoseconds() - start) / 1e6 }
            states.append(s)
        }
        var scanned = 0
        try engine.scan(from: nil, to: nil, limit: 0) { _, _ in scanned += 1; return true }
        let present = states.filter { $0 != .absent }.count
        var o = oracle
        let v = o.verifyAndAdopt(states)
        let ms = "ms=\(formatDouble(recoveryMs, decimals: 3));"
        if v.isClean && scanned == present { return (.correct, ms) }
        var d = ms + " lost=\(v.lostSynced + v.lostUnsynced) resurrected=\(v.resurrected) wrong=\(v.wrong)"
        if scanned != present { d += " scan_saw=\(scanned) gets_found=\(present)" }
        return (.silent, d + " " + v.problems.prefix(3).joined(separator: "; "))
    }
}

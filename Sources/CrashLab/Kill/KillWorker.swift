public import OrbitCore
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// The child of a kill experiment (`orbit-bench crash-worker`, hidden): opens the store, says "R",
/// then issues operations until it is killed, writing "B ..." to its stdout before each one and
/// "A <i> <S|U>" after it returned. Writes go straight to the pipe with write(2) (no buffering), so
/// everything the parent reads was said before the kill: an "A" line is an acknowledgement.
public enum KillWorker {
    public static func run(backend: String, directory: String, settings: Settings, firstOp: Int, seed: UInt64) throws -> Never {
        let plan = try CrashPlan(settings: settings)
        do {
            _ = try Engines.withEngine(backend, directory: directory, settings: settings,
                                       Body(plan: plan, firstOp: firstOp, seed: seed))
        } catch {
            emit("E \(String(describing: error).replacing("\n", with: " "))\n")
            exit(1)
        }
        exit(0)
    }

    static func emit(_ s: String) {
        var bytes = Array(s.utf8)
        bytes.withUnsafeMutableBytes { b in
            var off = 0
            while off < b.count {
                let n = write(1, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    exit(4)  // the parent is gone
                }
                off += n
            }
        }
    }

    struct Body: EngineBody {
        let plan: CrashPlan
        let firstOp: Int
        let seed: UInt64

        func run<E: StorageEngine>(_ engine: E) throws -> Int {
            let synced = engine.durability.syncsBeforeAck
            var rng = SeededRNG(seed: seed, stream: firstOp)
            // Planted bug drop-last-synced: acknowledge each write before applying it, and apply it only
            // after a pause, so a kill that follows an acknowledgement (the parent kills right after
            // reading one) finds that write not yet applied. (Holding it until the next op's begin,
            // as before, left a window of microseconds before write(2): a kill mostly landed in the
            // previous write's fdatasync, after its WAL record was written, and the bug went unseen.)
            emit("R\n")
            var i = firstOp
            while true {
                let op = KillOp.generate(index: i, plan: plan, rng: &rng)
                emit(op.beginLine)
                if plan.plantedBug == .dropLastSynced {
                    emit(KillOp.ackLine(i, synced: synced))
                    usleep(Self.plantedAckGapMicroseconds)
                    try apply(op, engine)
                } else {
                    try apply(op, engine)
                    emit(KillOp.ackLine(i, synced: synced))
                }
                i += 1
                if i & 255 == 0, getppid() == 1 { return i }  // orphaned: the parent died
            }
        }

        /// drop-last-synced's pause between an acknowledgement and the write it acknowledges.
        static let plantedAckGapMicroseconds: UInt32 = 10_000

        func apply<E: StorageEngine>(_ op: KillOp, _ engine: E) throws {
            if op.isBatch {
                var b = WriteBatch()
                for e in op.entries {
                    let k = KillOp.key(e.record, size: plan.keySize)
                    if e.put { b.put(k, KillOp.value(record: e.record, version: op.index, size: plan.valueSize)) } else { b.delete(k) }
                }
                try engine.write(b)
            } else {
                let e = op.entries[0]
                let k = KillOp.key(e.record, size: plan.keySize)
                if e.put { try engine.put(k, KillOp.value(record: e.record, version: op.index, size: plan.valueSize)) } else { try engine.delete(k) }
            }
        }
    }
}

public import OrbitCore
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// The holder of a concurrent-open experiment (`orbit-bench crash-lab-child --role hold`): opens
/// the store read-write and keeps it for its whole life, writing when told and trying a second
/// open of the same store in its own process when told. It speaks a line protocol:
///
/// - child → "R <pid>": the store is open;
/// - "W <n>" → n operations, each announced "B ..." and acknowledged "A <i> <S|U>" as the kill
///   worker does (`KillOp`), then `sync()` (so the files are quiet), then "P";
/// - "O rw" / "O ro" → a second instance in this process, read-write or read-only: "O refused
///   <ms> <error>" or "O opened <ms>" (a succeeded open reads one key and closes);
/// - "V" → reads every record and compares it with what it acknowledged: "V ok" or "V bad <n>
///   <examples>"; then closes the store: "C ok" or "C error <error>"; and exits.
enum HolderChild {
    static func run(backend: String, directory: String, settings: Settings, seed: UInt64) throws -> Never {
        let plan = try CrashPlan(settings: settings)
        do {
            let closed = try Engines.withEngine(backend, directory: directory, settings: settings,
                                                Body(plan: plan, seed: seed, backend: backend, directory: directory, settings: settings))
            _ = closed
            KillWorker.emit("C ok\n")
        } catch {
            KillWorker.emit("C error \(LabText.oneLine("\(error)"))\n")
            exit(1)
        }
        exit(0)
    }

    /// Reads one line from stdin (nil at EOF: the parent is gone).
    static func readCommand(_ pending: inout [UInt8]) -> String? {
        var buf = [UInt8](repeating: 0, count: 256)
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            pending += buf[0..<n]
        }
    }

    struct Body: EngineBody {
        let plan: CrashPlan
        let seed: UInt64
        let backend: String
        let directory: String
        let settings: Settings

        func run<E: StorageEngine>(_ engine: E) throws -> Int {
            var rng = SeededRNG(seed: seed, stream: 0x686F6C64)
            let worker = KillWorker.Body(plan: plan, firstOp: 0, seed: seed)
            var expected: [Int: Int?] = [:]
            let synced = engine.durability.syncsBeforeAck
            var next = 0
            var pending: [UInt8] = []
            KillWorker.emit("R \(getpid())\n")
            while let line = readCommand(&pending) {
                let parts = line.split(separator: " ")
                switch parts.first {
                case "W":
                    let n = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
                    for _ in 0..<n {
                        let op = KillOp.generate(index: next, plan: plan, rng: &rng)
                        KillWorker.emit(op.beginLine)
                        try worker.apply(op, engine)
                        KillWorker.emit(KillOp.ackLine(next, synced: synced))
                        for e in op.entries { expected[e.record] = e.put ? .some(op.index) : .some(nil) }
                        next += 1
                    }
                    try engine.sync()
                    // Background work the burst started (cow prepares its next WAL segment, lsm
                    // flushes) may still be writing: wait until two reads of the store agree, so
                    // the attempt that follows is judged against a quiet store.
                    waitUntilQuiet(directory)
                    KillWorker.emit("P\n")
                case "O":
                    let access: StoreAccess = parts.count > 1 && parts[1] == "ro" ? .readOnly : .readWrite
                    let t0 = MonotonicClock.nanoseconds()
                    do {
                        try Engines.withEngine(backend, directory: directory, settings: settings, access: access, ReadOneKey(plan: plan))
                        KillWorker.emit("O opened \(ms(since: t0))\n")
                    } catch {
                        KillWorker.emit("O refused \(ms(since: t0)) \(LabText.oneLine("\(error)"))\n")
                    }
                case "V":
                    var bad = 0
                    var examples: [String] = []
                    for (record, want) in expected.sorted(by: { $0.key < $1.key }) {
                        let key = KillOp.key(record, size: plan.keySize)
                        let got: Int?? = try key.withUnsafeBytes { k in
                            try engine.get(k) { v in
                                guard let v else { return .some(nil) }
                                return KillOp.version(of: v, record: record, size: plan.valueSize).map { .some($0) } ?? nil
                            }
                        }
                        if got == nil || got! != want {
                            bad += 1
                            if examples.count < 4 {
                                let g = got.map { $0.map { "v\($0)" } ?? "absent" } ?? "a value never written"
                                examples.append("record \(record): \(g), acknowledged \(want.map { "v\($0)" } ?? "absent")")
                            }
                        }
                    }
                    KillWorker.emit(bad == 0 ? "V ok \(expected.count)\n" : "V bad \(bad) \(examples.joined(separator: "; "))\n")
                    return next
                default:
                    continue
                }
            }
            return next
        }
    }

    static func ms(since t0: UInt64) -> String { formatDouble(Double(MonotonicClock.nanoseconds() - t0) / 1e6, decimals: 3) }
}

/// A second open's work: one read, so a succeeded open has really served something.
struct ReadOneKey: EngineBody {
    let plan: CrashPlan
    func run<E: StorageEngine>(_ engine: E) throws {
        _ = try engine.get(KillOp.key(0, size: plan.keySize))
    }
}

/// Returns once two looks at the store's files (names, sizes, mtimes), 20 ms apart, agree (at most
/// about 3 s). Only stat(2): this runs inside the holder, and opening and closing a file the engine
/// holds an fcntl lock on (RocksDB's LOCK) would drop that lock (POSIX record locks belong to the
/// process and go with its first close of any descriptor of the file).
func waitUntilQuiet(_ directory: String) {
    func look() -> [String] {
        var out: [String] = []
        func walk(_ dir: String) {
            guard let names = try? POSIXFileSystem().list(directory: dir) else { return }
            for name in names.sorted() {
                let path = dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR { walk(path); continue }
                out.append("\(path) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)")
            }
        }
        walk(directory)
        return out
    }
    var last = look()
    for _ in 0..<150 {
        usleep(20_000)
        let now = look()
        if now == last { return }
        last = now
    }
}

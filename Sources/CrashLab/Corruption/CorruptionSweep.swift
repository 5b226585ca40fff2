public import OrbitCore
import Runner
import Workloads

/// Issue 5, part 3: flip one byte at a time in every file of a closed store, reopen it, read every
/// key back and scan everything, and classify what the engine did (`CorruptionProbe.Outcome`).
///
/// Offsets: every `stride` bytes of every file, plus every header, trailer and footer field of the
/// engine's format (the engine's own layout, `StoreFormat`). Each probe starts from a fresh copy of
/// the pristine store. The check runs in a child process (`ProbeIsolation`), so an engine that traps
/// or faults on a corrupt store is recorded as a `crash` rather than ending the sweep.
///
/// Stores per engine: lsm, rocksdb: "closed" and "open" (copied after `sync()` with the engine open:
/// the last writes live only in the log); cow: those two with `cow.wal=true` and "closed,wal=false";
/// lmdb: "closed" (it has no log).
///
/// The promise: in a region a checksum covers, every probe is detected or correct — never silent.
/// LMDB keeps no checksums: its rows are all `checksummed=false` and report what happens.
public enum CorruptionSweep: DurableStoreSweep {
    public static let method = CrashRecord.Method.corruption

    /// The knob that fixes the stride (bytes between probes); 0 or absent: from the budget.
    public static let strideKnobName = "corruption_stride"

    /// The sweep's knob (`corruption_stride`), as CrashKnobs declares it.
    public static let knobs: [Knob] = CrashKnobs.all.filter { $0.name == strideKnobName }

    public struct Options: Sendable {
        /// Bytes between probes in every file; nil: the total bytes over half the budget.
        public var stride: Int?
        /// With no explicit stride, header probes are sampled down to half the budget.
        public var probeBudget: Int
        /// Run each check in a child process (recommended: a crash becomes a record).
        public var isolate = true
        public var timeoutSeconds = 30
        /// Which stores to build ("closed", "open", "closed,wal=false"); nil: all the engine has.
        public var variants: [String]? = nil

        public init(stride: Int? = nil, probeBudget: Int = 400) {
            self.stride = stride
            self.probeBudget = probeBudget
        }
    }

    public static func options(for context: CrashSweepContext) -> Options {
        var o = Options(probeBudget: max(1, context.count))
        if context.settings.knob(named: strideKnobName) != nil {
            let s = context.settings.int(strideKnobName)
            if s > 0 { o.stride = s }
        }
        return o
    }

    /// The stores built for `engine` (`EngineDescriptor.damageStoreVariants`).
    public static func variants(of engine: String) -> [String] {
        (try? Engines.descriptor(engine).damageStoreVariants) ?? ["closed"]
    }

    /// The `CrashSweep` entry: one `CrashRecord` per file type (every store variant together).
    public static func run(_ context: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        let summary = try sweep(context, options: options(for: context)) { _ in }
        for r in summary.records() { try onRecord(r) }
    }

    /// Runs the sweep, streaming every probe to `onProbe` (a corruption.csv row each).
    @discardableResult
    public static func sweep(_ context: CrashSweepContext, options: Options,
                             onProbe: (CorruptionProbe) throws -> Void) throws -> CorruptionSummary {
        guard supports(engine: context.engine) else {
            throw OrbitError(.unsupported, "the corruption sweep does not support engine '\(context.engine)'",
                             hint: "supported: " + engines.joined(separator: ", "))
        }
        let fs = POSIXFileSystem()
        try fs.createDirectory(context.workDirectory, intermediates: true)
        let workload = CorruptionWorkload(seed: context.seed, keyCount: max(16, context.recordCount),
                                          valueSize: max(12, context.valueSize))
        var stores: [(CorruptionStore, SweepEngineConfig)] = []
        for variant in options.variants ?? variants(of: context.engine) {
            let config = SweepEngineConfig(engine: context.engine, durability: context.durability, settings: context.settings,
                                           variant: variant)
            let dir = joinPath(context.workDirectory, "pristine-" + variant.replacing(",", with: "-").replacing("=", with: "-"))
            let store = try CorruptionStore.build(config, workload: workload, leaveOpen: variant.hasPrefix("open"),
                                                  variant: variant, directory: dir)
            stores.append((store, config))
        }

        // The plan: (store, file, offset) triples, deterministic from the seed.
        struct Target { var store: Int; var file: Int; var offset: Int64 }
        var rng = SeededRNG(seed: context.seed, stream: 52)
        let totalBytes = stores.reduce(Int64(0)) { $0 + $1.0.layouts.reduce(0) { $0 + $1.size } }
        let stride = Int64(options.stride ?? max(1, Int(totalBytes) / max(1, options.probeBudget / 2)))
        var strideTargets: [Target] = []
        var headerTargets: [Target] = []
        for (si, (store, _)) in stores.enumerated() {
            for (fi, l) in store.layouts.enumerated() {
                // Start each file at a seeded phase so small strides and large ones both cover
                // every position modulo the stride across runs.
                var o = Int64(rng.below(UInt64(max(1, min(stride, l.size)))))
                if stride == 1 { o = 0 }
                while o < l.size { strideTargets.append(Target(store: si, file: fi, offset: o)); o += stride }
                for h in l.headerOffsets { headerTargets.append(Target(store: si, file: fi, offset: h)) }
            }
        }
        if options.stride == nil {
            let keep = max(1, options.probeBudget - min(strideTargets.count, options.probeBudget / 2))
            if headerTargets.count > keep {
                headerTargets.shuffle(using: &rng)
                headerTargets = Array(headerTargets.prefix(keep))
            }
        }
        var seen = Set<String>()
        var targets: [Target] = []
        for t in strideTargets + headerTargets where seen.insert("\(t.store)/\(t.file)/\(t.offset)").inserted {
            targets.append(t)
        }
        targets.sort { ($0.store, $0.file, $0.offset) < ($1.store, $1.file, $1.offset) }

        var summary = CorruptionSummary(engine: context.engine, durability: context.durability.description, seed: context.seed,
                                        operations: stores.first?.0.operations ?? 0)
        for (store, _) in stores { for l in store.layouts { summary.addBytes(fileType: l.fileType, l.size) } }
        let probeDir = joinPath(context.workDirectory, "probe")
        for (n, t) in targets.enumerated() {
            let (store, config) = stores[t.store]
            let layout = store.layouts[t.file]
            let (region, checksummed) = layout.classify(t.offset)
            // Every other probe flips all bits; the rest one seeded bit.
            let mask: UInt8 = n % 2 == 0 ? 0xFF : UInt8(1) << UInt8(rng.below(8))
            var files = store.files
            guard let fi = files.firstIndex(where: { $0.path == layout.path }) else { continue }
            files[fi].bytes[Int(t.offset) + (store.physicalShift[layout.path] ?? 0)] ^= mask
            try CorruptionFiles.write(probeDir, files)
            let check = ReadBack(expected: store.expected, recent: store.recentWrites, inLastRecord: region.hasPrefix("last-"))
            func attempt() -> (CorruptionProbe.Outcome, String) {
                ProbeIsolation.run(timeoutSeconds: options.timeoutSeconds, isolate: options.isolate) {
                    do {
                        return try config.with(probeDir, check)
                    } catch {
                        return (.detected, "\(error)")
                    }
                }
            }
            var (outcome, detail) = attempt()
            if outcome == .hang {
                // Once more from a fresh copy: a child forked while another thread of this process
                // held a lock can block on it; a store that really hangs does so again.
                try CorruptionFiles.write(probeDir, files)
                (outcome, detail) = attempt()
            }
            let probe = CorruptionProbe(engine: context.engine, durability: context.durability.description,
                                        store: store.variant, file: layout.path, fileType: layout.fileType,
                                        offset: t.offset, region: region, checksummed: checksummed, mask: mask,
                                        outcome: outcome, detail: oneLine(detail))
            summary.add(probe)
            try onProbe(probe)
        }
        try? POSIXFileSystem().removeTree(probeDir)
        return summary
    }

    static func oneLine(_ s: String) -> String {
        var t = s.replacing("\n", with: " ").replacing("\r", with: " ")
        if t.count > 300 { t = String(t.prefix(300)) + "..." }
        return t
    }

    /// What RocksDB does with a damaged WAL record, for the report (see `CorruptionSummary.notes`).
    public static let rocksDBWALNote = """
        rocksdb: with RocksDB's default wal_recovery_mode, point-in-time (kPointInTimeRecovery, 2), \
        recovery stops at the first damaged WAL record and opens the store as of the records before \
        it, with no error: a flipped byte in a WAL record loses that write and every later one \
        silently. --set rocksdb.wal_recovery_mode=tolerate-corrupted-tail (kTolerateCorruptedTailRecords, \
        0) accepts only a torn final record and reports earlier damage; absolute-consistency (1) \
        refuses any. paranoid_checks (default true) and ReadOptions.verify_checksums (default true) \
        make table and MANIFEST damage an error.
        """
}

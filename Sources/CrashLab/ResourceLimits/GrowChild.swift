public import OrbitCore
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// The child of a resource-limits run (`orbit-bench crash-lab-child --role grow`): lowers its own
/// RLIMIT_NOFILE to `crash.nofile`, opens the store with tiny tables, grows it past
/// `crash.grow_tables` tables (cow, lmdb: 4x as many pages), reading back as it goes, closes it,
/// reopens it under the same limit and checks every key (a full scan and sampled gets), writes
/// again, and closes. It reports on stdout:
///
/// - "S units=<n> fds=<n> rss_anon=<bytes> jemalloc=<bytes> engine_memory=<bytes>": a sample;
/// - "OK units=... tables=... fds_max=... memory_excess_max=... reopen_ms=... writes=...": done;
/// - "E <phase>: <error>": a write, read, open or close failed (EMFILE included).
///
/// Tiny tables: the descriptor's `growthOptions` (lsm with 4 KiB memtables and compaction held off,
/// so the table count is the flush count; RocksDB with `write_buffer_mb=1`, whose compactions merge
/// tables: the count it reaches is reported; cow with 64 KiB WAL segments and checkpoints), and its
/// `growth`, which says how the store's size is counted (tables, or pages of a page file).
enum GrowChild {
    /// Memory an engine may use beyond its own account (`StorageStats.memoryUsageBytes`).
    static let memorySlackBytes: Int64 = 256 << 20

    static func run(backend: String, directory: String, settings: Settings, seed: UInt64) throws -> Never {
        let nofile = settings.knob(named: "crash.nofile") != nil ? settings.int("crash.nofile") : 256
        let target = settings.knob(named: "crash.grow_tables") != nil ? settings.int("crash.grow_tables") : 2_000
        var limit = rlimit(rlim_cur: rlim_t(nofile), rlim_max: rlim_t(nofile))
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            KillWorker.emit("E setup: setrlimit(RLIMIT_NOFILE, \(nofile)) failed: errno \(errno)\n")
            exit(1)
        }
        var state = GrowState(seed: seed, valueSize: max(KillOp.minimumValueSize, settings.int("value_size.max")))
        var phase = "open"
        do {
            let descriptor = try Engines.descriptor(backend)
            let growth = try EngineRegistry.visit(descriptor, GrowthOf(settings: settings))
            state = try EngineRegistry.visit(descriptor, OpenGrowing(directory: directory, settings: settings, body: Grow(
                state: state, directory: directory, growth: growth, targetUnits: growth.targetUnits(tables: target),
                byteCap: growth.byteCap(tables: target), phase: "grow")))
            phase = "reopen"
            state = try EngineRegistry.visit(descriptor, OpenGrowing(directory: directory, settings: settings, body: Grow(
                state: state, directory: directory, growth: growth, targetUnits: 0, byteCap: 0, phase: "reopen")))
        } catch let f as GrowFailure {
            KillWorker.emit("E \(f.state.phase): \(LabText.oneLine(f.underlying)); units=\(f.state.units) tables=\(f.state.tables) "
                            + "writes=\(f.state.writes) fds_max=\(f.state.fdsMax)\n")
            exit(1)
        } catch {
            KillWorker.emit("E \(phase): \(LabText.oneLine("\(error)")); units=\(state.units) tables=\(state.tables) "
                            + "writes=\(state.writes) fds_max=\(state.fdsMax)\n")
            exit(1)
        }
        KillWorker.emit("OK units=\(state.units) tables=\(state.tables) fds_max=\(state.fdsMax) memory_excess_max=\(state.excessMax) "
                        + "rss_anon_max=\(state.rssMax) reopen_ms=\(formatDouble(state.reopenMs, decimals: 3)) writes=\(state.writes) "
                        + "byte_cap_reached=\(state.capReached)\n")
        exit(0)
    }

    /// The descriptor's `growth` for the options the settings select.
    struct GrowthOf: EngineDescriptorVisitor {
        let settings: Settings
        func visit<D: EngineDescriptor>(_: D.Type) throws -> StoreGrowth { D.growth(try D.growthOptions(settings: settings)) }
    }

    /// Opens the store with the descriptor's `growthOptions` and runs the grow (or reopen) body.
    struct OpenGrowing: EngineDescriptorVisitor {
        let directory: String
        let settings: Settings
        var body: Grow

        func visit<D: EngineDescriptor>(_: D.Type) throws -> GrowState {
            var body = body
            body.start = MonotonicClock.nanoseconds()
            body.state.phase = body.phase == "grow" ? "open" : "reopen"
            let e = try D.open(directory: directory, options: try D.growthOptions(settings: settings),
                               durability: settings.durability(), access: .readWrite)
            return try closing(e, body)
        }
    }

    static func closing<E: StorageEngine>(_ e: E, _ body: Grow) throws -> GrowState {
        do {
            var r = try body.run(e)
            r.phase = "close"
            do { try e.close() } catch { throw GrowFailure(state: r, underlying: "\(error)") }
            return r
        } catch {
            try? e.close()
            throw error
        }
    }

    /// Open descriptors of this process (nil when they cannot be counted: no descriptor left).
    static func openDescriptors() -> Int? {
        guard let d = opendir("/proc/self/fd") else { return nil }
        defer { closedir(d) }
        var n = 0
        while readdir(d) != nil { n += 1 }
        return n - 3  // ".", "..", and the directory's own descriptor
    }

    /// Anonymous resident memory (heap, stacks, anonymous maps; not LMDB's file-backed map).
    static func rssAnon() -> Int64? {
        guard let f = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("RssAnon:") {
                let kb = s.dropFirst(8).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int64($0) } ?? 0
                return kb * 1024
            }
        }
        return nil
    }

    static func countUnits(_ growth: StoreGrowth, _ dir: String) -> (units: Int, tables: Int) {
        let fs = POSIXFileSystem()
        let names = (try? fs.list(directory: dir)) ?? []
        let tables = names.filter { $0.hasSuffix(".sst") }.count
        guard let file = growth.pageFile else { return (tables, tables) }
        let size = Int((try? fs.fileSize(joinPath(dir, file))) ?? 0)
        return (size / growth.pageSize, tables)
    }
}

/// A failure inside the engine body, with the state reached (the phase, tables, descriptors).
struct GrowFailure: Error {
    var state: GrowState
    var underlying: String
}

struct GrowState: Sendable {
    var seed: UInt64
    var valueSize: Int
    /// versions[r]: the version record r was last written with.
    var versions: [Int] = []
    var writes = 0
    var units = 0
    var tables = 0
    var fdsMax = 0
    var rssMax: Int64 = 0
    var excessMax: Int64 = 0
    var reopenMs = 0.0
    var phase = "setup"
    var capReached = false
    var bytes = 0
}

struct Grow: EngineBody {
    var state: GrowState
    let directory: String
    /// How the store's size is counted (the descriptor's `growth`).
    let growth: StoreGrowth
    let targetUnits: Int
    let byteCap: Int
    let phase: String
    var start: UInt64 = 0

    static let keySize = 16

    func run<E: StorageEngine>(_ engine: E) throws -> GrowState {
        var s = state
        do {
            return try grow(engine, &s)
        } catch let f as GrowFailure {
            throw f
        } catch {
            throw GrowFailure(state: s, underlying: "\(error)")
        }
    }

    func grow<E: StorageEngine>(_ engine: E, _ s: inout GrowState) throws -> GrowState {
        var rng = SeededRNG(seed: s.seed, stream: phase == "grow" ? 1 : 2)
        func sample() throws {
            let (units, tables) = GrowChild.countUnits(growth, directory)
            s.units = max(s.units, units)
            s.tables = max(s.tables, tables)
            if let fds = GrowChild.openDescriptors() { s.fdsMax = max(s.fdsMax, fds) }
            let engineMemory = Int64(try engine.stats().memoryUsageBytes)
            if let rss = GrowChild.rssAnon() {
                s.rssMax = max(s.rssMax, rss)
                s.excessMax = max(s.excessMax, rss - engineMemory)
                if rss - engineMemory > GrowChild.memorySlackBytes {
                    throw OrbitError(.io, "memory \(rss) bytes (anonymous resident) is over the engine's account \(engineMemory) + 256 MiB")
                }
            }
        }
        func check(_ r: Int) throws {
            let key = KillOp.key(r, size: Self.keySize)
            let want = KillOp.value(record: r, version: s.versions[r], size: s.valueSize)
            guard let got = try engine.get(key) else {
                throw OrbitError(.corruption, "record \(r): not found, acknowledged v\(s.versions[r])", at: directory)
            }
            guard got == want else { throw OrbitError(.corruption, "record \(r): a wrong value", at: directory) }
        }
        func writeBatch(_ n: Int) throws {
            var b = WriteBatch()
            var touched: [(Int, Int)] = []
            for _ in 0..<n {
                let overwrite = !s.versions.isEmpty && rng.below(4) == 0
                let r = overwrite ? Int(rng.below(UInt64(s.versions.count))) : s.versions.count + touched.filter { $0.0 >= s.versions.count }.count
                let version = s.writes + touched.count
                b.put(KillOp.key(r, size: Self.keySize), KillOp.value(record: r, version: version, size: s.valueSize))
                touched.append((r, version))
                s.bytes += Self.keySize + s.valueSize
            }
            try engine.write(b)
            for (r, v) in touched {
                if r < s.versions.count { s.versions[r] = v } else { s.versions.append(v) }
            }
            s.writes += n
        }
        if phase == "grow" {
            s.phase = "grow"
            var batches = 0
            while true {
                try writeBatch(16)
                batches += 1
                if batches % 16 == 0 {
                    for _ in 0..<4 { try check(Int(rng.below(UInt64(s.versions.count)))) }
                    try sample()
                    if s.units >= targetUnits { break }
                    if s.bytes >= byteCap { s.capReached = true; break }
                    if batches % 256 == 0 {
                        KillWorker.emit("S units=\(s.units) fds=\(s.fdsMax) rss_anon=\(s.rssMax) writes=\(s.writes)\n")
                    }
                }
            }
            try engine.sync()
            try sample()
        } else {
            s.phase = "reopen"
            if let first = s.versions.indices.first { try check(first) }
            s.reopenMs = Double(MonotonicClock.nanoseconds() - start) / 1e6
            s.phase = "verify"
            var r = 0
            try engine.scan(from: nil, to: nil, limit: 0) { k, v in
                guard r < s.versions.count, k.elementsEqual(KillOp.key(r, size: Self.keySize)),
                      v.elementsEqual(KillOp.value(record: r, version: s.versions[r], size: s.valueSize)) else {
                    r = -1
                    return false
                }
                r += 1
                return true
            }
            guard r == s.versions.count else {
                throw OrbitError(.corruption, "the scan after the reopen does not match the \(s.versions.count) records written"
                                 + (r < 0 ? " (a wrong or missing key)" : " (\(r) records)"), at: directory)
            }
            for _ in 0..<256 { try check(Int(rng.below(UInt64(s.versions.count)))) }
            try sample()
            s.phase = "write-after-reopen"
            for _ in 0..<4 { try writeBatch(16) }
            for _ in 0..<16 { try check(Int(rng.below(UInt64(s.versions.count)))) }
            try sample()
        }
        return s
    }
}

import Foundation
import OrbitCore
import Reports
import Runner
import Testing
import Workloads

/// Trace record and replay (issue 19 item 8): `run --record-trace` writes every operation, `replay`
/// drives any engine with it, and a damaged trace is refused with its file offset.
@Suite(.serialized)
struct TraceTests {
    static let dir = NSTemporaryDirectory() + "orbit-trace-\(getpid())"

    /// Records a small mixed run on the memory engine (2 threads, seeded) into a new trace file.
    static func record(_ name: String) throws -> (path: String, run: BackendRun) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        var c = Configuration()
        try c.applyFlags(sets: ["record_count=300", "operation_count=600", "threads=2", "seed=8", "mix.read=0.5", "mix.update=0.2",
                                "mix.insert=0.1", "mix.scan=0.1", "mix.read_modify_write=0.1", "scan_length.max=5",
                                "record_trace=" + path], backends: [], dataDir: nil)
        print("seed 8")
        let w = try Workload(settings: c.settings)
        let memory = Engines.builtinNames[0]
        let r = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false).run(backend: memory, directory: "")
        #expect(r.errors.isEmpty, "\(r.errors)")
        return (path, r)
    }

    @Test func aRecordedTraceReadsBackAsTheRun() throws {
        let (path, r) = try Self.record("round-trip.trace")
        let t = try TraceFile.read(path)
        #expect(t.seed == 8)
        #expect(t.threads.count == 2)
        let counts = t.counts
        #expect(counts[.load] == 300)
        for op in r.operations where op.phase == "run" {
            #expect(UInt64(counts[op.operation] ?? 0) == op.count + op.errors, "\(op.operation)")
        }
        #expect(counts.filter { $0.key != .load }.values.reduce(0, +) == 600)
        for thread in t.threads {
            // Times never go back within a phase; every key is a 16-byte decimal record number.
            let run = thread.records.filter { $0.op != .load }
            #expect(zip(run, run.dropFirst()).allSatisfy { $0.timeNanos <= $1.timeNanos })
            #expect(thread.records.allSatisfy { $0.keyLength == 16 })
            #expect(thread.records.filter { $0.op == .rangeQuery }.allSatisfy { (1...5).contains($0.valueSize) })
            #expect(thread.records.filter { $0.op == .update }.allSatisfy { $0.valueSize == 100 })
        }
        // A trace never replaces a file.
        var c = Configuration()
        try c.applyFlags(sets: ["record_trace=" + path, "mix.read=1"], backends: [Engines.builtinNames[0]], dataDir: nil)
        var session = BenchmarkSession(configuration: c)
        session.outputDirectory = Self.dir + "/refused"
        #expect(throws: OrbitError.self) { _ = try session.prepare() }
    }

    /// One trace, two engines: the same operations, counted alike.
    @Test func replayOnTwoEnginesGivesTheSameCounts() throws {
        let (path, _) = try Self.record("replay.trace")
        let t = try TraceFile.read(path)
        let replay = try TraceReplay(trace: t, speed: 4, settings: Configuration().settings)
        var runs: [[String: UInt64]] = []
        let engines = [Engines.builtinNames[0], "lsm"]
        for backend in engines {
            let store = Self.dir + "/store-" + backend
            try? FileManager.default.removeItem(atPath: store)
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let r = try replay.run(backend: backend, directory: store)
            #expect(r.errors.isEmpty, "\(r.errors)")
            var counts: [String: UInt64] = [:]
            for op in r.operations { counts[op.phase + "/" + op.operation.name] = op.count + op.errors }
            runs.append(counts)
            try? FileManager.default.removeItem(atPath: store)
        }
        print("replayed counts: \(runs)")
        #expect(runs[0] == runs[1])
        #expect(runs[0]["load/load"] == 300)
        #expect(runs[0].filter { $0.key.hasPrefix("run/") }.values.reduce(0, +) == 600)
    }

    /// A truncated or damaged trace is refused (exit status 2) naming the offset.
    @Test func aDamagedTraceIsAClearError() throws {
        let (path, _) = try Self.record("damaged.trace")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func refusal(_ b: [UInt8]) -> OrbitError? {
            do { _ = try TraceFile.parse(b, path: "t.trace"); return nil } catch let e as OrbitError { return e } catch { return nil }
        }
        for cut in [5, 40, bytes.count / 2, bytes.count - 3] {
            let e = try #require(refusal(Array(bytes.prefix(cut))), "cut at \(cut)")
            print("cut at \(cut): \(e)")
            #expect(e.exitStatus == 2)
            #expect(e.location?.hasPrefix("t.trace at offset ") == true)
        }
        // An operation code no trace holds, at the first record of thread 0 (after its time varint).
        var bad = bytes
        let first = TraceFile.headerSize + TraceFile.sectionHeaderSize
        var at = first
        while bad[at] & 0x80 != 0 { at += 1 }
        bad[at + 1] = 0xEE
        let e = try #require(refusal(bad))
        print(e)
        #expect(e.location == "t.trace at offset \(at + 1)")
        // A changed key byte: only the checksum sees it.
        var flipped = bytes
        flipped[first + 6] ^= 0x01
        let c = try #require(refusal(flipped))
        print(c)
        #expect(c.message.contains("checksum"))
    }
}

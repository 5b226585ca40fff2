import Foundation
import Testing
import OrbitCore
import Reports
@testable import Runner
import Workloads

/// Multi-phase runs (issue 19 item 3): the load once, then the phases in order, a background phase
/// beside the next one until that one ends; results rows per phase in every file.
@Suite(.serialized)
struct PhasesRunTests {
    static let phased = """
        name: phased
        record_count: 500
        threads: 1
        seed: 9
        metrics_all: true
        interval_s: 0.1
        mix: {read: 1}
        phases:
          - name: writers
            mix: {update: 0.5, insert: 0.5}
            operation_count: 1000
            threads: 2
          - name: scans
            background: true
            mix: {scan: 1}
            scan_length: 5
          - name: readers
            mix: {read: 0.9, read_modify_write: 0.1}
            operation_count: 3000
            threads: 2
        """

    static func run(_ yaml: String) throws -> (BackendRun, RunResult) {
        var settings = Settings(knobs: Configuration.allKnobs)
        try WorkloadFile.apply(yaml: yaml, path: "p.yaml", to: &settings)
        let w = try Workload(settings: settings, path: "p.yaml")
        print("seed \(w.seed)")
        let b = try BenchmarkRunner(workload: w, settings: settings, showStatus: false).run(backend: "memory", directory: "")
        let r = RunResult(runId: "t", workload: w, settings: settings,
                          environment: EnvironmentInfo.capture(dataDirectory: NSTemporaryDirectory()), startedAtMillis: 0,
                          backends: [b], outputDirectory: "")
        return (b, r)
    }

    static func count(_ b: BackendRun, _ phase: String) -> Int {
        b.operations.filter { $0.phase == phase }.reduce(0) { $0 + Int($1.count) }
    }

    @Test func phasesRunInOrderWithRowsPerPhaseAndTheBackgroundPhaseStopsWithTheNext() throws {
        let (b, r) = try Self.run(Self.phased)
        #expect(b.errors.isEmpty, "\(b.errors)")
        // Operation counts per phase: each phase's own operation_count; the background phase ran.
        #expect(Self.count(b, "load") == 500)
        #expect(Self.count(b, "writers") == 1000)
        #expect(Self.count(b, "readers") == 3000)
        let scans = Self.count(b, "scans")
        #expect(scans > 0)
        #expect(Set(b.operations.filter { $0.phase == "scans" }.map(\.operation)) == [.rangeQuery])
        #expect(Set(b.operations.filter { $0.phase == "writers" }.map(\.operation)) == [.update, .insert])
        // The phases, in the order they started; the background phase starts with the next one.
        #expect(b.phases.map(\.name) == ["writers", "scans", "readers"])
        let (writers, scan, readers) = (b.phases[0], b.phases[1], b.phases[2])
        #expect(writers.endSeconds <= scan.startSeconds)
        #expect(scan.startSeconds == readers.startSeconds && scan.background && !readers.background)
        #expect(scan.operations == scans && readers.operations == 3000 && scan.threads == 1 && readers.threads == 2)
        // It stops when the foreground phase ends: after it, at most the one operation each background
        // thread had in flight completes.
        #expect(scan.endSeconds >= readers.endSeconds)
        let lateScans = b.samples.filter { $0.phase == "scans" && Double($0.timestampNanos) / 1e9 > readers.endSeconds }
        #expect(lateScans.count <= scan.threads, "\(lateScans.count) scans completed after the readers ended")
        // Every sample and timeseries row names its phase; the samples of a phase are its operations.
        #expect(Set(b.samples.map(\.phase)) == ["load", "writers", "scans", "readers"])
        #expect(b.samples.filter { $0.phase == "readers" }.count == 3000)
        #expect(Set(b.timeseries.map(\.phase)) == ["load", "writers", "scans", "readers"])
        for phase in ["writers", "readers"] {
            let rows = b.timeseries.filter { $0.phase == phase }
            #expect(rows.reduce(0) { $0 + Int($1.count) } == Self.count(b, phase), "\(phase) timeseries counts")
        }
        // Inserts of the writers are new records (none overwrote a loaded one): the store holds them all
        // (the readers' read-modify-writes may add records in the gaps the writers' threads left).
        let inserted = UInt64(b.operations.first { $0.phase == "writers" && $0.operation == .insert }!.count)
        #expect(b.finalStats.totalKeys >= 500 + inserted)

        // The op stream: the foreground phases' streams as documented (phase k's thread t draws stream
        // (k-1)·2048 + t; inserts numbered from above the records before, slot = place among the threads
        // running together); the background phase's is cut by timing and not in the digest.
        let w = r.workload
        var writerStreams = (0..<2).map { t in OpStream(workload: w.phases[0].workload, thread: t, stream: t, recordBase: 500, slot: t, slots: 2) }
        for t in 0..<2 { for _ in 0..<500 { _ = writerStreams[t].next() } }
        let base = 500 + 2 * writerStreams.map(\.inserted).max()!
        var readerStreams = (0..<2).map { t in
            OpStream(workload: w.phases[2].workload, thread: t, stream: 2 * 2048 + t, recordBase: base, slot: 1 + t, slots: 3)
        }
        for t in 0..<2 { for _ in 0..<1500 { _ = readerStreams[t].next() } }
        #expect(b.opStreamDigest == OpStream.combine((writerStreams + readerStreams).map(\.digest), workload: w))
        #expect(b.opStreamReproducible)

        // The files: phase columns, per-phase latency and interval files.
        let out = EndToEndTests.tempDir("phases")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ResultsWriter.write(r, to: out)
        let summary = try EndToEndTests.lines(out + "/summary.csv").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(Set(summary.map { String($0[14]) }) == ["load", "writers", "scans", "readers"])
        let metrics = try EndToEndTests.lines(out + "/metrics.csv")
        #expect(metrics[0].hasSuffix(",phase"))
        #expect(metrics.dropFirst().filter { $0.hasSuffix(",scans") }.count == scans)
        let timeseries = try EndToEndTests.lines(out + "/timeseries.csv")
        #expect(timeseries[0].hasSuffix(",phase"))
        #expect(Set(timeseries.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false).last!) })
            == ["load", "writers", "scans", "readers"])
        for (phase, op) in [("writers", "insert"), ("scans", "range_query"), ("readers", "get")] {
            #expect(FileManager.default.fileExists(atPath: out + "/phases/\(phase)/latency-memory-\(op).hgrm"), "\(phase) \(op) hgrm")
            #expect(FileManager.default.fileExists(atPath: out + "/phases/\(phase)/interval-memory-\(op).csv"), "\(phase) \(op) interval")
        }
        #expect(FileManager.default.fileExists(atPath: out + "/latency-memory-load.hgrm"))
        // Read back (plot, report, compare, thresholds): the run phases' histograms with their phase.
        let read = try ResultsDirectory.read(out)
        #expect(Set(read.histograms.compactMap(\.phase)) == ["writers", "scans", "readers"])
        #expect(read.histograms.filter { $0.phase == nil }.map(\.operation) == ["load"])
        #expect(!FileManager.default.fileExists(atPath: out + "/latency-memory-get.hgrm"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        let backend = (json["backends"] as! [[String: Any]])[0]
        #expect((backend["phases"] as! [[String: Any]]).map { $0["name"] as! String } == ["writers", "scans", "readers"])
        let declared = (json["workload"] as! [String: Any])["phases"] as! [[String: Any]]
        #expect(declared.map { $0["background"] as! Bool } == [false, true, false])
        // The printed table: a row per (backend, phase, operation).
        let table = SummaryTable.render(r)
        #expect(table.contains("phases: writers") && table.contains("scans (background)"))
    }

    /// Without `phases:` the run is the one phase "run": the rows, files and op stream of before.
    @Test func aWorkloadWithoutPhasesIsOnePhaseNamedRun() throws {
        let (b, r) = try Self.run("name: one\nrecord_count: 300\noperation_count: 900\nthreads: 3\nseed: 5\nmetrics_all: true\nmix: {read: 0.5, update: 0.3, insert: 0.2}\n")
        #expect(b.errors.isEmpty)
        #expect(Set(b.operations.map(\.phase)) == ["load", "run"])
        #expect(Self.count(b, "run") == 900)
        #expect(b.phases.map(\.name) == ["run"])
        #expect(Set(b.samples.map(\.phase)) == ["load", "run"])
        #expect(Set(b.timeseries.map(\.phase)) == ["load", "run"])
        #expect(b.target == nil && b.opStreamReproducible)
        // The op stream: each thread's stream as OpStream draws it for the workload, 300 operations each.
        let w = r.workload
        let digests = (0..<3).map { t -> UInt64 in
            var s = OpStream(workload: w, thread: t)
            for _ in 0..<300 { _ = s.next() }
            return s.digest
        }
        #expect(b.opStreamDigest == OpStream.combine(digests, workload: w))
        let out = EndToEndTests.tempDir("one-phase")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ResultsWriter.write(r, to: out)
        #expect(!FileManager.default.fileExists(atPath: out + "/phases"))
        for op in ["load", "get", "update", "insert"] {
            #expect(FileManager.default.fileExists(atPath: out + "/latency-memory-\(op).hgrm"), "\(op)")
        }
        let summary = try EndToEndTests.lines(out + "/summary.csv").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(summary.map { "\($0[14]) \($0[3])" } == ["load load", "run insert", "run update", "run get"])
    }
}

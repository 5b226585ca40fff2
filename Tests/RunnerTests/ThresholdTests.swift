import Foundation
import LSMTree
import OrbitCore
import OrbitTestSupport
import Reports
import Runner
import Testing
import Workloads

/// Issue 20 item 4: alert thresholds (`check`, a workload's `thresholds:`) and `kv health`.
@Suite("Thresholds and health", .serialized)
struct ThresholdTests {
    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try StoreSafetyCLITests.run(args) }

    @Test func recommendedThresholdsParse() throws {
        #expect(try Thresholds.parse(yaml: Thresholds.recommendedYAML, path: "t.yaml") == Thresholds.recommended)
        let nested = try Thresholds.parse(yaml: "thresholds:\n  read_latency_p95: 250us\n  error_rate: 0%\n", path: "t.yaml")
        #expect(nested == Thresholds(limits: [(.readLatencyP95, 250), (.errorRate, 0)]))
        let bundled = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("workloads/thresholds/recommended.yaml").path
        #expect(try Thresholds.load(path: bundled) == Thresholds.recommended)
    }

    @Test(arguments: [
        ("write_latency_p95: 100\n", "t.yaml:1:20", "a duration"),
        ("error_rate: 0.1%\nread_latency: 5ms\n", "t.yaml:2:1", "allowed: write_latency_p95"),
        ("memory_usage: 180%\n", "t.yaml:1:15", "a percentage"),
        ("compaction_backlog: -1\n", "t.yaml:1:21", "a non-negative integer"),
        ("disk_usage: [1, 2]\n", "t.yaml:1:13", "a percentage"),
        ("error_rate: 1%\nerror_rate: 2%\n", "t.yaml:", "twice"),
        ("- error_rate\n", "t.yaml:1:1", "mapping"),
    ])
    func malformedThresholdsNameTheirPlace(_ yaml: String, _ location: String, _ words: String) throws {
        #expect { try Thresholds.parse(yaml: yaml, path: "t.yaml") } throws: { e in
            guard let e = e as? OrbitError else { return false }
            return e.exitStatus == 2 && "\(e)".contains(location) && "\(e)".contains(words)
        }
    }

    @Test func workloadThresholdsAreKnobsWithPlaces() throws {
        var s = Settings(knobs: Configuration.allKnobs)
        try WorkloadFile.apply(yaml: "name: t\nthresholds:\n  read_latency_p95: 5ms\n  error_rate: 1%\n", path: "w.yaml", to: &s)
        #expect(Thresholds.from(settings: s) == Thresholds(limits: [(.readLatencyP95, 5000), (.errorRate, 0.01)]))
        var bad = Settings(knobs: Configuration.allKnobs)
        #expect { try WorkloadFile.apply(yaml: "name: t\nthresholds:\n  read_latency_p95: fast\n", path: "w.yaml", to: &bad) } throws: { e in
            "\(e)".contains("w.yaml:3:21") && "\(e)".contains("a duration") && (e as? OrbitError)?.exitStatus == 2
        }
        #expect { try WorkloadFile.apply(yaml: "name: t\nthresholds:\n  latency: 5ms\n", path: "w.yaml", to: &bad) } throws: { e in
            "\(e)".contains("w.yaml:3:3") && "\(e)".contains("unknown field 'latency'")
        }
    }

    /// A short run on the in-memory engine, then `check` with a violating and a clean thresholds file,
    /// and a workload whose own `thresholds:` fails the run.
    @Test func checkFlagsAViolatingRunAndPassesACleanOne() throws {
        try withTemporaryDirectory(prefix: "orbit-check") { dir in
            let memory = Engines.builtinNames.first { Engines.capabilities($0)?.contains(.durable) == false }!
            let workload = """
                name: tiny
                backends: [\(memory)]
                record_count: 2000
                operation_count: 4000
                mix: {read: 0.5, update: 0.5}

                """
            try workload.write(toFile: dir + "/w.yaml", atomically: true, encoding: .utf8)
            var r = try Self.run(["run", dir + "/w.yaml", "--out", dir + "/out", "--quiet"])
            #expect(r.status == 0, "\(r.out)\(r.err)")
            try "read_latency_p95: 1ns\nwrite_latency_p95: 1ns\nerror_rate: 0%\n".write(toFile: dir + "/strict.yaml", atomically: true, encoding: .utf8)
            r = try Self.run(["check", dir + "/out", "--thresholds", dir + "/strict.yaml"])
            #expect(r.status == 1, "\(r.out)\(r.err)")
            #expect(r.out.contains("2 breached"), "\(r.out)")
            #expect(r.out.contains("\(memory) read_latency_p95 = ") && r.out.contains("\(memory) write_latency_p95 = "), "\(r.out)")
            #expect(r.out.contains("error_rate") && !r.out.contains("\(memory) error_rate ="), "\(r.out)")
            try "read_latency_p95: 10s\nwrite_latency_p95: 10s\nerror_rate: 1%\ncompaction_backlog: 10\n"
                .write(toFile: dir + "/lenient.yaml", atomically: true, encoding: .utf8)
            r = try Self.run(["check", dir + "/out", "--thresholds", dir + "/lenient.yaml"])
            #expect(r.status == 0 && r.out.contains("within their limits") && r.out.contains("n/a"), "\(r.out)\(r.err)")
            r = try Self.run(["check", dir + "/out", "--thresholds", dir + "/w.yaml"])
            #expect(r.status == 2 && r.err.contains("w.yaml:1:1"), "\(r.out)\(r.err)")
            // The workload's own thresholds: the run's results are written, and the run fails.
            try (workload + "thresholds:\n  read_latency_p95: 1ns\n").write(toFile: dir + "/w2.yaml", atomically: true, encoding: .utf8)
            r = try Self.run(["run", dir + "/w2.yaml", "--out", dir + "/out2", "--quiet"])
            #expect(r.status == 1 && r.out.contains("1 breached"), "\(r.out)\(r.err)")
            #expect(FileManager.default.fileExists(atPath: dir + "/out2/summary.csv"))
        }
    }

    @Test func healthOfAStore() throws {
        let backends = TransferTests.embedded
        try withTemporaryDirectory(prefix: "orbit-health") { dir in
            for b in backends {
                try StoreSafetyCLITests.makeStore(dir, b)
                let before = DirectorySnapshot.capture(dir + "/" + b)
                var r = try Self.run(["kv", "health", "--backend", b, "--data-dir", dir, "--read-only"])
                #expect(r.status == 0 && r.out.contains("\(b): healthy"), "\(r.out)\(r.err)")
                #expect(DirectorySnapshot.capture(dir + "/" + b).differences(from: before) == [])
                r = try Self.run(["kv", "health", "--backend", b, "--data-dir", dir])
                #expect(r.status == 0 && r.out.contains("writable") && r.out.contains("\(b): healthy"), "\(r.out)\(r.err)")
            }
            let r = try Self.run(["kv", "health", "--backend", backends[0], "--data-dir", dir + "/none"])
            #expect(r.status == 2, "\(r.out)\(r.err)")
        }
    }

    /// An lsm store whose WAL sync fails turns read-only: the health probe reports it unhealthy.
    @Test func healthReportsReadOnlyAfterAFailedSync() throws {
        let fs = FaultInjectingFileSystem(seed: 20)
        try fs.createDirectory("/db", intermediates: true)
        let t = try LSMTree(fs: fs, directory: "/db", durability: .everyWrite)
        #expect(EngineHealth.probe(t, readOnly: false).allSatisfy { $0.ok != false })
        fs.inject(Fault(.ioError, on: .fdatasync, pathSuffix: ".log", count: 1))
        #expect(throws: OrbitError.self) { try t.put(Array("k".utf8), Array("v".utf8)) }
        let checks = EngineHealth.probe(t, readOnly: false)
        #expect(checks.contains { $0.name == "read-only" && $0.ok == false }, "\(checks)")
        #expect(!EngineHealth.Report(backend: "x", checks: checks).healthy)
        try? t.close()
    }
}

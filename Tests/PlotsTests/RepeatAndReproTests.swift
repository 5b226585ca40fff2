import Foundation
import Testing
import OrbitCore
import Reports
import Repro
import Runner

/// `--repeat` through the library, `repro latency-table` on a tiny workload, and the CLI's exit statuses.
@Suite(.serialized)
struct RepeatAndReproTests {
    /// The orbit-bench executable `swift build --build-tests` put beside the test bundle.
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orbit-bench").path
    }

    static func run(_ args: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    @Test func repeatsGiveMediansAndKeepEveryRepeat() throws {
        let out = Fixtures.tempDir("repeat")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
        try c.applyFlags(sets: ["record_count=500", "operation_count=1000", "warmup_ops=0", "repeat=3", "warmup_repeats=1"],
                         backends: ["memory", "lsm"], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        s.showStatus = false
        let r = try s.run()
        #expect(r.repeats.count == 3)
        #expect(r.warmupRepeats == 1)
        #expect(r.representatives.count == 2)
        let lines = try String(contentsOfFile: out + "/summary.csv", encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        #expect(Array(header.prefix(21)) == Array(ResultsWriter.summaryColumns.prefix(21)))
        #expect(Array(header[21..<32]) == ["repeats", "micros_per_op_min", "micros_per_op_max", "ops_per_s_min", "ops_per_s_max",
                                           "p50_us_min", "p50_us_max", "p99_us_min", "p99_us_max", "p999_us_min", "p999_us_max"])
        #expect(Array(header[32..<34]) == ["net_bytes_sent", "net_bytes_received"])
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let row = Dictionary(uniqueKeysWithValues: zip(header, cells))
            #expect(row["repeats"] == "3")
            // The median lies within min...max.
            let p50 = Double(row["p50_us"]!)!, lo = Double(row["p50_us_min"]!)!, hi = Double(row["p50_us_max"]!)!
            #expect(lo <= p50 && p50 <= hi)
        }
        // The median of each figure is the median of the repeats' own summary.csv figures.
        func p50(_ path: String, _ backend: String) throws -> Double {
            let t = try CSVTable.read(path)
            let i = t.rows.firstIndex { $0[0] == backend && $0[3] == "insert" }!
            return try t.number(i, "p50_us")!
        }
        for backend in ["memory", "lsm"] {
            let each = try (1...3).map { try p50(out + "/repeats/\($0)/summary.csv", backend) }
            #expect(try p50(out + "/summary.csv", backend) == each.sorted()[1])
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        #expect(json["repeat_count"] as? Int == 3)
        #expect(json["warmup_repeats"] as? Int == 1)
        let backends = json["backends"] as! [[String: Any]]
        #expect(backends.allSatisfy { ($0["repeats"] as? [Any])?.count == 3 })
        #expect(backends.allSatisfy { ($0["cpu_s"] as? Double ?? 0) > 0 })
    }

    @Test func latencyTableOnATinyWorkload() throws {
        let out = Fixtures.tempDir("repro")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var t = LatencyTable()
        t.backends = ["memory", "lsm"]
        t.repeats = 2
        t.warmupRepeats = 0
        t.recordCount = 400
        t.operationCount = 800
        t.out = out
        t.showStatus = false
        t.executable = Self.executable
        let o = try t.run()
        #expect(o.columns.map(\.backend) == ["memory", "lsm"])
        #expect(o.columns.allSatisfy { $0.durability == "none" && $0.write != nil && $0.read != nil })
        let lsm = o.columns[1]
        #expect(lsm.recovery.count == 2)
        #expect(lsm.recovery.allSatisfy { $0.error == nil && $0.found && $0.recoveryMs > 0 && $0.storeBytes > 0 })
        let csv = try CSVTable.read(out + "/table.csv")
        #expect(csv.header == LatencyTable.csvColumns)
        #expect(try csv.column("backend") == ["memory", "lsm"])
        #expect(try csv.column("durability") == ["none", "none"])
        #expect(try csv.column("recovery_method")[0].hasPrefix("n/a"))
        let md = try String(contentsOfFile: out + "/table.md", encoding: .utf8)
        #expect(md.contains("| **Durability mode** | `none` | `none` |"))
        #expect(md.contains("~38 µs"))
        let crash = try CSVTable.read(out + "/run-none/crash.csv")
        #expect(try crash.column("verdict") == ["ok", "ok"])
        #expect(o.plots.contains { $0.name == "crash-recovery-time" })
        #expect(o.plots.contains { $0.name == "latency-spectrum-lease_store" })
    }

    @Test func cliCompareExitsNonZeroOnARegression() throws {
        let regress = try Self.run(["compare", Fixtures.path("run-a"), Fixtures.path("run-b")])
        #expect(regress.status == 1)
        #expect(regress.out.contains("REGRESSION"))
        #expect(try Self.run(["compare", Fixtures.path("run-a"), Fixtures.path("run-a")]).status == 0)
        #expect(try Self.run(["compare", Fixtures.path("run-a"), Fixtures.path("run-b"), "--threshold", "30"]).status == 0)
        #expect(try Self.run(["compare", Fixtures.path("run-a"), Fixtures.path("nonexistent")]).status == 2)
    }
}

import Foundation
import Testing
import OrbitCore
import Reports
@testable import Runner
import Workloads

/// A whole `orbit-bench run` through the library: every results file, with the contract's columns.
@Suite(.serialized)
struct EndToEndTests {
    static func tempDir(_ tag: String) -> String {
        let dir = NSTemporaryDirectory() + "orbit-e2e-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    static func session(workload: String, out: String, sets: [String], backends: [String] = ["memory", "rocksdb"]) throws -> BenchmarkSession {
        var c = Configuration()
        try c.applyWorkloadFile(path: workload)
        try c.applyFlags(sets: sets, backends: backends, dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        s.showStatus = false
        return s
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func writeHeavyWritesEveryResultsFileWithContractColumns() throws {
        let out = Self.tempDir("wh")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let s = try Self.session(workload: "workloads/write-heavy.yaml", out: out,
                                 sets: ["record_count=2000", "operation_count=3000", "warmup_ops=100", "metrics_sample_rate=0.1"])
        let r = try s.run()
        #expect(r.backends.map(\.backend) == ["memory", "rocksdb"])
        #expect(r.backends.allSatisfy { $0.errors.isEmpty })

        #expect(try Self.lines(out + "/summary.csv")[0]
            == "backend,workload,durability,operation,count,micros_per_op,ops_per_s,mb_per_s,p50_us,p75_us,p99_us,p999_us,p9999_us,max_us,phase,errors,not_found,intended_p50_us,intended_p99_us,intended_p999_us,intended_max_us,"
            + "repeats,micros_per_op_min,micros_per_op_max,ops_per_s_min,ops_per_s_max,p50_us_min,p50_us_max,p99_us_min,p99_us_max,p999_us_min,p999_us_max,net_bytes_sent,net_bytes_received,memory_limit_mb,peak_memory_bytes,"
            + "cpu_user_us_per_op,cpu_system_us_per_op,context_switches_per_op,process_read_bytes_per_op,process_write_bytes_per_op,device_read_bytes_per_op,device_write_bytes_per_op,"
            + "ops_per_s_ci_low,ops_per_s_ci_high,micros_per_op_ci_low,micros_per_op_ci_high,p50_us_ci_low,p50_us_ci_high,"
            + "p99_us_ci_low,p99_us_ci_high,p999_us_ci_low,p999_us_ci_high")
        #expect(try Self.lines(out + "/metrics.csv")[0]
            == "timestamp_ns,backend,thread,operation,latency_ns,intended_latency_ns,memory_used_bytes,disk_bytes_read,disk_bytes_written,success,net_bytes_sent,net_bytes_received,phase")
        #expect(try Self.lines(out + "/timeseries.csv")[0]
            == "elapsed_s,backend,operation,count,ops_per_s,p50_us,p95_us,p99_us,p999_us,max_us,achieved_ops_s,target_ops_s,schedule_lag_ms,late_ops,backlog_ops,phase")
        #expect(try Self.lines(out + "/stats.csv")[0].hasPrefix(
            "elapsed_s,backend,total_keys,total_size_bytes,memory_usage_bytes,disk_usage_bytes,average_key_size,average_value_size,"))
        for backend in ["memory", "rocksdb"] {
            for op in ["load", "update", "insert", "get"] {
                let hgrm = try String(contentsOfFile: out + "/latency-\(backend)-\(op).hgrm", encoding: .utf8)
                #expect(hgrm.contains("Percentile"))
                #expect(hgrm.contains("#[Max"))
            }
        }
        // Counts: the load phase inserted every record once, the run phase did every operation once.
        let summary = try Self.lines(out + "/summary.csv").dropFirst().map { $0.split(separator: ",").map(String.init) }
        for backend in ["memory", "rocksdb"] {
            let rows: [[String]] = summary.filter { $0[0] == backend }
            func total(_ phase: String) -> Int {
                var n = 0
                for row in rows where row[14] == phase { n += Int(row[4])! }
                return n
            }
            #expect(total("load") == 2000)
            #expect(total("run") == 3000)
            let clean = rows.allSatisfy { row in row[2] == "none" && row[15] == "0" }
            #expect(clean)
        }
        // Sampled metrics: about 10% of 10,000 operations, each row well-formed.
        let metrics = try Self.lines(out + "/metrics.csv").dropFirst()
        #expect(metrics.count > 700 && metrics.count < 1300)
        #expect(metrics.allSatisfy { $0.split(separator: ",").count == 13 && ($0.hasSuffix(",true,0,0,load") || $0.hasSuffix(",true,0,0,run")) })
        // RocksDB's writes count the WAL bytes they produced.
        let split: [[Substring]] = metrics.map { $0.split(separator: ",") }
        let rocksWrites = split.filter { f in f[1] == "rocksdb" && (f[3] == "update" || f[3] == "load") }
        let walBytes = rocksWrites.map { f in Int(f[8])! }
        #expect(!walBytes.isEmpty)
        #expect(walBytes.allSatisfy { $0 > 100 })

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        #expect(json["schema"] as? Int == 1)
        #expect(json["seed"] as? Int == 42)
        #expect((json["op_stream_digest"] as? String)?.count == 16)
        let env = json["environment"] as! [String: Any]
        for key in ["cpu_model", "cores", "memory_bytes", "kernel", "data_dir_filesystem", "swift", "rocksdb", "git_commit"] {
            #expect(env[key] != nil, "environment.\(key)")
        }
        let config = json["effective_config"] as! [[String: Any]]
        let recordCount = config.first { $0["name"] as? String == "record_count" }!
        #expect(recordCount["value"] as? Int == 2000)
        #expect(recordCount["source"] as? String == "flag --set record_count=2000")
    }

    @Test func sameSeedSameDigestAcrossRunsAndBackends() throws {
        var digests: [String] = []
        for i in 0..<2 {
            let out = Self.tempDir("dg\(i)")
            defer { try? FileManager.default.removeItem(atPath: out) }
            let r = try Self.session(workload: "workloads/mixed.yaml", out: out,
                                     sets: ["record_count=500", "operation_count=2000", "warmup_ops=50"]).run()
            digests += r.backends.map { String($0.opStreamDigest, radix: 16) }
        }
        #expect(Set(digests).count == 1, "digests \(digests)")
    }

    @Test func badInputRunsNothingAndWritesNothing() throws {
        let out = Self.tempDir("bad")
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
        #expect(throws: OrbitError.self) { try c.applyFlags(sets: ["threads=0"], backends: [], dataDir: nil) }
        #expect(throws: OrbitError.self) { try c.applyFlags(sets: ["no_such_knob=1"], backends: [], dataDir: nil) }
        try c.applyFlags(sets: ["mix.read=0.5"], backends: [], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        #expect(throws: OrbitError.self) { _ = try s.run() }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func nonEmptyStoreIsRefusedUnlessFreshOrReuse() throws {
        let out = Self.tempDir("reuse")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let sets = ["record_count=300", "operation_count=300", "warmup_ops=0"]
        _ = try Self.session(workload: "workloads/write-heavy.yaml", out: out, sets: sets, backends: ["rocksdb"]).run()
        // The earlier run's results are replaced only with --overwrite (never data/, the stores).
        var again = try Self.session(workload: "workloads/write-heavy.yaml", out: out, sets: sets, backends: ["rocksdb"])
        again.overwrite = true
        #expect { _ = try again.run() } throws: { ($0 as? OrbitError)?.message == "the rocksdb store directory is not empty" }
        // --reuse runs on the data the store holds: without the load phase (it would load again over it).
        var reuse = try Self.session(workload: "workloads/write-heavy.yaml", out: out, sets: sets + ["load=false"], backends: ["rocksdb"])
        reuse.overwrite = true
        reuse.dataPolicy = .reuse
        let r = try reuse.run()
        #expect(r.backends[0].finalStats.totalKeys > 300)
        again.dataPolicy = .fresh
        _ = try again.run()
    }

    @Test func kvToolWritesWhatReadsBack() throws {
        let dir = Self.tempDir("kv")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = Configuration()
        try c.applyFlags(sets: ["durability=every-write"], backends: ["rocksdb"], dataDir: dir)
        _ = try KVTool.perform(.put(key: Array("k1".utf8), value: Array("v1".utf8)), backend: "rocksdb", settings: c.settings)
        guard case .value(let v) = try KVTool.perform(.get(key: Array("k1".utf8)), backend: "rocksdb", settings: c.settings) else {
            Issue.record("no value"); return
        }
        #expect(v == Array("v1".utf8))
        _ = try KVTool.perform(.delete(key: Array("k1".utf8)), backend: "rocksdb", settings: c.settings)
        guard case .value(let gone) = try KVTool.perform(.get(key: Array("k1".utf8)), backend: "rocksdb", settings: c.settings) else { return }
        #expect(gone == nil)
        #expect(throws: OrbitError.self) { try KVTool.perform(.stats, backend: "memory", settings: c.settings) }
    }
}

/// Review findings that must stay fixed.
@Suite(.serialized)
struct RunnerRegressionTests {
    @Test func durationAloneIsNotCutByTheDefaultOperationCount() throws {
        let out = EndToEndTests.tempDir("dur")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var c = Configuration()
        try c.applyFlags(sets: ["mix.read=1", "record_count=100", "duration_s=0.3", "warmup_ops=0"], backends: ["memory"], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        s.showStatus = false
        let r = try s.run()
        #expect(r.backends[0].runSeconds >= 0.3)
        #expect(r.backends[0].opStreamReproducible == false)
    }

    @Test func badEngineOptionsAreRefusedBeforeAnythingRuns() throws {
        let out = EndToEndTests.tempDir("val")
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
        try c.applyFlags(sets: ["rocksdb.wal=false", "durability=every-write"], backends: ["memory", "rocksdb"], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        #expect { _ = try s.run() } throws: { e in
            (e as? OrbitError)?.location == "rocksdb.wal from flag --set rocksdb.wal=false, durability from flag --set durability=every-write"
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func sampleRateIsExactAndReadsCountValueBytes() throws {
        let out = EndToEndTests.tempDir("rate")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var c = Configuration()
        try c.applyFlags(sets: ["mix.read=1", "record_count=1000", "operation_count=10000", "warmup_ops=0",
                                "metrics_sample_rate=0.7", "value_size=100", "key_size=16"], backends: ["memory"], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        s.showStatus = false
        let r = try s.run()
        let samples = r.backends[0].samples.filter { $0.metrics.operationType == .get }.count
        #expect(abs(samples - 7000) <= 1)
        let get = r.backends[0].operations.first { $0.operation == .get }!
        #expect(get.logicalBytes == get.count * 116)  // key 16 + value 100: every read finds its record
        // Timeseries rates are over the time the phase ran: they agree with the phase's overall rate.
        let rows = r.backends[0].timeseries.filter { $0.operation == .get }
        let total = rows.reduce(0) { $0 + $1.count }
        #expect(total == get.count)
    }
}


struct IntervalCollectorTests {
    static func histogram(_ values: [UInt64]) -> LatencyHistogram {
        var h = makeLatencyHistogram()
        for v in values { _ = h.record(v) }
        return h
    }

    static func slots(_ op: OperationType, _ values: [UInt64]) -> [LatencyHistogram?] {
        var s = [LatencyHistogram?](repeating: nil, count: OperationType.allCases.count)
        s[Int(op.rawValue)] = histogram(values)
        return s
    }

    /// An interval is reduced to its figures only once every thread has moved past it, so a thread
    /// that publishes late still lands in the right interval, and memory does not grow with run length.
    @Test func intervalsCloseWhenEveryThreadHasPassedThem() {
        let c = IntervalCollector()
        c.beginPhase(threads: 2)
        c.publish(interval: 0, thread: 0, histograms: Self.slots(.get, [1000, 2000]))
        c.publish(interval: 1, thread: 0, histograms: Self.slots(.get, [3000]))
        #expect(c.summaries().isEmpty)                       // thread 1 has published nothing yet
        c.reduceCompleteIntervals()                          // the monitor thread's periodic call
        #expect(c.summaries().isEmpty)
        c.publish(interval: 0, thread: 1, histograms: Self.slots(.get, [4000]))
        #expect(c.summaries().isEmpty)                       // publishing never reduces (client threads)
        c.reduceCompleteIntervals()
        #expect(c.summaries()[0]?[.get]?.count == 3)         // interval 0 complete: both threads passed it
        #expect(c.summaries()[1] == nil)                     // interval 1 still open for thread 1
        c.publish(interval: 3, thread: 1, histograms: Self.slots(.get, [5000]))
        c.reduceCompleteIntervals()
        #expect(c.summaries()[1]?[.get]?.count == 1)
        c.endPhase()
        #expect(c.summaries()[3]?[.get]?.count == 1)
        #expect(c.latest()?.count == 1)
    }
}

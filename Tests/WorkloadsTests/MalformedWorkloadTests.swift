import Testing
import OrbitCore
import Runner
import Workloads

/// Every malformed workload file is refused with an error that names file:line:column and what is
/// allowed. These are the exact texts users see (after "orbit-bench: error: ").
struct MalformedWorkloadTests {
    static let cases: [(name: String, yaml: String, error: String)] = [
        ("unknown field", "name: t\nrecordcount: 10\nmix: {read: 1}\n",
         "w.yaml:2:1: unknown field 'recordcount'; allowed fields: name, description, record_count, operation_count, duration_s, warmup_ops, warmup_s, warmup, warmup_window_s, warmup_bound, warmup_max_s, threads, seed, key_size, value_size, key_distribution, scan_length, load_order, load, lease, metrics_sample_rate, metrics_all, interval_s, key_format, insert_order, zero_padding, insert_start, insert_count, run, target_ops_s, measurement_interval, status_interval_s, ycsb_output, table, data_integrity, metering, repeat, warmup_repeats, record_trace, plots, memory_limit_mb, mix, cycles, crash_methods, kill_after_ops, kill_after_ms, crash, corruption_stride, thresholds, agents, agent_timeout_s, backends, durability, config, phases"),
        ("wrong type", "name: t\nrecord_count: lots\nmix: {read: 1}\n",
         "w.yaml:2:15: 'record_count' has the wrong type: 'lots'; allowed: an integer in 0...2000000000"),
        ("quoted number", "name: t\nthreads: \"4\"\nmix: {read: 1}\n",
         "w.yaml:2:10: 'threads' has the wrong type: string \"4\"; allowed: an integer in 1...1024"),
        ("out of range", "name: t\nthreads: 0\nmix: {read: 1}\n",
         "w.yaml:2:10: threads: bad value 0; allowed: an integer in 1...1024"),
        ("mix does not add up", "name: t\nmix:\n  read: 0.5\n  update: 0.4\n",
         "w.yaml:3:9: mix proportions add up to 0.9, not 1; they must add up to 1.0; got read=0.5 (workload w.yaml:3:9), update=0.4 (workload w.yaml:4:11)"),
        ("unknown mix operation", "name: t\nmix: {reed: 1}\n",
         "w.yaml:2:7: unknown field 'reed' in 'mix'; allowed in mix: read, update, insert, delete, scan, read_modify_write, lease_store, lease_renew, lease_get, lease_remove, lease_list_node, lease_range_query, lease_cleanup"),
        ("bad distribution", "name: t\nkey_distribution: pareto\nmix: {read: 1}\n",
         "w.yaml:2:19: key_distribution: bad value 'pareto'; allowed: one of: uniform, zipfian, scrambled_zipfian, latest, sequential, hotspot, exponential"),
        ("min greater than max", "name: t\nvalue_size: {min: 200, max: 100}\nmix: {read: 1}\n",
         "w.yaml:2:29: value_size: min 200 is greater than max 100; give min <= max, or one number for a fixed size"),
        ("unknown backend", "name: t\nbackends: [memory, mongodb]\nmix: {read: 1}\n",
         "w.yaml:2:20: unknown backend 'mongodb'; allowed: memory, rocksdb, lmdb, cow, lsm"),
        ("YAML syntax", "name: t\nmix: {read: 1\n",
         "w.yaml:3:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:6); fix the YAML; a workload is a mapping of `field: value` lines"),
        ("not a mapping", "- name: t\n- mix: {read: 1}\n",
         "w.yaml:1:1: a workload file must be a mapping of fields, found a list; start with e.g. `name: my-workload`"),
        ("duplicate field", "name: t\nthreads: 2\nthreads: 3\nmix: {read: 1}\n",
         "w.yaml:2:1: field appears twice: threads"),
        ("bad durability", "name: t\ndurability: fsync\nmix: {read: 1}\n",
         "w.yaml:2:13: durability: bad value 'fsync'; allowed: one of: none, every-write, group, periodic, periodic:<ms> (1...60000)"),
        ("unknown engine knob", "name: t\nconfig:\n  rocksdb:\n    block_cache: 64\nmix: {read: 1}\n",
         "w.yaml:4:5: unknown setting 'block_cache' in 'config.rocksdb'; allowed: block_cache_mb, write_buffer_mb, max_background_jobs, compression, bloom_bits_per_key, wal, max_open_files, statistics, count_read_bytes, wal_recovery_mode"),
        ("no run length", "name: t\noperation_count: 0\nmix: {read: 1}\n",
         "w.yaml:2:18: the run phase has neither operation_count nor duration_s; set operation_count > 0 or duration_s > 0"),
        ("empty file", "",
         "w.yaml:1:1: workload file is empty; a workload is a YAML mapping; see README.md, 'Writing a workload file'"),
        ("zipfian constant out of range", "name: t\nkey_distribution: {type: zipfian, constant: 1.5}\nmix: {read: 1}\n",
         "w.yaml:2:45: key_distribution.constant: bad value 1.5; allowed: a number in 0.01...0.999"),
        ("range given as a list", "name: t\nvalue_size: [1, 2]\nmix: {read: 1}\n",
         "w.yaml:2:13: 'value_size' must be a number or {min: N, max: M}, found a list"),
        ("key too small for the key space", "name: t\nkey_size: 8\nrecord_count: 1000000000\nmix: {read: 1}\n",
         "w.yaml:2:11: key_size 8 is too small for 1000000002 keys; keys are zero-padded decimal record numbers: use key_size >= 10"),
        ("lease and kv ops mixed", "name: t\nmix: {read: 0.5, lease_get: 0.5}\n",
         "w.yaml:2:13: lease operations and key-value operations cannot be mixed in one workload; use either lease_* proportions or read/update/insert/delete/scan/read_modify_write"),
        ("engine section not a mapping", "name: t\nconfig: {rocksdb: 5}\nmix: {read: 1}\n",
         "w.yaml:2:19: 'config.rocksdb' must be a mapping of settings, found '5'"),
        ("empty backends", "name: t\nbackends: []\nmix: {read: 1}\n",
         "w.yaml:2:11: 'backends' is empty; name at least one of: memory, rocksdb, lmdb, cow, lsm"),
    ]

    static func load(_ yaml: String) throws -> Workload {
        var settings = Settings(knobs: Configuration.allKnobs)
        try WorkloadFile.apply(yaml: yaml, path: "w.yaml", to: &settings)
        return try Workload(settings: settings, path: "w.yaml")
    }

    @Test(arguments: cases.indices)
    func malformedWorkloadIsRefusedWithItsLocation(_ i: Int) throws {
        let c = Self.cases[i]
        do {
            _ = try Self.load(c.yaml)
            Issue.record("case '\(c.name)' was accepted")
        } catch let e as OrbitError {
            // The backend lists are the registry's: the toy-engine test may have added one in this process.
            #expect(e.description == c.error.replacing("memory, rocksdb, lmdb, cow, lsm", with: EngineRegistry.names.joined(separator: ", ")),
                    "case '\(c.name)'")
            #expect(e.exitStatus == 2, "case '\(c.name)': bad input must exit with status 2")
        }
    }

    @Test func failedFileLeavesSettingsUntouched() throws {
        var settings = Settings(knobs: Configuration.allKnobs)
        #expect(throws: OrbitError.self) {
            try WorkloadFile.apply(yaml: "threads: 4\nrecord_count: x\n", path: "w.yaml", to: &settings)
        }
        #expect(settings.int("threads") == 1)
        #expect(settings.source("threads") == .builtinDefault)
    }

    @Test func missingFileIsAClearError() {
        var settings = Settings(knobs: Configuration.allKnobs)
        #expect {
            try WorkloadFile.apply(path: "/nonexistent/w.yaml", to: &settings)
        } throws: { e in
            (e as? OrbitError)?.description == "/nonexistent/w.yaml: cannot read workload file; give a path to a YAML workload file; `orbit-bench list` shows the bundled ones"
        }
    }

    @Test func everyBundledWorkloadParses() throws {
        for name in ["write-heavy", "read-heavy", "mixed", "scan-heavy", "lease-churn", "phased"] {
            var c = Configuration()
            try c.applyWorkloadFile(path: "workloads/\(name).yaml")
            let w = try Workload(settings: c.settings, path: "workloads/\(name).yaml")
            #expect(w.name == name)
            #expect(!w.description.isEmpty)
        }
    }

    @Test func wellFormedFileSetsEveryFieldWithItsSource() throws {
        let yaml = """
            name: full
            description: every field
            backends: [rocksdb, memory]
            durability: every-write
            record_count: 1000
            operation_count: 500
            duration_s: 2.5
            warmup_ops: 10
            warmup_s: 0.5
            threads: 3
            seed: 7
            key_size: 20
            value_size: {min: 10, max: 20}
            key_distribution: {type: hotspot, data_fraction: 0.1, op_fraction: 0.9}
            scan_length: 5
            load_order: sequential
            lease: {actor_types: 3, nodes: 4, duration_ms: 1000}
            metrics_sample_rate: 0.5
            metrics_all: true
            interval_s: 2
            mix: {read: 0.25, update: 0.25, insert: 0.1, delete: 0.1, scan: 0.2, read_modify_write: 0.1}
            config:
              rocksdb: {block_cache_mb: 64, wal: true}
            """
        var settings = Settings(knobs: Configuration.allKnobs)
        try WorkloadFile.apply(yaml: yaml, path: "w.yaml", to: &settings)
        let w = try Workload(settings: settings, path: "w.yaml")
        #expect(w.recordCount == 1000 && w.operationCount == 500 && w.durationSeconds == 2.5)
        #expect(w.warmupOps == 10 && w.warmupSeconds == 0.5 && w.threads == 3 && w.seed == 7 && w.keySize == 20)
        #expect(w.valueSize == 10...20 && w.scanLength == 5...5 && w.loadSequential)
        #expect(w.keyDistribution == .hotspot(dataFraction: 0.1, opFraction: 0.9))
        #expect(w.leaseActorTypes == 3 && w.leaseNodes == 4 && w.leaseDurationMillis == 1000)
        #expect(w.metricsSampleRate == 0.5 && w.metricsAll && w.intervalSeconds == 2)
        #expect(w.mix.map(\.op) == [.get, .update, .insert, .delete, .rangeQuery, .readModifyWrite])
        #expect(settings.string("backends") == "rocksdb,memory")
        #expect(settings.string("durability") == "every-write")
        #expect(settings.int("rocksdb.block_cache_mb") == 64)
        #expect(settings.source("rocksdb.block_cache_mb") == .workload(path: "w.yaml", line: 23, column: 29))
    }
}

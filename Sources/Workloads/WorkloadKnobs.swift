public import OrbitCore

/// The fields of a workload file, as knobs: so `--set record_count=20000`, the environment and the
/// file itself go through one precedence chain and one validator.
///
/// Nested YAML fields flatten with dots: `mix: {read: 0.5}` is `mix.read`; `value_size: 100` is
/// `value_size.min` and `value_size.max`; `key_distribution: zipfian` is `key_distribution.type`.
public enum WorkloadKnobs {
    /// Operation-mix entries: the YAML key and the operation it draws.
    public static let mixEntries: [(key: String, op: OperationType)] = [
        ("read", .get), ("update", .update), ("insert", .insert), ("delete", .delete), ("scan", .rangeQuery),
        ("read_modify_write", .readModifyWrite),
        ("lease_store", .leaseStore), ("lease_renew", .leaseRenew), ("lease_get", .leaseGet),
        ("lease_remove", .leaseRemove), ("lease_list_node", .leaseListNode),
        ("lease_range_query", .leaseRangeQuery), ("lease_cleanup", .leaseCleanup),
    ]

    public static let distributions = ["uniform", "zipfian", "scrambled_zipfian", "latest", "sequential", "hotspot", "exponential"]

    public static let all: [Knob] = {
        func k(_ name: String, _ kind: Knob.Kind, _ def: KnobValue, _ help: String) -> Knob {
            Knob(name, key: name, env: "ORBIT_" + name.uppercased().replacing(".", with: "_"), kind: kind, default: def, help: help)
        }
        var knobs: [Knob] = [
            k("name", .string, .string("unnamed"), "workload name (results and tables)"),
            k("description", .string, .string(""), "one line on what the workload models"),
            k("record_count", .int(0...2_000_000_000), .int(100_000), "records inserted by the load phase"),
            k("operation_count", .int(0...100_000_000_000), .int(100_000), "operations of the run phase (0: until duration_s; ignored when only duration_s is set)"),
            k("duration_s", .double(0...604_800), .double(0), "stop the run phase after this many seconds (0: no limit)"),
            k("warmup_ops", .int(0...100_000_000_000), .int(0), "operations per thread run before measuring, not counted"),
            k("warmup_s", .double(0...86_400), .double(0), "seconds of warm-up before measuring, not counted"),
            k("warmup", .choice(["fixed", "auto"]), .string("fixed"),
              "fixed: warm up for warmup_ops / warmup_s; auto: until throughput is steady (warmup_window_s, warmup_bound), at most warmup_max_s"),
            k("warmup_window_s", .double(0.2...3600), .double(5), "warmup auto: the sliding window throughput must be steady over, s"),
            k("warmup_bound", .double(0.001...1), .double(0.05),
              "warmup auto: steady once the fitted change of throughput over the window is below this fraction of its mean"),
            k("warmup_max_s", .double(0.1...86_400), .double(120), "warmup auto: the longest warm-up, s (then the run starts anyway)"),
            k("threads", .int(1...1024), .int(1), "client threads"),
            k("seed", .int(0...Int.max), .int(42), "seed of the op stream (same seed, same operations)"),
            k("key_size", .int(8...4096), .int(16), "key length in bytes (zero-padded decimal record number)"),
            k("value_size.min", .int(0...67_108_864), .int(100), "smallest value in bytes"),
            k("value_size.max", .int(0...67_108_864), .int(100), "largest value in bytes (uniform in [min, max])"),
            k("key_distribution.type", .choice(distributions), .string("uniform"), "how keys are chosen"),
            k("key_distribution.constant", .double(0.01...0.999), .double(0.99), "zipfian constant (theta)"),
            k("key_distribution.data_fraction", .double(0.0001...1), .double(0.2), "hotspot: fraction of keys that are hot"),
            k("key_distribution.op_fraction", .double(0...1), .double(0.8), "hotspot: fraction of operations on hot keys"),
            k("scan_length.min", .int(1...1_000_000), .int(1), "shortest scan (entries)"),
            k("scan_length.max", .int(1...1_000_000), .int(100), "longest scan (entries, uniform in [min, max])"),
            k("load_order", .choice(["random", "sequential"]), .string("random"), "order of the load phase's inserts"),
            k("load", .bool, .bool(true), "run the load phase (false: the store already holds record_count records, e.g. with --reuse)"),
            k("lease.actor_types", .int(1...100_000), .int(8), "addressable types leases spread over"),
            k("lease.nodes", .int(1...100_000), .int(16), "nodes leases spread over"),
            k("lease.duration_ms", .int(1...86_400_000), .int(30_000), "lease duration"),
            k("metrics_sample_rate", .double(0...1), .double(0.01), "fraction of operations written to metrics.csv"),
            k("metrics_all", .bool, .bool(false), "write every operation to metrics.csv"),
            k("interval_s", .double(0.1...3600), .double(1), "timeseries.csv, stats.csv and interval-histogram interval"),
            k("key_distribution.percentile", .double(0.001...99.999), .double(95), "exponential: percent of operations on the newest fraction·record_count records"),
            k("key_distribution.fraction", .double(0.000001...1), .double(0.8571428571), "exponential: that newest fraction of the records"),
            k("key_format", .choice(["decimal", "ycsb"]), .string("decimal"), "decimal: key_size-digit record number; ycsb: \"user\" + number (YCSB's buildKeyName)"),
            k("insert_order", .choice(["hashed", "ordered"]), .string("hashed"), "key_format ycsb: hashed (FNV-1a 64 of the record number) or ordered"),
            k("zero_padding", .int(1...64), .int(1), "key_format ycsb: zero-pad the number to this many digits"),
            k("insert_start", .int(0...2_000_000_000), .int(0), "first record the load phase inserts (YCSB insertstart)"),
            k("insert_count", .int(0...2_000_000_000), .int(0), "records the load phase inserts (0: record_count - insert_start; YCSB insertcount)"),
            k("run", .bool, .bool(true), "run the run phase (false: load only; `orbit-bench load` sets it)"),
            k("target_ops_s", .double(0...1_000_000_000), .double(0), "open loop: operations per second over all threads on a fixed schedule (0: closed loop)"),
            k("measurement_interval", .choice(["op", "intended", "both"]), .string("op"), "which latency the YCSB-style lines show: op (service time), intended (completion - scheduled start), both"),
            k("status_interval_s", .double(0...3600), .double(0), "status line period (0: 1 s on a terminal, else 10 s)"),
            k("ycsb_output", .bool, .bool(false), "print YCSB-style [OVERALL]/[READ] lines and status lines (on for YCSB property files)"),
            k("table", .string, .string("usertable"), "YCSB table name (recorded; engines have one key space)"),
            k("data_integrity", .bool, .bool(false), "YCSB dataintegrity: values derived from the key, every read verified (a mismatch is an error)"),
            k("metering", .bool, .bool(true), "false: no clock read or histogram record per operation (to measure the metering layer's own cost)"),
            k("repeat", .int(1...1000), .int(1), "measured repeats of the whole run (backends interleaved, a fresh store each); the tables show medians with min-max"),
            k("warmup_repeats", .int(0...100), .int(0), "whole-run repeats done first and not counted (warm caches, page cache, CPU clocks)"),
            k("record_trace", .string, .string(""),
              "write every load- and run-phase operation to this trace file (`run --record-trace`; docs/formats/trace.md)"),
            k("plots", .bool, .bool(false), "draw the run's plots with gnuplot into <out>/plots (as `run --plot`)"),
            k("memory_limit_mb", .int(0...16_777_216), .int(0),
              "each backend's run inside a memory cgroup of this many MiB, page cache included (0: no limit); refused where no memory controller is writable"),
        ]
        for (key, op) in mixEntries {
            knobs.append(k("mix." + key, .double(0...1), .double(0), "proportion of \(op.name) operations"))
        }
        return knobs + CrashKnobs.all + Thresholds.knobs + AgentKnobs.all
    }()

    /// `--set` shorthands, as in a workload file: a range field sets both ends, a typed field its type.
    public static let shorthands: [String: [String]] = [
        "value_size": ["value_size.min", "value_size.max"],
        "scan_length": ["scan_length.min", "scan_length.max"],
        "key_distribution": ["key_distribution.type"],
        "kill_after_ops": ["kill_after_ops.min", "kill_after_ops.max"],
        "kill_after_ms": ["kill_after_ms.min", "kill_after_ms.max"],
    ]

    /// Fields that take either a scalar (both ends) or a {min, max} mapping.
    static let rangeFields: Set<String> = ["value_size", "scan_length", "kill_after_ops", "kill_after_ms"]
    /// Fields that take either a scalar (the type) or a mapping with `type` and parameters.
    static let typedFields: [String: String] = ["key_distribution": "type"]
    /// Fields a phase of `phases:` may set (besides `name` and `background`): the run section's.
    public static let phaseFields = ["mix", "key_distribution", "target_ops_s", "duration_s", "operation_count", "threads",
                                     "value_size", "scan_length"]
    /// The most phases a workload may have.
    public static let maxPhases = 64
    /// Nested sections whose children are knobs.
    static let sections: Set<String> = ["mix", "lease", "value_size", "scan_length", "key_distribution", "crash", "kill_after_ops", "kill_after_ms", "thresholds"]
}

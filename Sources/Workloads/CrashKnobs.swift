public import OrbitCore

/// The workload fields of crash experiments (`orbit-bench crash`), as knobs: settable in the workload
/// file, the environment and with `--set` (e.g. `--set cycles=1000`), validated like every other knob.
public enum CrashKnobs {
    /// The crash methods, as `crash_methods` spells them (CrashRecord.Method's raw values).
    public static let methods = ["kill", "server-kill", "power-loss", "corruption", "io-error", "file-damage", "concurrent-open", "resource-limits",
                                 "fsync-failure", "concurrent-history", "differential", "node-kill"]
    /// Planted bugs (hidden, for the tests that show the oracle catches a broken engine).
    public static let plantedBugs = ["none", "drop-last-synced", "stale-value"]

    public static let all: [Knob] = {
        func k(_ name: String, _ kind: Knob.Kind, _ def: KnobValue, _ help: String) -> Knob {
            Knob(name, key: name, env: "ORBIT_" + name.uppercased().replacing(".", with: "_"), kind: kind, default: def, help: help)
        }
        return [
            k("cycles", .int(1...10_000_000), .int(20), "crash: kill cycles (or power-loss states, corruption probes, injected faults) per engine and method"),
            k("crash_methods", .list(methods), .string("kill"), "crash: the methods `orbit-bench crash` runs, in order"),
            k("kill_after_ops.min", .int(0...100_000_000), .int(1), "crash: kill after a seeded random number of acknowledged operations in [min, max] (max 0: by time only)"),
            k("kill_after_ops.max", .int(0...100_000_000), .int(200), "crash: largest operation count before the kill (0: kill by time only)"),
            k("kill_after_ms.min", .int(0...3_600_000), .int(0), "crash: kill a seeded random time in [min, max] ms after the store opened (max 0: by operation count only)"),
            k("kill_after_ms.max", .int(0...3_600_000), .int(0), "crash: largest time before the kill, ms (0: by operation count only)"),
            k("crash.batch_fraction", .double(0...1), .double(0.1), "crash: fraction of the worker's operations that are atomic batches"),
            k("crash.batch_size", .int(1...10_000), .int(8), "crash: entries per batch (puts and deletes of distinct keys)"),
            k("corruption_stride", .int(0...1 << 30), .int(0), "crash (corruption): flip a byte every N bytes of every file, plus every header (0: N from the probe budget, `cycles`)"),
            k("crash.case_filter", .string, .string(""), "crash (file-damage): run only the cases whose crash_point_or_time contains this text, * matching anything (replays a reported case with its seed)"),
            k("crash.opens_per_holder", .int(1...100_000), .int(40), "crash (concurrent-open): open attempts made while one holder process keeps the store"),
            k("crash.grow_tables", .int(1...10_000_000), .int(2_000), "crash (resource-limits): grow the store past this many tables (cow, lmdb: 4x as many pages)"),
            k("crash.nofile", .int(32...1_048_576), .int(256), "crash (resource-limits): RLIMIT_NOFILE of the child process that grows and reopens the store"),
            k("crash.server_writers", .int(1...64), .int(2), "crash (server-kill): writer threads (one connection each, each on its own records) while the server is killed"),
            k("crash.history_writers", .int(1...64), .int(4), "crash (concurrent-history): writer threads per run"),
            k("crash.history_readers", .int(0...64), .int(4), "crash (concurrent-history): reader threads per run (gets and scans)"),
            k("crash.history_operations", .int(1...10_000_000), .int(10_000), "crash (concurrent-history): operations per run, over all threads"),
            k("crash.history_keys", .int(2...100_000), .int(16), "crash (concurrent-history): keys the threads share (few: contention)"),
            k("crash.differential_operations", .int(1...10_000_000), .int(10_000), "crash (differential): operations per stream"),
            k("crash.differential_replay", .string, .string(""), "crash (differential): run this replay file (written by a failing stream) once instead of generating streams"),
            k("crash.planted_bug", .choice(plantedBugs), .string("none"), "crash (tests): plant a bug the oracle must catch: drop-last-synced (the worker acks each write 10 ms before applying it) or stale-value (the verifier reads through a stale cache)"),
        ]
    }()
}

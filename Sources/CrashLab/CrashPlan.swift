public import OrbitCore

/// The crash fields of a workload, read and cross-checked from `Settings` (CrashKnobs): what
/// `orbit-bench crash` runs, and how the kill worker chooses its operations and its kill point.
public struct CrashPlan: Sendable {
    public enum PlantedBug: String, Sendable { case none, dropLastSynced = "drop-last-synced", staleValue = "stale-value" }

    public var cycles: Int
    public var methods: [CrashRecord.Method]
    /// Kill after this many acknowledged operations (nil: by time only).
    public var killAfterOps: ClosedRange<Int>?
    /// Kill this long after the store opened in the worker, ms (nil: by operation count only).
    public var killAfterMs: ClosedRange<Int>?
    /// Key space (record numbers 0..<recordCount, zero-padded decimal keys of keySize bytes).
    public var recordCount: Int
    public var keySize: Int
    public var valueSize: Int
    /// Operation mix of the worker, proportions of insert+update (both are puts) and delete.
    public var putShare: Double
    public var deleteShare: Double
    public var batchFraction: Double
    public var batchSize: Int
    public var plantedBug: PlantedBug

    public init(settings s: Settings) throws {
        if let first = s.phases.first {
            throw OrbitError(.invalidWorkload, "a crash experiment runs one operation mix; this workload has phases",
                             at: first.source.location, hint: "drop 'phases' from a crash workload")
        }
        cycles = s.int("cycles")
        methods = s.string("crash_methods").split(separator: ",").map { CrashRecord.Method(rawValue: String($0))! }
        recordCount = s.int("record_count")
        keySize = s.int("key_size")
        valueSize = s.int("value_size.max")
        batchFraction = s.double("crash.batch_fraction")
        batchSize = s.int("crash.batch_size")
        plantedBug = PlantedBug(rawValue: s.string("crash.planted_bug"))!

        func range(_ field: String) throws -> ClosedRange<Int>? {
            let lo = s.int(field + ".min"), hi = s.int(field + ".max")
            if hi == 0 { return nil }
            guard lo <= hi else {
                throw OrbitError(.invalidWorkload, "\(field): min \(lo) is greater than max \(hi)",
                                 at: "\(field).max from \(s.source(field + ".max")), \(field).min from \(s.source(field + ".min"))",
                                 hint: "give min <= max, or one number (e.g. --set \(field)=500)")
            }
            return lo...hi
        }
        killAfterOps = try range("kill_after_ops")
        killAfterMs = try range("kill_after_ms")
        guard killAfterOps != nil || killAfterMs != nil else {
            throw OrbitError(.invalidWorkload, "no kill point: kill_after_ops and kill_after_ms are both 0",
                             at: "kill_after_ops.max from \(s.source("kill_after_ops.max")), kill_after_ms.max from \(s.source("kill_after_ms.max"))",
                             hint: "set kill_after_ops (e.g. {min: 1, max: 200}) and/or kill_after_ms (e.g. {min: 5, max: 200})")
        }
        guard recordCount >= 1 else {
            throw OrbitError(.invalidWorkload, "record_count must be at least 1 for a crash experiment (it is the key space)",
                             at: "record_count from \(s.source("record_count"))", hint: "e.g. record_count: 5000")
        }
        let digits = String(recordCount).count
        guard keySize >= digits else {
            throw OrbitError(.invalidWorkload, "key_size \(keySize) is too small for \(recordCount) keys",
                             at: "key_size from \(s.source("key_size"))", hint: "use key_size >= \(digits)")
        }
        guard valueSize >= KillOp.minimumValueSize else {
            throw OrbitError(.invalidWorkload, "value_size \(valueSize) is too small for a crash experiment's versioned values",
                             at: "value_size.max from \(s.source("value_size.max"))",
                             hint: "use value_size >= \(KillOp.minimumValueSize) (a value says its key and version)")
        }
        // The mix: only writes (the worker's job is to write; the verifier does the reading).
        var put = 0.0, del = 0.0
        var others: [String] = []
        for key in ["read", "update", "insert", "delete", "scan", "read_modify_write", "lease_store", "lease_renew", "lease_get",
                    "lease_remove", "lease_list_node", "lease_range_query", "lease_cleanup"] {
            let v = s.double("mix." + key)
            guard v > 0 else { continue }
            switch key {
            case "update", "insert": put += v
            case "delete": del += v
            default: others.append("mix.\(key) from \(s.source("mix." + key))")
            }
        }
        if !others.isEmpty {
            throw OrbitError(.invalidWorkload, "a crash workload's mix holds only writes", at: others.joined(separator: ", "),
                             hint: "allowed in mix: insert, update, delete (the verifier reads every key after each crash)")
        }
        if put + del == 0 { put = 1 }
        putShare = put / (put + del)
        deleteShare = del / (put + del)
    }

    /// Every knob the kill worker needs, as `--set name=value` assignments (non-default values only).
    public static func workerAssignments(_ s: Settings) -> [String] {
        s.entries.filter { $0.source != .builtinDefault && $0.name != "backends" && $0.name != "data_dir" }
            .map { "\($0.name)=\($0.value)" }
    }
}

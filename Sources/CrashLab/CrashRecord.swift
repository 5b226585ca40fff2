import OrbitCore

/// One row of `crash.csv`: the outcome of one crash-and-recover cycle (a real kill, a simulated
/// power-loss state, or one corruption probe summarized per file type).
///
/// The column order is a contract (docs/architecture.md, "The results contract"; results/README.md,
/// "crash.csv"): new columns go at the end.
public struct CrashRecord: Sendable, Hashable {
    /// How the crash was made.
    public enum Method: String, Sendable, Hashable, CaseIterable {
        /// The child process was sent SIGKILL.
        case kill
        /// A server backend's server (its whole process tree) was sent SIGKILL while the harness wrote.
        case serverKill = "server-kill"
        /// A state a power loss could leave, made by the fault-injecting file system.
        case powerLoss = "power-loss"
        /// A byte flipped in a closed store.
        case corruption
        /// An injected I/O error (ENOSPC, EIO).
        case ioError = "io-error"
        /// A whole file of a store deleted, truncated, replaced by an earlier generation's or another engine's.
        case fileDamage = "file-damage"
        /// A second open (another process, another instance) beside a process that holds the store.
        case concurrentOpen = "concurrent-open"
        /// RLIMIT_NOFILE at 256 and a store grown past thousands of tables: fds and memory bounded.
        case resourceLimits = "resource-limits"
        /// One failed fsync/fdatasync (Linux writeback-error semantics) under concurrent writers.
        case fsyncFailure = "fsync-failure"
        /// Concurrent writers and readers, checked for per-key linearizability and snapshot scans.
        case concurrentHistory = "concurrent-history"
        /// One seeded op stream on every engine, states compared.
        case differential
        /// One node of a replicated cluster SIGKILLed while clients write (a failover).
        case nodeKill = "node-kill"
    }

    /// Whether the engine kept its promise in this cycle.
    public enum Verdict: String, Sendable, Hashable {
        case ok
        /// A promise was broken: a synced write lost, a delete resurrected, a wrong value served,
        /// or the store failed to reopen.
        case broken
    }

    public var cycle: Int
    public var engine: String
    public var durability: String
    public var method: Method
    /// The crash point's name ("lsm.flush.after-table-sync"), or the kill time ("t=1234ms") or
    /// operation count ("op=5000"), or for corruption "<file>@<offset>".
    public var crashPointOrTime: String
    public var opsAcknowledged: Int
    public var opsSynced: Int
    public var opsRecovered: Int
    public var lostSynced: Int
    public var lostUnsynced: Int
    public var resurrected: Int
    /// Open until the first read is served, in milliseconds.
    public var recoveryMs: Double
    public var verdict: Verdict
    /// Bytes of the store on disk when it was reopened (for recovery time against store size).
    public var storeBytes: Int64
    /// Free text: what was broken, the error a reopen reported, the corruption detection outcome.
    public var detail: String
    /// node-kill: from the kill to the next acknowledged write / successful read begun after it, ms.
    public var unavailableWriteMs: Double?
    public var unavailableReadMs: Double?

    public init(cycle: Int, engine: String, durability: String, method: Method, crashPointOrTime: String,
                opsAcknowledged: Int, opsSynced: Int, opsRecovered: Int, lostSynced: Int, lostUnsynced: Int,
                resurrected: Int, recoveryMs: Double, verdict: Verdict, storeBytes: Int64, detail: String = "") {
        self.cycle = cycle
        self.engine = engine
        self.durability = durability
        self.method = method
        self.crashPointOrTime = crashPointOrTime
        self.opsAcknowledged = opsAcknowledged
        self.opsSynced = opsSynced
        self.opsRecovered = opsRecovered
        self.lostSynced = lostSynced
        self.lostUnsynced = lostUnsynced
        self.resurrected = resurrected
        self.recoveryMs = recoveryMs
        self.verdict = verdict
        self.storeBytes = storeBytes
        self.detail = detail
    }

    /// The header of crash.csv: the columns, then `store_bytes,detail`.
    public static let csvColumns: [String] = [
        "cycle", "engine", "durability", "method", "crash_point_or_time", "ops_acknowledged", "ops_synced",
        "ops_recovered", "lost_synced", "lost_unsynced", "resurrected", "recovery_ms", "verdict",
        "store_bytes", "detail", "unavailable_write_ms", "unavailable_read_ms",
    ]

    public var csvCells: [String] {
        [
            String(cycle), engine, durability, method.rawValue, crashPointOrTime, String(opsAcknowledged),
            String(opsSynced), String(opsRecovered), String(lostSynced), String(lostUnsynced), String(resurrected),
            formatMs(recoveryMs), verdict.rawValue, String(storeBytes), detail,
            unavailableWriteMs.map(formatMs) ?? "", unavailableReadMs.map(formatMs) ?? "",
        ]
    }

    private func formatMs(_ v: Double) -> String {
        let scaled = (v * 1000).rounded() / 1000
        return String(scaled)
    }
}

/// Writes crash.csv (RFC 4180, a cell quoted only when it needs it).
public enum CrashCSV {
    public static func render(_ records: [CrashRecord]) -> String {
        var out = row(CrashRecord.csvColumns)
        for r in records { out += row(r.csvCells) }
        return out
    }

    public static func row(_ cells: [String]) -> String {
        cells.map { s in
            if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + s.replacing("\"", with: "\"\"") + "\""
            }
            return s
        }.joined(separator: ",") + "\n"
    }
}

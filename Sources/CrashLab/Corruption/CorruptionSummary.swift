/// The detection-rate table of a corruption sweep: one row per file type (every store variant of
/// the engine together), and the `CrashRecord`s the `crash` command writes to crash.csv.
public struct CorruptionSummary: Sendable {
    public struct Row: Sendable, Hashable {
        public var fileType: String
        public var bytes: Int64 = 0
        public var probes = 0
        public var detected = 0
        public var correct = 0
        public var tail = 0
        public var silent = 0
        public var crash = 0
        public var hang = 0
        /// Probes in checksummed regions, and how many of those were detected or correct.
        public var checksummed = 0
        public var checksummedDetectedOrCorrect = 0
        /// Silent probes in checksummed regions: each one breaks the promise.
        public var silentChecksummed = 0
        /// Reading processes that died or hung on a probe in a checksummed region: the engine read
        /// damaged bytes its checksum should have stopped. (In regions no checksum covers — all of
        /// LMDB — a crash is reported, not counted: nothing there promised detection.)
        public var crashOrHangChecksummed = 0
        public var resurrected = 0

        /// Detected or correct over the checksummed probes (1 when there were none).
        public var detectionRate: Double {
            checksummed == 0 ? 1 : Double(checksummedDetectedOrCorrect) / Double(checksummed)
        }

        public var broken: Bool { silentChecksummed > 0 || crashOrHangChecksummed > 0 }
    }

    public var engine: String
    public var durability: String
    public var seed: UInt64
    /// Writes in the history each store was built from.
    public var operations: Int
    /// In the order file types were first seen.
    public private(set) var rows: [Row] = []

    public init(engine: String, durability: String, seed: UInt64, operations: Int) {
        self.engine = engine
        self.durability = durability
        self.seed = seed
        self.operations = operations
    }

    mutating func row(_ fileType: String) -> Int {
        if let i = rows.firstIndex(where: { $0.fileType == fileType }) { return i }
        rows.append(Row(fileType: fileType))
        return rows.count - 1
    }

    mutating func addBytes(fileType: String, _ bytes: Int64) { rows[row(fileType)].bytes += bytes }

    public mutating func add(_ p: CorruptionProbe) {
        let i = row(p.fileType)
        rows[i].probes += 1
        switch p.outcome {
        case .detected: rows[i].detected += 1
        case .correct: rows[i].correct += 1
        case .tail: rows[i].tail += 1
        case .silent: rows[i].silent += 1
        case .crash: rows[i].crash += 1
        case .hang: rows[i].hang += 1
        }
        if p.outcome == .silent && p.detail.contains("resurrected=") && !p.detail.contains("resurrected=0") {
            rows[i].resurrected += 1
        }
        if p.checksummed {
            rows[i].checksummed += 1
            if p.outcome == .detected || p.outcome == .correct { rows[i].checksummedDetectedOrCorrect += 1 }
            if p.outcome == .silent { rows[i].silentChecksummed += 1 }
            if p.outcome == .crash || p.outcome == .hang { rows[i].crashOrHangChecksummed += 1 }
        }
    }

    public var total: Row {
        var t = Row(fileType: "all")
        for r in rows {
            t.bytes += r.bytes; t.probes += r.probes; t.detected += r.detected; t.correct += r.correct
            t.tail += r.tail; t.silent += r.silent; t.crash += r.crash; t.hang += r.hang
            t.checksummed += r.checksummed; t.checksummedDetectedOrCorrect += r.checksummedDetectedOrCorrect
            t.silentChecksummed += r.silentChecksummed; t.resurrected += r.resurrected
            t.crashOrHangChecksummed += r.crashOrHangChecksummed
        }
        return t
    }

    /// Whether every checksummed probe was detected or correct and nothing crashed or hung.
    public var promiseHeld: Bool { !total.broken && total.tail == 0 }

    /// One record per file type: crash_point_or_time = the file type, verdict broken when a
    /// checksummed probe was silent or a reopen crashed.
    public func records() -> [CrashRecord] {
        rows.map { r in
            CrashRecord(cycle: 0, engine: engine, durability: durability, method: .corruption,
                        crashPointOrTime: r.fileType, opsAcknowledged: operations, opsSynced: operations,
                        opsRecovered: operations, lostSynced: r.silentChecksummed, lostUnsynced: 0,
                        resurrected: r.resurrected, recoveryMs: 0, verdict: r.broken ? .broken : .ok,
                        storeBytes: r.bytes,
                        detail: "probes=\(r.probes) detected=\(r.detected) correct=\(r.correct) tail=\(r.tail) "
                            + "silent=\(r.silent) silent_checksummed=\(r.silentChecksummed) crash=\(r.crash) hang=\(r.hang) "
                            + "checksummed=\(r.checksummed) rate=\(Self.percent(r.detectionRate)) seed=\(seed)")
        }
    }

    static func percent(_ v: Double) -> String {
        let s = String((v * 1000).rounded() / 10)
        return s + "%"
    }

    /// The table header (Markdown).
    public static let tableHeader =
        "| engine | file type | probes | detected | correct | tail-dropped | silent | silent (checksummed) | crash | checksummed | detected-or-correct rate |\n"
        + "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"

    /// The rows of this engine (with a total row), without the header.
    public var tableRows: String {
        var out = ""
        for r in rows + [total] {
            out += "| \(engine) | \(r.fileType) | \(r.probes) | \(r.detected) | \(r.correct) | \(r.tail) | \(r.silent) | "
                + "\(r.silentChecksummed) | \(r.crash + r.hang) | \(r.checksummed) | \(Self.percent(r.detectionRate)) |\n"
        }
        return out
    }

    /// The detection-rate table of one or more engines' sweeps (Markdown).
    public static func renderTable(_ summaries: [CorruptionSummary]) -> String {
        tableHeader + summaries.map(\.tableRows).joined()
    }
}

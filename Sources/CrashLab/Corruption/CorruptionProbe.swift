/// One corruption probe: one byte of one file of a closed store flipped, the store reopened and read
/// back, and what the engine did about it. One row of `corruption.csv`.
public struct CorruptionProbe: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// Open, a read or the scan failed with an error (the detail holds it).
        case detected
        /// Every expected key read back with its value, nothing missing, nothing extra.
        case correct
        /// The store came back as a prefix of the history without its final write(s), and the byte
        /// lies in the final record of a log: indistinguishable from a write torn by a crash (the
        /// record was the last thing appended), so recovery drops it as an unacknowledged tail.
        /// Counted apart: neither detected nor silently wrong.
        case tail = "tail-dropped"
        /// A wrong value, a missing key, a resurrected delete or an extra key, and no error.
        case silent
        /// The reopening process died on a signal (a trap, SIGSEGV, SIGBUS, an abort).
        case crash
        /// The reopening process did not finish in time.
        case hang
    }

    /// The backend ("lsm", "cow", "rocksdb", "lmdb").
    public var engine: String
    /// The durability mode the store was written with.
    public var durability: String
    /// How the store was left: "closed" (closed cleanly), "open" (files copied from an open,
    /// synced store: the last writes only in its log), plus engine variants ("closed,wal=false").
    public var store: String
    /// The file's path relative to the store directory.
    public var file: String
    public var fileType: String
    public var offset: Int64
    /// The part of the file's format the byte lies in ("record-header", "page-header", "footer").
    public var region: String
    /// Whether a checksum the engine verifies covers the byte.
    public var checksummed: Bool
    /// The XOR mask applied to the byte.
    public var mask: UInt8
    public var outcome: Outcome
    public var detail: String

    public init(engine: String, durability: String, store: String, file: String, fileType: String, offset: Int64,
                region: String, checksummed: Bool, mask: UInt8, outcome: Outcome, detail: String) {
        self.engine = engine
        self.durability = durability
        self.store = store
        self.file = file
        self.fileType = fileType
        self.offset = offset
        self.region = region
        self.checksummed = checksummed
        self.mask = mask
        self.outcome = outcome
        self.detail = detail
    }

    /// The header of corruption.csv (the command and the docs use this one list).
    public static let csvColumns: [String] = [
        "engine", "durability", "file", "file_type", "offset", "region", "checksummed", "outcome", "detail",
    ]

    /// Whether this probe breaks the promise: a silent wrong answer in a checksummed region, or a
    /// crash or hang on any corrupt store.
    public var breaksPromise: Bool {
        switch outcome {
        case .silent: checksummed
        case .crash, .hang: true
        case .detected, .correct, .tail: false
        }
    }

    public var csvCells: [String] {
        [engine, durability, file, fileType, String(offset), region, checksummed ? "true" : "false", outcome.rawValue,
         "store=\(store) mask=0x\(String(mask, radix: 16)) \(detail)"]
    }
}

/// Writes corruption.csv: `CorruptionProbe.csvColumns`, one row per probe.
public enum CorruptionCSV {
    public static var header: String { CrashCSV.row(CorruptionProbe.csvColumns) }

    public static func row(_ probe: CorruptionProbe) -> String { CrashCSV.row(probe.csvCells) }

    public static func render(_ probes: [CorruptionProbe]) -> String {
        var out = header
        for p in probes { out += row(p) }
        return out
    }
}

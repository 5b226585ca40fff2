public import OrbitCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `orbit-bench export`, `import` and `validate` (docs/formats/export.md): a store's entries as an
/// engine-neutral stream, and back into any engine. Library calls, so tests and scripts use them as the
/// CLI does. The store of `backend` is `<data_dir>/<backend>`, as for `kv`.
///
/// Store safety: `export` and `validate` open stores read-only (no byte changed); `import` verifies the
/// whole input file (every checksum, the order, the trailer, every size against the target engine's
/// limits) before it opens the target, and refuses a non-empty store unless `merge`.
public enum Transfer {
    /// What `import` did.
    public struct ImportResult: Sendable, Equatable {
        public var records: UInt64
        public var sourceEngine: String
    }

    /// The first difference `validate` found.
    public struct Mismatch: Sendable, Equatable {
        public var key: [UInt8]
        /// The value the reference (export file or --against store) holds; nil: the key is absent there.
        public var expected: [UInt8]?
        /// The value the validated store holds; nil: absent.
        public var found: [UInt8]?
        public init(key: [UInt8], expected: [UInt8]?, found: [UInt8]?) {
            self.key = key
            self.expected = expected
            self.found = found
        }
    }

    public struct ValidationReport: Sendable, Equatable {
        /// Entries compared equal before the first mismatch (all of them without one).
        public var matched: UInt64
        public var mismatch: Mismatch?
    }

    /// Progress, called every few thousand records (records so far, bytes so far).
    public typealias Progress = (UInt64, Int64) -> Void

    // MARK: Stores

    /// `<data_dir>/<backend>`, after the checks every transfer command makes on a backend.
    static func storeDirectory(_ backend: String, _ settings: Settings, flag: String) throws -> String {
        guard Engines.isDurable(backend) else {
            throw OrbitError(.invalidArgument, "the \(backend) backend keeps nothing between processes", at: "\(flag) \(backend)",
                             hint: "use a durable backend: " + StoreGuard.durableBackends.joined(separator: ", "))
        }
        try Engines.validate(backend, settings: settings)
        let root = settings.string("data_dir")
        guard !root.isEmpty else {
            throw OrbitError(.invalidArgument, "no data directory", hint: "pass --data-dir DIR (the store is DIR/\(backend))")
        }
        return root + "/" + backend
    }

    static func sourceVersion(_ backend: String) -> String {
        (try? Engines.descriptor(backend).libraryVersion ?? nil) ?? "orbit-bench"
    }

    // MARK: Export

    /// Writes every entry of `backend`'s store to `output` (which must not exist), through a temporary
    /// file beside it that is synced and renamed into place at the end. Returns the trailer's account.
    @discardableResult
    public static func export(backend: String, settings: Settings, output: String, progress: Progress? = nil) throws -> ExportFormat.Summary {
        let dir = try storeDirectory(backend, settings, flag: "--backend")
        guard !FileManager.default.fileExists(atPath: output) else {
            throw OrbitError(.invalidArgument, "the output file exists", at: output,
                             hint: "export writes a new file and never replaces one; choose another --output or move that file away")
        }
        let parent = parentDirectory(of: output)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw OrbitError(.invalidArgument, "the output's directory does not exist", at: output, hint: "create \(parent) first")
        }
        try StoreGuard.check(backend, directory: dir, intent: .read)
        let temporary = output + ".orbit-partial"
        guard !FileManager.default.fileExists(atPath: temporary) else {
            throw OrbitError(.invalidArgument, "a partial export is in the way", at: temporary,
                             hint: "an earlier export was interrupted; remove that file")
        }
        let writer = try ExportWriter(path: temporary, header: ExportFormat.Header(sourceEngine: backend, sourceVersion: sourceVersion(backend)))
        do {
            let summary = try Engines.withEngine(backend, directory: dir, settings: settings, access: .readOnly,
                                                 ExportBody(writer: writer, progress: progress))
            guard !FileManager.default.fileExists(atPath: output) else {
                throw OrbitError(.invalidArgument, "the output file appeared during the export", at: output, hint: "choose another --output")
            }
            try POSIXFileSystem().rename(temporary, to: output)
            try POSIXFileSystem().syncDirectory(parent)
            return summary
        } catch {
            writer.abandon()
            try? POSIXFileSystem().remove(temporary)
            throw error
        }
    }

    struct ExportBody: EngineBody {
        let writer: ExportWriter
        let progress: Progress?
        func run<E: StorageEngine>(_ engine: E) throws -> ExportFormat.Summary {
            try engine.scan(from: nil, to: nil, limit: 0) { k, v in
                try writer.append(key: k, value: v)
                if let progress, writer.records % 4096 == 0 { progress(writer.records, writer.bytesWritten) }
                return true
            }
            let s = try writer.finish()
            progress?(s.records, writer.bytesWritten)
            return s
        }
    }

    // MARK: Import

    /// Loads `input` into `backend`'s store. The whole file is verified first (a damaged or truncated
    /// file, or an entry too large for the engine, is refused naming the offset, exit status 2, with
    /// nothing written); a store holding any entry is refused unless `merge` (then imported entries
    /// overwrite the store's own).
    @discardableResult
    public static func importFile(backend: String, settings: Settings, input: String, merge: Bool = false,
                                  progress: Progress? = nil) throws -> ImportResult {
        let dir = try storeDirectory(backend, settings, flag: "--backend")
        let limits = StoreGuard.limits(backend, settings: settings)
        let check = try ExportReader(path: input, code: .invalidArgument)
        try check.verifyToEnd { k, v in
            guard k.count <= limits.maxKeySize, v.count <= limits.maxValueSize else {
                throw OrbitError(.invalidArgument,
                                 "record \(check.records) (a \(k.count)-byte key, a \(v.count)-byte value) exceeds the \(backend) engine's limits",
                                 at: "\(input) @ offset \(check.offset)",
                                 hint: "\(backend) stores keys up to \(limits.maxKeySize) and values up to \(limits.maxValueSize) bytes; nothing was written")
            }
        }
        let found = try StoreGuard.check(backend, directory: dir, intent: .create, flagHint: "--data-dir")
        if case .ours = found, !merge {
            let first = try Engines.withEngine(backend, directory: dir, settings: settings, access: .readOnly, FirstKey())
            if let first {
                throw OrbitError(.invalidArgument, "the \(backend) store is not empty (it holds the key \(KVTool.formatBytes(first, hex: false)))",
                                 at: dir, hint: "import into an empty store, or pass --merge to add the export's entries to it (they overwrite the store's)")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw OrbitError(.invalidArgument, "cannot create the store directory", at: dir, cause: .library("\(error)"))
        }
        let reader = try ExportReader(path: input, code: .invalidArgument)
        let n = try Engines.withEngine(backend, directory: dir, settings: settings, access: .readWrite,
                                       ImportBody(reader: reader, progress: progress))
        return ImportResult(records: n, sourceEngine: reader.header.sourceEngine)
    }

    struct FirstKey: EngineBody {
        func run<E: StorageEngine>(_ engine: E) throws -> [UInt8]? { try engine.scan(from: nil, to: nil, limit: 1).first?.key }
    }

    struct ImportBody: EngineBody {
        let reader: ExportReader
        let progress: Progress?
        func run<E: StorageEngine>(_ engine: E) throws -> UInt64 {
            var batch = WriteBatch(reservingCapacity: 1 << 20)
            var inBatch = 0
            var bytes = 0
            while try reader.next() {
                reader.withRecord { k, v in batch.put(k, v); bytes += k.count + v.count }
                inBatch += 1
                if inBatch >= 1000 || bytes >= 1 << 20 {
                    try engine.write(batch)
                    batch.removeAll()
                    inBatch = 0
                    bytes = 0
                    progress?(reader.records, reader.offset)
                }
            }
            if inBatch > 0 { try engine.write(batch) }
            try engine.sync()
            progress?(reader.records, reader.offset)
            return reader.records
        }
    }

    // MARK: Validate

    /// Verifies an export file alone: every checksum, the order and the trailer. Damage is an error
    /// (`.corruption`, exit status 1) naming the offset.
    public static func verifyFile(_ path: String) throws -> (header: ExportFormat.Header, summary: ExportFormat.Summary) {
        let r = try ExportReader(path: path)
        return (r.header, try r.verifyToEnd())
    }

    /// Compares `backend`'s store (opened read-only) with the export file `against`: equal when they
    /// hold the same keys with the same values. Reports the first difference in key order.
    public static func validate(backend: String, settings: Settings, against file: String) throws -> ValidationReport {
        let dir = try storeDirectory(backend, settings, flag: "--backend")
        let reader = try ExportReader(path: file)
        try StoreGuard.check(backend, directory: dir, intent: .read)
        return try Engines.withEngine(backend, directory: dir, settings: settings, access: .readOnly, CompareBody(expected: reader))
    }

    /// Compares `backend`'s store with `againstBackend`'s store under `againstSettings`' data_dir, both
    /// opened read-only.
    public static func validate(backend: String, settings: Settings, againstBackend: String, againstSettings: Settings) throws -> ValidationReport {
        let dir = try storeDirectory(backend, settings, flag: "--backend")
        let other = try storeDirectory(againstBackend, againstSettings, flag: "--against-backend")
        try StoreGuard.check(backend, directory: dir, intent: .read)
        try StoreGuard.check(againstBackend, directory: other, intent: .read, flagHint: "--against-data-dir")
        return try Engines.withEngine(againstBackend, directory: other, settings: againstSettings, access: .readOnly,
                                      AgainstStore(backend: backend, directory: dir, settings: settings))
    }

    struct AgainstStore: EngineBody {
        let backend: String
        let directory: String
        let settings: Settings
        func run<E: StorageEngine>(_ reference: E) throws -> ValidationReport {
            try Engines.withEngine(backend, directory: directory, settings: settings, access: .readOnly,
                                   CompareBody(expected: StoreCursor(reference)))
        }
    }

    struct CompareBody<S: RecordSource>: EngineBody {
        let expected: S
        func run<E: StorageEngine>(_ engine: E) throws -> ValidationReport {
            try compare(expected: expected, found: StoreCursor(engine))
        }
    }

    /// Walks two ordered streams side by side; the first key where they differ is the mismatch.
    public static func compare<A: RecordSource, B: RecordSource>(expected: A, found: B) throws -> ValidationReport {
        var matched: UInt64 = 0
        var hasA = try expected.next()
        var hasB = try found.next()
        while hasA || hasB {
            if !hasB {
                return try expected.withRecord { k, v in ValidationReport(matched: matched, mismatch: Mismatch(key: Array(k), expected: Array(v), found: nil)) }
            }
            if !hasA {
                return try found.withRecord { k, v in ValidationReport(matched: matched, mismatch: Mismatch(key: Array(k), expected: nil, found: Array(v))) }
            }
            let m: Mismatch? = try expected.withRecord { ka, va in
                try found.withRecord { kb, vb in
                    let order = compareBytes(ka, kb)
                    if order < 0 { return Mismatch(key: Array(ka), expected: Array(va), found: nil) }
                    if order > 0 { return Mismatch(key: Array(kb), expected: nil, found: Array(vb)) }
                    return compareBytes(va, vb) == 0 ? nil : Mismatch(key: Array(ka), expected: Array(va), found: Array(vb))
                }
            }
            if let m { return ValidationReport(matched: matched, mismatch: m) }
            matched += 1
            hasA = try expected.next()
            hasB = try found.next()
        }
        return ValidationReport(matched: matched, mismatch: nil)
    }
}

/// A progress line on a terminal (standard error), at most twice a second; nothing when not a terminal.
public final class ProgressLine {
    private let verb: String
    private let enabled: Bool
    private var last: UInt64 = 0
    private var shown = false

    public init(_ verb: String) {
        self.verb = verb
        enabled = isatty(STDERR_FILENO) == 1
    }

    public func update(records: UInt64, bytes: Int64) {
        guard enabled else { return }
        let now = MonotonicClock.nanoseconds()
        guard now - last >= 500_000_000 else { return }
        last = now
        shown = true
        let mib = Double(bytes) / 1_048_576
        FileHandle.standardError.write(Data("\r\(verb): \(records) records, \(formatDouble(mib, decimals: 1)) MiB".utf8))
    }

    public func finish() {
        if shown { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

import OrbitCore

/// What a table file is, as the manifest records it.
struct FileMeta: Sendable, Hashable {
    var number: UInt64
    var size: UInt64
    var entries: UInt64
    var deletes: UInt64
    /// Sum of user-key and value bytes of the puts in the table.
    var rawPutBytes: UInt64
    /// Smallest and largest internal keys.
    var smallest: [UInt8]
    var largest: [UInt8]
    /// Sum of user-key bytes of the puts (stats: average key size); nil for tables a version-1
    /// snapshot file records.
    var rawKeyBytes: UInt64? = nil
}

/// One change to the set of live files (docs/formats/lsm-manifest.md): files added and removed per
/// level, and the counters recovery needs. Encoded as tagged fields with varints.
struct VersionEdit: Sendable {
    var logNumber: UInt64?
    var nextFileNumber: UInt64?
    var lastSequence: UInt64?
    var deleted: [(level: Int, number: UInt64)] = []
    var added: [(level: Int, meta: FileMeta)] = []
    /// WALs opened: each was created and its header synced before this edit, and gets records
    /// only after it is synced. A manifest holding any such edit tracks its logs: at open every
    /// live log (opened, number ≥ `logNumber`) must exist with a valid header naming its number.
    var openedLogs: [UInt64] = []
    /// WALs sealed at an exact length, synced whole before this edit: the log a memtable switch
    /// left (in the same edit as the next log's opening), and at a clean close the live log, after
    /// its close marker (the close's final edit). At open the file must have exactly that length.
    var sealedLogs: [(number: UInt64, length: UInt64)] = []

    enum Tag: UInt64 {
        /// Tag 5, a new file without its key bytes, was written only by development builds before
        /// tag 6: it is refused by name (`decode`), neither read nor written.
        case logNumber = 1, nextFileNumber = 2, lastSequence = 3, deletedFile = 4, retiredNewFile = 5, newFileWithKeyBytes = 6
        /// "log N opened" (number) and "log N sealed at L bytes" (number, length).
        case openedLog = 7, sealedLog = 8
    }

    func encode() -> [UInt8] {
        var out: [UInt8] = []
        if let v = logNumber { putVarint(&out, Tag.logNumber.rawValue); putVarint(&out, v) }
        if let v = nextFileNumber { putVarint(&out, Tag.nextFileNumber.rawValue); putVarint(&out, v) }
        if let v = lastSequence { putVarint(&out, Tag.lastSequence.rawValue); putVarint(&out, v) }
        for d in deleted {
            putVarint(&out, Tag.deletedFile.rawValue); putVarint(&out, UInt64(d.level)); putVarint(&out, d.number)
        }
        for a in added {
            putVarint(&out, Tag.newFileWithKeyBytes.rawValue); putVarint(&out, UInt64(a.level))
            a.meta.encode(&out, withKeyBytes: true)
        }
        for n in openedLogs { putVarint(&out, Tag.openedLog.rawValue); putVarint(&out, n) }
        for l in sealedLogs { putVarint(&out, Tag.sealedLog.rawValue); putVarint(&out, l.number); putVarint(&out, l.length) }
        return out
    }

    static func decode(_ p: UnsafeRawBufferPointer, path: String, offset: Int64) throws -> VersionEdit {
        var r = ByteReader(p)
        var e = VersionEdit()
        func bad(_ what: String) -> OrbitError { corruption("malformed version edit: \(what)", path, offset) }
        while !r.atEnd {
            guard let raw = r.varint(), let tag = Tag(rawValue: raw) else { throw bad("unknown tag") }
            switch tag {
            case .logNumber: guard let v = r.varint() else { throw bad("log number") }; e.logNumber = v
            case .nextFileNumber: guard let v = r.varint() else { throw bad("next file number") }; e.nextFileNumber = v
            case .lastSequence: guard let v = r.varint() else { throw bad("last sequence") }; e.lastSequence = v
            case .deletedFile:
                guard let l = r.varint(), l < 64, let n = r.varint() else { throw bad("deleted file") }
                e.deleted.append((Int(l), n))
            case .retiredNewFile:
                throw OrbitError(.unsupported, "version edit tag 5 (a table recorded without its key bytes), which only development "
                                 + "builds of orbit-bench wrote (this build reads tag 6)", at: "\(path) @ offset \(offset)",
                                 hint: "the store was written by an unreleased build: open it with that build, or use a new data directory")
            case .newFileWithKeyBytes:
                guard let l = r.varint(), l < 64, let m = FileMeta.decode(&r, withKeyBytes: true) else { throw bad("new file") }
                e.added.append((Int(l), m))
            case .openedLog:
                guard let n = r.varint() else { throw bad("opened log") }
                e.openedLogs.append(n)
            case .sealedLog:
                guard let n = r.varint(), let l = r.varint() else { throw bad("sealed log") }
                e.sealedLogs.append((n, l))
            }
        }
        return e
    }
}

extension FileMeta {
    /// The "new file" fields; `withKeyBytes` appends the raw key bytes (manifest tag 6, snapshot v2).
    func encode(_ out: inout [UInt8], withKeyBytes: Bool) {
        putVarint(&out, number); putVarint(&out, size); putVarint(&out, entries)
        putVarint(&out, deletes); putVarint(&out, rawPutBytes)
        putVarint(&out, UInt64(smallest.count)); out.append(contentsOf: smallest)
        putVarint(&out, UInt64(largest.count)); out.append(contentsOf: largest)
        if withKeyBytes { putVarint(&out, rawKeyBytes ?? 0) }
    }

    static func decode(_ r: inout ByteReader, withKeyBytes: Bool) -> FileMeta? {
        guard let n = r.varint(), let s = r.varint(), let e = r.varint(), let d = r.varint(), let raw = r.varint(),
              let sm = r.lengthPrefixed(), sm.count >= trailerSize, let lg = r.lengthPrefixed(), lg.count >= trailerSize else { return nil }
        var m = FileMeta(number: n, size: s, entries: e, deletes: d, rawPutBytes: raw, smallest: [UInt8](sm), largest: [UInt8](lg))
        if withKeyBytes {
            guard let k = r.varint() else { return nil }
            m.rawKeyBytes = k
        }
        return m
    }
}

/// The WALs a manifest says are live, as its edits build them up (`Manifest.recover`, and the
/// engine's own view, which a rolled manifest's first edit restates): every log opened whose
/// number is at least the log number, with its sealed length once it has one.
struct LiveLogs: Sendable, Equatable {
    /// Log number → sealed length (nil: still being appended to when the edit was written).
    var logs: [UInt64: UInt64?] = [:]
    /// Whether any edit recorded a log opened (manifests of older builds never do: their logs
    /// are read by the older rules, without these checks).
    var tracked = false
    /// The last edit applied sealed a log and opened none: a clean close's final edit.
    var cleanClose: (number: UInt64, length: UInt64)?

    static func == (a: LiveLogs, b: LiveLogs) -> Bool {
        a.logs == b.logs && a.tracked == b.tracked && a.cleanClose?.number == b.cleanClose?.number
            && a.cleanClose?.length == b.cleanClose?.length
    }

    mutating func apply(_ e: VersionEdit) {
        if !e.openedLogs.isEmpty { tracked = true }
        for n in e.openedLogs where logs[n] == nil { logs[n] = .some(nil) }
        for s in e.sealedLogs { logs[s.number] = .some(s.length) }
        if let first = e.logNumber { logs = logs.filter { $0.key >= first } }
        cleanClose = e.openedLogs.isEmpty && e.sealedLogs.count == 1 ? e.sealedLogs[0] : nil
    }

    /// The fields of a manifest's first edit that restate these logs.
    func restate(into e: inout VersionEdit) {
        e.openedLogs = logs.keys.sorted()
        e.sealedLogs = logs.compactMap { k, v in v.map { (k, $0) } }.sorted { $0.number < $1.number }
    }
}

import OrbitCore

/// The manifest (docs/formats/lsm-manifest.md): an append-only log of `VersionEdit`s in the log
/// format, named `MANIFEST-<number>`, and the `CURRENT` file naming it. On open it is the only
/// source of truth for which tables exist at which level.
///
/// Each open writes a fresh manifest holding one edit with the whole state, syncs it, and switches
/// CURRENT with write-temp, fsync, rename, directory fsync; then the old manifest is removed.
/// Not thread-safe: the engine serializes calls.
final class Manifest<FS: FileSystem>: @unchecked Sendable {
    let fs: FS
    let directory: String
    let number: UInt64
    private let writer: LogWriter<FS.File>

    struct Recovered {
        var files: [(level: Int, meta: FileMeta)] = []
        var logNumber: UInt64 = 0
        var nextFileNumber: UInt64 = 2
        var lastSequence: UInt64 = 0
        var manifestNumber: UInt64 = 0
        /// The live WALs the manifest records (docs/formats/lsm-manifest.md, "Logs").
        var logs = LiveLogs()
    }

    static func currentPath(_ dir: String) -> String { joinPath(dir, "CURRENT") }
    static func name(_ n: UInt64) -> String { "MANIFEST-" + padded(n) }

    /// File numbers and sequences past these are damage (and would overflow in `n + 1`).
    static var maxFileNumber: UInt64 { 1 << 62 }

    /// Reads CURRENT and replays the manifest it names; the caller has established that the
    /// directory holds an lsm store, so a missing CURRENT is corruption, as is a manifest that does
    /// not begin with an edit holding the whole state (a 0-byte or header-only manifest used to
    /// recover as an empty store, whose open then removed every table and log).
    static func recover(fs: FS, directory: String, levels: Int) throws -> Recovered {
        let current = currentPath(directory)
        guard try fs.exists(current) else {
            throw OrbitError(.corruption, "CURRENT is missing", at: current,
                             hint: "the store is damaged (its CURRENT file is gone); run `orbit-bench inspect lsm DIR`")
        }
        let text = String(decoding: try fs.readFile(current), as: UTF8.self)
        guard text.hasSuffix("\n"), text.hasPrefix("MANIFEST-"), let n = UInt64(text.dropFirst(9).dropLast()) else {
            throw OrbitError(.corruption, "CURRENT does not name a manifest: '\(text)'", at: current,
                             hint: "the store is damaged; run `orbit-bench inspect lsm DIR`")
        }
        let path = joinPath(directory, name(n))
        guard try fs.exists(path) else {
            throw OrbitError(.corruption, "CURRENT names \(name(n)), which does not exist", at: current,
                             hint: "the store is damaged (CURRENT or its manifest); run `orbit-bench inspect lsm DIR`")
        }
        let file = try fs.open(path, .read)
        defer { try? file.close() }
        var rec = Recovered()
        rec.manifestNumber = n
        var live: [UInt64: (Int, FileMeta)] = [:]
        var order: [UInt64] = []
        var first = true
        let outcome = try LogReader(file: file, magic: LogFormat.manifestMagic, paranoid: true).read { record, offset in
            let e = try VersionEdit.decode(record, path: path, offset: offset)
            if first {
                first = false
                guard e.logNumber != nil, e.nextFileNumber != nil, e.lastSequence != nil else {
                    throw corruption("the manifest's first edit does not hold the store's whole state (log number, next file, last sequence)", path, offset)
                }
            }
            guard (e.nextFileNumber ?? 0) < maxFileNumber, (e.logNumber ?? 0) < maxFileNumber, (e.lastSequence ?? 0) <= maxSequence else {
                throw corruption("version edit holds an out-of-range file number or sequence", path, offset)
            }
            if let v = e.logNumber { rec.logNumber = v }
            if let v = e.nextFileNumber { rec.nextFileNumber = v }
            if let v = e.lastSequence { rec.lastSequence = v }
            guard e.openedLogs.allSatisfy({ $0 < maxFileNumber }), e.sealedLogs.allSatisfy({ $0.number < maxFileNumber && $0.length <= UInt64(Int64.max) }) else {
                throw corruption("version edit names an out-of-range log", path, offset)
            }
            rec.logs.apply(e)
            for d in e.deleted { live[d.number] = nil }
            for a in e.added {
                guard a.meta.number < maxFileNumber, a.meta.size <= UInt64(Int64.max) else {
                    throw corruption("table \(a.meta.number) of \(a.meta.size) bytes is out of range", path, offset)
                }
                guard a.level < levels else {
                    throw corruption("table \(a.meta.number) at level \(a.level), but lsm.max_levels is \(levels)", path, offset)
                }
                live[a.meta.number] = (a.level, a.meta); order.append(a.meta.number)
            }
        }
        for n in order { if let (l, m) = live[n] { rec.files.append((l, m)); live[n] = nil } }
        guard outcome.records > 0 else {
            // Empty, header-only or a lone damaged record: the first edit, which holds the whole
            // state and was synced before CURRENT named this manifest, is not there.
            let size = (try? file.size()) ?? 0
            throw corruption("the manifest holds no complete edit (\(size) bytes): the store's state is missing", path, outcome.validEnd)
        }
        if outcome.tornTail {
            // A damaged last record is taken for an edit torn by a crash (never acknowledged: its
            // change did not happen) only when nothing shows it was synced and acted on.
            let at = outcome.validEnd
            guard outcome.records > 0 else {
                // The first edit holds the whole state and was synced before CURRENT named this
                // manifest: it cannot be torn. Opening without it would open an empty store.
                throw corruption("the manifest's first edit (the store's whole state) is damaged", path, at)
            }
            // A flush edit's old WAL is removed only after the edit is synced: the WAL the
            // recovered state still needs must exist if the edit really was torn.
            if rec.logNumber > 0, try !fs.exists(logPath(directory, rec.logNumber)) {
                throw corruption("the manifest's last edit is damaged, and WAL \(padded(rec.logNumber)).log that the "
                                 + "state before it needs is gone: the edit was synced and applied", path, at)
            }
        }
        // A table the manifest names must exist (inputs of a compaction are removed only after its
        // edit is synced, so a missing one means the manifest lost a synced edit).
        for (level, meta) in rec.files where try !fs.exists(tablePath(directory, meta.number)) {
            throw corruption("the manifest names table \(padded(meta.number)).sst at level \(level), but it is missing", path,
                             outcome.validEnd)
        }
        return rec
    }

    /// Creates `MANIFEST-<number>` holding `snapshot`, syncs it and points CURRENT at it.
    init(fs: FS, directory: String, number: UInt64, snapshot: VersionEdit) throws {
        self.fs = fs
        self.directory = directory
        self.number = number
        let path = joinPath(directory, Self.name(number))
        let file = try fs.open(path, .truncate)
        writer = try LogWriter(newFile: file, magic: LogFormat.manifestMagic)
        try writer.addRecord(snapshot.encode())
        try file.fsync()
        try fs.syncDirectory(directory)
        try fs.crashPoint("lsm.manifest.before-current")
        try fs.writeFileAtomically(Self.currentPath(directory), Array((Self.name(number) + "\n").utf8))
    }

    /// The first failed append or sync. After it no edit is written: a failed append may leave part
    /// of a record, and a failed sync may have dropped what it covered (fsyncgate), so a later
    /// edit would sit after damage and turn a torn tail into corruption at the next open. The
    /// store's flushes and compactions stop; a reopen writes a fresh manifest.
    private var failure: OrbitError?

    /// Appends an edit and syncs it: when this returns, the change survives a crash.
    func append(_ edit: VersionEdit) throws {
        if let failure { throw failure }
        do {
            try writer.addRecord(edit.encode())
            try writer.sync()
        } catch {
            let e = (error as? OrbitError) ?? OrbitError(.io, "\(error)")
            failure = OrbitError(e.code, "an earlier manifest write failed, no edit is recorded until the store is reopened: \(e.message)",
                                 at: e.location ?? joinPath(directory, Self.name(number)),
                                 hint: "close and reopen the store", cause: e.cause)
            throw error
        }
    }

    var size: Int64 { writer.size }
    var fileNumber: UInt64 { number }

    func close() { try? writer.file.close() }
}

/// Zero-padded six-digit file numbers: "000012".
func padded(_ n: UInt64) -> String {
    let s = String(n)
    return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s
}

import OrbitCore

/// Opening a store, in named steps (issue 14, bug 1): recognise the directory, read CURRENT and
/// the manifest, open the tables, recover the WALs, install the recovered state, and only then —
/// once every file the state needs has been read and checked and the new state is durable —
/// remove obsolete files. Anything wrong before that is an error naming the file; nothing is
/// removed, truncated or rewritten first. (A 0-byte or header-only MANIFEST, or a missing CURRENT
/// beside tables and logs, used to open as an empty store that then unlinked every table and log.)
extension LSMTree {
    /// What `recover` or `createStore` produced, for `init` to adopt.
    struct RecoveredState {
        var version: Version<FS.File>
        var mem: Memtable
        var log: LogWriter<FS.File>?
        var manifest: Manifest<FS>?
        var manifestLogNumber: UInt64
        var lastSequence: UInt64
        var nextFileNumber: UInt64
        var skippedRegions = 0
        var protectedFiles: Set<UInt64> = []
        /// The manifest's view of the live WALs (what a rolled manifest restates).
        var liveLogs = LiveLogs()
    }

    static func tableOpener(_ fs: FS) -> @Sendable (String) throws -> FS.File {
        { path in try fs.open(path, .read) }
    }

    /// Steps 1 and 2, then 3 to 6: recognise the directory (before anything is created, locked or
    /// written), lock it (shared on a read-only open, on an existing LOCK only), then create a new
    /// store or recover the existing one.
    static func openStore(fs: FS, directory: String, options: LSMOptions, readOnly: Bool, cache: BlockCache,
                          tableCache: TableCache<FS.File>) throws -> (lock: FileLock?, state: RecoveredState) {
        var fresh = false
        switch try recognize(fs: fs, directory: directory) {
        case .notOurs(let names): throw notOurs(directory, names)
        case .empty: fresh = true
        case .ours: fresh = try isUnfinishedCreation(fs: fs, directory: directory)
        }
        if fresh && readOnly {
            throw OrbitError(.notFound, "no lsm store in \(directory) (the directory is missing or empty)", at: directory,
                             hint: "a read-only open needs an existing store: write to it first")
        }
        var lock: FileLock? = nil
        if readOnly {
            let lockPath = joinPath(directory, "LOCK")
            if try fs.exists(lockPath) { lock = try fs.lockShared(lockPath) }
        } else {
            try createDirectoryDurably(fs: fs, directory)
            lock = try fs.lock(joinPath(directory, "LOCK"))
        }
        do {
            let state = fresh ? try createStore(fs: fs, directory: directory, levels: options.maxLevels)
                : try recover(fs: fs, directory: directory, options: options, readOnly: readOnly, cache: cache, tableCache: tableCache)
            return (lock, state)
        } catch {
            lock?.release()
            throw error
        }
    }

    /// Whether `name` is a file or directory an lsm store has (see the type's "Files").
    static func isStoreName(_ name: String) -> Bool {
        if name == "LOCK" || name == "CURRENT" || name == "CURRENT.tmp" || name == "snapshots" { return true }
        if name.hasPrefix("MANIFEST-") { return isNumber(name.dropFirst(9)) }
        if name.hasSuffix(".sst") || name.hasSuffix(".log") { return isNumber(name.dropLast(4)) }
        return false
    }

    private static func isNumber(_ s: Substring) -> Bool { !s.isEmpty && s.count <= 20 && s.allSatisfy { $0 >= "0" && $0 <= "9" } }

    /// What `directory` holds, judged by lsm's own markers alone (nothing is created, locked or
    /// written): `.empty` for a missing or empty directory (or one holding only a LOCK and an
    /// empty snapshots/, which a first open creates before anything else); `.ours` when every
    /// entry is one an lsm store has and CURRENT, a MANIFEST, a table, a log or a snapshot is
    /// there (a damaged store is still ours: its open reports the damage); `.notOurs` naming the
    /// entries no lsm store has (a RocksDB store's IDENTITY and OPTIONS, a user's thesis.tex).
    public static func recognize(fs: FS, directory: String) throws -> StoreRecognition {
        guard try fs.exists(directory) else { return .empty }
        let names: [String]
        do { names = try fs.list(directory: directory) } catch let e as OrbitError where e.hasErrno(.notDirectory) {
            throw OrbitError(.invalidArgument, "\(directory) is a file, not a store directory", at: directory,
                             hint: "give the directory that holds the lsm store (or an empty or missing one to create it)")
        }
        let foreign = names.filter { !isStoreName($0) }
        if !foreign.isEmpty { return .notOurs(found: Array(foreign.prefix(6))) }
        var markers = names.filter { $0 != "LOCK" && $0 != "snapshots" && $0 != "CURRENT.tmp" }
        if names.contains("snapshots") {
            let snaps = joinPath(directory, "snapshots")
            let inside = try fs.list(directory: snaps)
            if !inside.isEmpty { markers.append("snapshots/" + inside[0]) }
        }
        if markers.isEmpty { return .empty }
        // A readable CURRENT naming a manifest with lsm's magic: say so first.
        if names.contains("CURRENT"), let text = try? fs.readFile(Manifest<FS>.currentPath(directory)),
           text.count < 64, let s = String(validating: text, as: UTF8.self), s.hasPrefix("MANIFEST-"), s.hasSuffix("\n") {
            let manifest = String(s.dropLast())
            if names.contains(manifest), let f = try? fs.open(joinPath(directory, manifest), .read) {
                defer { try? f.close() }
                if let head = try? f.read(count: 8, at: 0), head.count == 8,
                   head.withUnsafeBytes({ loadFixed64($0, 0) }) == LogFormat.manifestMagic {
                    return .ours(markers: ["CURRENT", manifest])
                }
            }
        }
        return .ours(markers: Array(markers.prefix(6)))
    }

    static func notOurs(_ directory: String, _ names: [String]) -> OrbitError {
        OrbitError(.invalidArgument, "\(directory) is not an lsm store: it holds \(names.joined(separator: ", ")), which no lsm store has",
                   at: directory,
                   hint: "lsm opens only a store it wrote, and creates one only in an empty or missing directory; "
                       + "use the backend that wrote these files, or another data directory")
    }

    /// A first open that crashed before CURRENT was written leaves, beside LOCK and an empty
    /// snapshots/, only manifests of a new store (no table, no log, nothing written): that store
    /// never held data, so it is created again. Anything else without CURRENT is damage.
    static func isUnfinishedCreation(fs: FS, directory: String) throws -> Bool {
        let names = try fs.list(directory: directory)
        if names.contains("CURRENT") { return false }
        let manifests = names.filter { $0.hasPrefix("MANIFEST-") }
        let data = names.filter { $0.hasSuffix(".sst") || $0.hasSuffix(".log") }
        if names.contains("snapshots"), !(try fs.list(directory: joinPath(directory, "snapshots"))).isEmpty {
            throw OrbitError(.corruption, "CURRENT is missing, but snapshots exist", at: Manifest<FS>.currentPath(directory),
                             hint: "the store is damaged (its CURRENT file is gone); run `orbit-bench inspect lsm DIR`")
        }
        if !data.isEmpty || manifests.isEmpty {
            throw OrbitError(.corruption, "CURRENT is missing, but the store holds \((manifests + data).prefix(4).joined(separator: ", "))"
                             + (manifests.count + data.count > 4 ? " and \(manifests.count + data.count - 4) more" : ""),
                             at: Manifest<FS>.currentPath(directory),
                             hint: "the store is damaged (its CURRENT file is gone); nothing was changed. Run `orbit-bench inspect lsm DIR`")
        }
        for name in manifests {
            let path = joinPath(directory, name)
            let file = try fs.open(path, .read)
            defer { try? file.close() }
            var empty = true
            _ = try? LogReader(file: file, magic: LogFormat.manifestMagic, paranoid: true).read { record, offset in
                let e = try VersionEdit.decode(record, path: path, offset: offset)
                if !e.added.isEmpty || (e.lastSequence ?? 0) != 0 { empty = false }
            }
            guard empty else {
                throw OrbitError(.corruption, "CURRENT is missing, but \(name) describes a store with data", at: Manifest<FS>.currentPath(directory),
                                 hint: "the store is damaged (its CURRENT file is gone); nothing was changed. Run `orbit-bench inspect lsm DIR`")
            }
        }
        return true
    }

    /// Creates `directory` (and missing parents) and syncs the parent of each directory it created,
    /// so the store's directory entry is as durable as the first write's WAL record (the file
    /// layer's contract: a new directory survives a power loss only once its parent is synced).
    static func createDirectoryDurably(fs: FS, _ directory: String) throws {
        var missing: [String] = []
        var p = directory
        while try !fs.exists(p) {
            missing.append(p)
            let parent = parentDirectory(of: p)
            if parent == p { break }
            p = parent
        }
        guard !missing.isEmpty else { return }
        try fs.createDirectory(directory, intermediates: true)
        for d in missing.reversed() { try fs.syncDirectory(parentDirectory(of: d)) }
    }

    /// A new store in an empty (or unfinished) directory: snapshots/, then the manifest and
    /// CURRENT, then the first WAL. CURRENT comes before any log, so a crash part way leaves either
    /// a directory `isUnfinishedCreation` recognises or a complete empty store.
    static func createStore(fs: FS, directory: String, levels: Int) throws -> RecoveredState {
        try fs.createDirectory(joinPath(directory, "snapshots"), intermediates: true)
        let logNumber: UInt64 = 2, manifestNumber: UInt64 = 3, next: UInt64 = 4
        var edit = VersionEdit()
        edit.logNumber = logNumber
        edit.nextFileNumber = next
        edit.lastSequence = 0
        let manifest = try Manifest(fs: fs, directory: directory, number: manifestNumber, snapshot: edit)
        let logFile = try fs.open(logPath(directory, logNumber), .truncate)
        let log = try LogWriter(newFile: logFile, magic: LogFormat.walMagic, number: logNumber)
        try logFile.fdatasync()
        try fs.syncDirectory(directory)
        // Known to the manifest before any record goes into it (a crash before this edit leaves a
        // manifest that tracks no log yet and a header-only log 2: an empty store, replayed as one).
        var opened = VersionEdit()
        opened.openedLogs = [logNumber]
        try manifest.append(opened)
        var live = LiveLogs(); live.apply(opened)
        // Manifests of an earlier unfinished creation (never named by CURRENT, holding nothing).
        for name in try fs.list(directory: directory) where name.hasPrefix("MANIFEST-") && name != Manifest<FS>.name(manifestNumber) {
            try fs.remove(joinPath(directory, name))
        }
        return RecoveredState(version: .empty(levels: levels), mem: Memtable(logNumber: logNumber), log: log,
                              manifest: manifest, manifestLogNumber: logNumber, lastSequence: 0, nextFileNumber: next, liveLogs: live)
    }

    /// Steps 3 to 6 for an existing store, each its own function: read CURRENT and the manifest
    /// (`Manifest.recover` checks that it holds the whole state and that every table it names
    /// exists), open every table (`openTables`: footer, index, filter checked), replay the WALs the
    /// manifest still needs into one memtable (`recoverLogs`), read the snapshot files
    /// (`protectedTables`); on a read-only open, stop there (all in memory). Read-write, only after
    /// all of that has been read and checked: `install` the recovered state (cut torn WAL tails,
    /// flush the replayed memtable to a level-0 table, start a new WAL and a new manifest holding
    /// the whole state). Obsolete files go later still (`removeObsoleteFiles`, from `init`).
    static func recover(fs: FS, directory: String, options: LSMOptions, readOnly: Bool,
                        cache: BlockCache, tableCache: TableCache<FS.File>) throws -> RecoveredState {
        let recovered = try Manifest.recover(fs: fs, directory: directory, levels: options.maxLevels)
        var next = max(recovered.nextFileNumber, 2)
        let version = try openTables(directory: directory, recovered, levels: options.maxLevels, cache: cache,
                                     tableCache: tableCache, next: &next)
        let logs = try recoverLogs(fs: fs, directory: directory, recovered, paranoid: options.paranoid, next: &next)
        let protected = try protectedTables(fs: fs, directory: directory, maxLevels: options.maxLevels)
        if readOnly {
            return RecoveredState(version: version, mem: logs.replay, log: nil, manifest: nil, manifestLogNumber: recovered.logNumber,
                                  lastSequence: logs.lastSequence, nextFileNumber: next, skippedRegions: logs.skippedRegions,
                                  protectedFiles: protected)
        }
        return try install(fs: fs, directory: directory, options: options, version, logs, protected: protected,
                           cache: cache, tableCache: tableCache, next: next)
    }

    /// Opens a reader for every table the manifest names (each checks its footer, index and
    /// filter), in the level order a `Version` keeps.
    static func openTables(directory: String, _ recovered: Manifest<FS>.Recovered, levels count: Int, cache: BlockCache,
                           tableCache: TableCache<FS.File>, next: inout UInt64) throws -> Version<FS.File> {
        var levels = Array(repeating: [TableFile<FS.File>](), count: count)
        for (level, meta) in recovered.files {
            let reader = try TableReader(path: tablePath(directory, meta.number), number: meta.number, size: meta.size,
                                         cache: cache, tables: tableCache)
            levels[level].append(TableFile(meta: meta, reader: reader))
            next = max(next, meta.number + 1)
        }
        // Level 0 oldest to newest (by file number), every other level by smallest key.
        levels[0].sort { $0.meta.number < $1.meta.number }
        for l in levels.indices.dropFirst() { levels[l].sort { compareInternalArrays($0.meta.smallest, $1.meta.smallest) < 0 } }
        return Version(levels: levels)
    }

    /// What replaying the WALs gave.
    struct RecoveredLogs {
        var replay: Memtable
        var lastSequence: UInt64
        var skippedRegions = 0
        /// Logs whose tail a crash tore: cut off at `validEnd` once the store is known sound.
        var tornTails: [(path: String, validEnd: Int64)] = []
    }

    /// Replays the WALs the manifest still needs, oldest first, into one memtable, checking each
    /// against what the manifest recorded of it (a sealed length, a clean close's marker).
    /// Changes nothing on disk.
    static func recoverLogs(fs: FS, directory: String, _ recovered: Manifest<FS>.Recovered, paranoid: Bool,
                            next: inout UInt64) throws -> RecoveredLogs {
        let logs = try liveLogs(fs: fs, directory: directory, recovered, next: &next)
        var out = RecoveredLogs(replay: Memtable(logNumber: 0), lastSequence: recovered.lastSequence)
        for n in logs {
            let path = logPath(directory, n)
            let file = try fs.open(path, .read)
            defer { try? file.close() }
            let sealed = recovered.logs.logs[n] ?? nil
            if let sealed, try file.size() != Int64(sealed) {
                throw corruption("log \(padded(n)).log is \(try file.size()) bytes, but the manifest recorded it sealed (synced "
                                 + "whole) at \(sealed) bytes: it was truncated, extended or replaced", path, min(try file.size(), Int64(sealed)))
            }
            let reader = LogReader(file: file, magic: LogFormat.walMagic, paranoid: paranoid, lastLog: n == logs.last,
                                   number: n, knownLog: recovered.logs.tracked)
            var lastEntries = -1
            let outcome = try reader.read { record, offset in
                out.lastSequence = max(out.lastSequence, try Self.applyRecord(record, to: out.replay, path: path, offset: offset))
                lastEntries = WALPayload.entryCount(record) ?? -1
            }
            if let sealed, outcome.tornTail || outcome.validEnd != Int64(sealed) {
                throw corruption("log \(padded(n)).log was sealed at \(sealed) bytes, but its records end at \(outcome.validEnd)", path, outcome.validEnd)
            }
            if let close = recovered.logs.cleanClose, close.number == n, lastEntries != 0 {
                throw corruption("log \(padded(n)).log does not end with the close marker the manifest's clean close recorded: "
                                 + "another log's bytes were put in its place", path, outcome.validEnd)
            }
            out.skippedRegions += outcome.skippedRegions
            if outcome.skippedRegions > 0 {
                logWarning("lsm: paranoid=false: skipped \(outcome.skippedRegions) damaged region(s) of \(path)\n")
            }
            // The write in flight at a crash was never acknowledged as durable: cut off on install.
            if outcome.tornTail { out.tornTails.append((path, outcome.validEnd)) }
        }
        return out
    }

    /// The tables the snapshot files name (kept, though the current version may not).
    static func protectedTables(fs: FS, directory: String, maxLevels: Int) throws -> Set<UInt64> {
        var protected = Set<UInt64>()
        let snaps = joinPath(directory, "snapshots")
        if try fs.exists(snaps) {
            for name in try fs.list(directory: snaps) where !name.hasSuffix(".tmp") {
                for f in try readSnapshotFile(fs: fs, path: joinPath(snaps, name), maxLevels: maxLevels) { protected.insert(f.meta.number) }
            }
        }
        return protected
    }

    /// Installs the recovered state, read-write, once everything it needs has been read and
    /// checked: cuts the torn WAL tails, flushes the replayed memtable to a level-0 table (so the
    /// old logs can go), starts a new WAL and a new manifest holding the whole state. Removes
    /// nothing: that is `removeObsoleteFiles`, once this state is durable.
    static func install(fs: FS, directory: String, options: LSMOptions, _ recoveredVersion: Version<FS.File>,
                        _ logs: RecoveredLogs, protected: Set<UInt64>, cache: BlockCache, tableCache: TableCache<FS.File>,
                        next start: UInt64) throws -> RecoveredState {
        var next = start
        var v = recoveredVersion
        for (path, end) in logs.tornTails {
            let file = try fs.open(path, .readWrite)
            defer { try? file.close() }
            try file.truncate(to: end)
            try file.fsync()
        }
        if !logs.replay.isEmpty {
            let number = next; next += 1
            let meta = try Self.writeTable(fs: fs, directory: directory, number: number, options: options,
                                           source: MergingIterator<FS.File>(mems: [logs.replay], tables: [], levels: []),
                                           dropTombstones: { _ in false })
            if let meta {
                let reader = try TableReader(path: tablePath(directory, number), number: number, size: meta.size, cache: cache, tables: tableCache)
                var e = VersionEdit(); e.added = [(0, meta)]
                v = v.applying(e, [number: TableFile(meta: meta, reader: reader)])
            }
            try fs.syncDirectory(directory)
        }
        let logNumber = next; next += 1
        let manifestNumber = next; next += 1
        let logFile = try fs.open(logPath(directory, logNumber), .truncate)
        let log = try LogWriter(newFile: logFile, magic: LogFormat.walMagic, number: logNumber)
        try logFile.fdatasync()
        try fs.syncDirectory(directory)
        var snapshotEdit = VersionEdit()
        snapshotEdit.logNumber = logNumber
        snapshotEdit.openedLogs = [logNumber]
        snapshotEdit.nextFileNumber = next
        snapshotEdit.lastSequence = logs.lastSequence
        snapshotEdit.added = v.allFiles.map { ($0.level, $0.file.meta) }
        let manifest = try Manifest(fs: fs, directory: directory, number: manifestNumber, snapshot: snapshotEdit)
        var live = LiveLogs(); live.apply(snapshotEdit)
        return RecoveredState(version: v, mem: Memtable(logNumber: logNumber), log: log, manifest: manifest, manifestLogNumber: logNumber,
                              lastSequence: logs.lastSequence, nextFileNumber: next, skippedRegions: logs.skippedRegions,
                              protectedFiles: protected, liveLogs: live)
    }

    /// The WALs to replay, oldest first. A manifest that tracks its logs (`LiveLogs.tracked`) names
    /// them: each must exist (its header was synced and its directory entry too before the edit
    /// that opened it), else corruption naming it; a log on disk it does not know was created by a
    /// crash before its opening edit and holds no record (skipped, removed once the store is
    /// known sound). A manifest of an older build: every log numbered from its log number on.
    static func liveLogs(fs: FS, directory: String, _ recovered: Manifest<FS>.Recovered, next: inout UInt64) throws -> [UInt64] {
        var onDisk: [UInt64] = []
        for name in try fs.list(directory: directory) where name.hasSuffix(".log") {
            guard let n = UInt64(name.dropLast(4)) else { continue }
            guard n < Manifest<FS>.maxFileNumber else {
                throw OrbitError(.corruption, "log file number \(n) is out of range", at: joinPath(directory, name),
                                 hint: "the store is damaged; run `orbit-bench inspect lsm DIR`")
            }
            onDisk.append(n)
            next = max(next, n + 1)
        }
        guard recovered.logs.tracked else { return onDisk.filter { $0 >= recovered.logNumber }.sorted() }
        let live = recovered.logs.logs.keys.sorted()
        for n in live where !onDisk.contains(n) {
            // Name the manifest too: the log may be gone because the manifest is not the store's newest
            // (an older generation put back), and either file is where to look.
            throw OrbitError(.corruption, "log \(padded(n)).log is missing, but the manifest \(Manifest<FS>.name(recovered.manifestNumber)) "
                             + "records it live (it may hold acknowledged writes)", at: logPath(directory, n),
                             hint: "the store is damaged; nothing was changed. Run `orbit-bench inspect lsm DIR`")
        }
        for n in live { next = max(next, n + 1) }
        return live
    }

    /// The last step of a read-write open, once the recovered state is durable in the new
    /// manifest: remove older manifests, logs the state no longer needs, and tables neither the
    /// state nor a snapshot names (left over from a crash).
    func removeObsoleteFiles() throws {
        let current = Manifest<FS>.name(manifest.number)
        let logNumber = log.file.path
        let v = version
        for name in try fs.list(directory: directory) {
            let path = joinPath(directory, name)
            if name.hasPrefix("MANIFEST-"), name != current { try fs.remove(path) }
            if name.hasSuffix(".log"), UInt64(name.dropLast(4)) != nil, path != logNumber { try fs.remove(path) }
            if name.hasSuffix(".sst"), let n = UInt64(name.dropLast(4)), !v.contains(n), !protectedFiles.contains(n) {
                try fs.remove(path)
            }
        }
        try fs.syncDirectory(directory)
    }
}

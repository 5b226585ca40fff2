#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRocksDB
import OrbitCore

/// Snapshots are RocksDB checkpoints in `<path>/orbit-snapshots/<name>`: SST files hard-linked
/// (they are immutable), MANIFEST/CURRENT/OPTIONS/WAL copied, the memtable flushed first so the
/// checkpoint holds everything acknowledged. A checkpoint is itself an openable RocksDB directory.
///
/// Names the engine uses for its own work contain '+', which `validateSnapshotName` never accepts,
/// so they cannot collide with a snapshot:
/// - `<name>+creating` — checkpoint being written (RocksDB stages it in `<name>+creating.tmp`);
///   renamed to `<name>` when complete.
/// - `<name>+dropping` — snapshot being removed (renamed first, so a half-deleted snapshot is never
///   listed).
/// - `+restore/` and `+RESTORE` — restore staging directory and its journal (see `restoreSnapshot`).
/// Leftovers of an interrupted create or drop are removed at the next open.
extension RocksDBEngine {
    static let restoreStagingName = "+restore"
    static let restoreJournalName = "+RESTORE"
    static let journalMagic = "orbit-rocksdb-restore 1"

    func snapshotPath(_ name: String) -> String { snapshotDirectory + "/" + name }

    /// Snapshot create and drop: a valid name and a writable store, then `body` alone among snapshot
    /// changes and inside the gate (operations run beside it).
    private func changingSnapshot(_ name: String, _ what: String, _ body: () throws -> Void) throws {
        try validateSnapshotName(name)
        try refuseWriteIfReadOnly(what)
        try snapshotLock.withLock { _ in
            try gate.enter()
            defer { gate.leave() }
            try body()
        }
    }

    public func createSnapshot(named name: String) throws {
        try changingSnapshot(name, "snapshot create") {
            let root = snapshotDirectory
            let final = snapshotPath(name)
            if try disk.exists(final) {
                throw OrbitError(.invalidArgument, "snapshot '\(name)' already exists", at: final,
                                 hint: "drop it first or choose another name")
            }
            if !disk.isDirectory(root) {
                try disk.createDirectory(root, intermediates: true)
                try disk.syncDirectory(path)
            }
            let staging = final + "+creating"
            try disk.removeTree(staging)
            try disk.removeTree(staging + ".tmp")
            let cp = try checked("checkpoint", at: path) { err in rocksdb_checkpoint_object_create(db, err) }
            guard let cp else { throw OrbitError(.engine, "rocksdb could not create a checkpoint object", at: path) }
            defer { rocksdb_checkpoint_object_destroy(cp) }
            // log_size_for_flush 0: always flush the memtable first, so the checkpoint needs no WAL
            // replay and also holds WAL-less (rocksdb.wal=false) writes.
            try checked("checkpoint into \(staging)", at: path) { err in rocksdb_checkpoint_create(cp, staging, 0, err) }
            try disk.syncDirectory(staging)
            try disk.rename(staging, to: final)
            try disk.syncDirectory(root)
        }
    }

    public func listSnapshots() throws -> [String] {
        try gate.enter()
        defer { gate.leave() }
        let root = snapshotDirectory
        guard disk.isDirectory(root) else { return [] }
        return try disk.list(directory: root).filter { name in
            disk.isDirectory(joinPath(root, name)) && (try? validateSnapshotName(name)) != nil
        }
    }

    public func dropSnapshot(named name: String) throws {
        try changingSnapshot(name, "snapshot drop") {
            let dir = snapshotPath(name)
            guard disk.isDirectory(dir) else {
                throw OrbitError(.notFound, "no snapshot named '\(name)'", at: snapshotDirectory)
            }
            let doomed = dir + "+dropping"
            try disk.removeTree(doomed)
            try disk.rename(dir, to: doomed)
            try disk.syncDirectory(snapshotDirectory)
            try disk.removeTree(doomed)
        }
    }

    /// Rolls the store back to snapshot `name`: closes the database, replaces its files with the
    /// checkpoint's, reopens. Waits for operations in flight; others wait until it is done.
    ///
    /// Steps, and what a crash in each leaves:
    /// 1. Close the DB (WAL synced). Stage a full copy of the checkpoint in `orbit-snapshots/+restore`
    ///    (SSTs hard-linked, other files copied and fsync'd). A crash here leaves the live store as it
    ///    was, plus staging that the next open deletes.
    /// 2. Write the journal `orbit-snapshots/+RESTORE` (snapshot name + file list) atomically
    ///    (temp, fsync, rename, directory fsync). From here on the restore is committed.
    /// 3. Delete the live CURRENT (from now on RocksDB and `ldb` see no database, never a mixed one),
    ///    delete every other live file not in the list (old WALs must go: RocksDB would replay them),
    ///    keeping LOCK, LOG*, IDENTITY; move the staged files in, CURRENT last; fsync the directory.
    /// 4. Remove staging, then the journal.
    /// A crash after step 2 is finished by the next `RocksDBEngine.init` on this path before RocksDB
    /// opens (step 3 and 4 are idempotent), so an open never sees a half-restored store. Only a
    /// tool that opens the directory between a crash in step 3 and the next engine open finds no
    /// database (no CURRENT).
    public func restoreSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try refuseWriteIfReadOnly("snapshot restore")
        try snapshotLock.withLock { _ in
            var failure: (any Error)? = nil
            try gate.exclusive {
                let snap = snapshotPath(name)
                guard disk.isDirectory(snap) else {
                    failure = OrbitError(.notFound, "no snapshot named '\(name)'", at: snapshotDirectory)
                    return ((), true)
                }
                // A failed final sync of the state being thrown away does not matter: ignore it.
                _ = shutDownDB()
                var committed = false
                do {
                    committed = try Self.stageAndCommitRestore(path: path, snapshot: name)
                    try Self.recoverInterruptedSnapshotWork(path: path)
                } catch {
                    failure = error
                    if committed {
                        // The swap is committed but could not be finished: stay closed; the next open
                        // of this path finishes it.
                        releaseOptions()
                        return ((), false)
                    }
                }
                do {
                    db = try Self.openDB(dbOptions, path)
                    try startSyncer()
                    return ((), true)
                } catch {
                    failure = failure ?? error
                    releaseOptions()
                    return ((), false)
                }
            }
            if let failure { throw failure }
        }
    }

    /// Step 1 and 2 of a restore. Returns true once the journal is durable (the restore committed).
    static func stageAndCommitRestore(path: String, snapshot name: String) throws -> Bool {
        let root = path + "/" + snapshotDirName
        let snap = root + "/" + name
        let staging = root + "/" + restoreStagingName
        try disk.removeTree(staging)
        try disk.createDirectory(staging, intermediates: false)
        var files: [String] = []
        for name in try disk.list(directory: snap) where !disk.isDirectory(snap + "/" + name) {
            let from = snap + "/" + name, to = staging + "/" + name
            if name.hasSuffix(".sst") || name.hasSuffix(".blob") {
                do { try disk.hardLink(from, to: to) } catch { try disk.copyFile(from, to: to) }
            } else {
                try disk.copyFile(from, to: to)
            }
            files.append(name)
        }
        guard files.contains("CURRENT") else {
            try disk.removeTree(staging)
            throw OrbitError(.corruption, "snapshot '\(name)' has no CURRENT file", at: snap)
        }
        try disk.syncDirectory(staging)
        try disk.syncDirectory(root)
        let journal = ([journalMagic, name] + files).joined(separator: "\n") + "\n"
        try disk.writeFileAtomically(root + "/" + restoreJournalName, Array(journal.utf8))
        return true
    }

    /// Run at open (and by restore): finishes a committed restore, removes leftovers of interrupted
    /// snapshot work.
    static func recoverInterruptedSnapshotWork(path: String) throws {
        let root = path + "/" + snapshotDirName
        guard disk.isDirectory(root) else { return }
        let journalPath = root + "/" + restoreJournalName
        let staging = root + "/" + restoreStagingName
        if let bytes = try? disk.readFile(journalPath) {
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            guard lines.count >= 3, lines[0] == journalMagic else {
                throw OrbitError(.corruption, "unreadable restore journal", at: journalPath,
                                 hint: "inspect \(staging); remove the journal to keep the live files as they are")
            }
            try finishRestore(path: path, staging: staging, files: Array(lines.dropFirst(2)))
            try disk.removeTree(staging)
            try disk.syncDirectory(root)
            try disk.removeTree(journalPath)
            try disk.syncDirectory(root)
        }
        for name in try disk.list(directory: root) where name.contains("+") && name != restoreJournalName {
            try disk.removeTree(root + "/" + name)   // staging without journal, +creating, +dropping
        }
    }

    /// Step 3 of a restore (idempotent): make the live directory hold exactly `files` from staging.
    static func finishRestore(path: String, staging: String, files: [String]) throws {
        let wanted = Set(files)
        let stagingExists = disk.isDirectory(staging)
        // Staging gone means step 3 completed and only cleanup was interrupted.
        guard stagingExists else { return }
        let staged = Set(try disk.list(directory: staging).filter { !disk.isDirectory(staging + "/" + $0) })
        if staged.contains("CURRENT") {
            try disk.removeTree(path + "/CURRENT")
            try disk.syncDirectory(path)
        }
        for n in try disk.list(directory: path) where !disk.isDirectory(path + "/" + n) {
            if wanted.contains(n) || n == "LOCK" || n == "IDENTITY" || n == "LOG" || n.hasPrefix("LOG.old") { continue }
            try disk.removeTree(path + "/" + n)
        }
        for n in files where n != "CURRENT" && staged.contains(n) {
            try disk.rename(staging + "/" + n, to: path + "/" + n)
        }
        try disk.syncDirectory(path)
        for n in files where !((try? disk.exists(path + "/" + n)) ?? false) && !staged.contains(n) {
            throw OrbitError(.corruption, "restore journal lists \(n), found neither staged nor live", at: path)
        }
        if staged.contains("CURRENT") {
            try disk.rename(staging + "/CURRENT", to: path + "/CURRENT")
            try disk.syncDirectory(path)
        }
    }
}

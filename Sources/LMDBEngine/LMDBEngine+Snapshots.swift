import CLMDB
import OrbitCore

/// Snapshots: a compacted copy of the environment (`mdb_env_copy2` with `MDB_CP_COMPACT`, taken in
/// one read transaction, so it is consistent) in `<path>/orbit-snapshots/<name>/data.mdb`.
///
/// Create copies into `<name>.tmp/`, fsyncs the copy, renames the directory to `<name>` and syncs
/// the snapshot directory: a snapshot exists whole or not at all. Restore closes the environment,
/// copies the snapshot's data file to `data.mdb.restore`, fsyncs it, renames it over `data.mdb`
/// (the commit point), syncs the directory and reopens.
extension LMDBEngine {
    func snapshotPath(_ name: String) -> String { joinPath(snapshotDirectory, name) }

    public func createSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try refuseWriteIfReadOnly("snapshot create")
        try entered {
            let dir = snapshotPath(name)
            if try fs.exists(dir) {
                throw OrbitError(.invalidArgument, "snapshot '\(name)' already exists", at: dir,
                                 hint: "drop it first or pick another name")
            }
            try fs.createDirectory(snapshotDirectory, intermediates: true)
            let temp = dir + ".tmp"
            if try fs.exists(temp) { try removeSnapshotDirectory(temp) }
            try fs.createDirectory(temp, intermediates: false)
            try check(mdb_env_copy2(env, temp, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2 to \(temp)")
            let f = try fs.open(joinPath(temp, "data.mdb"), .readWrite)
            defer { try? f.close() }
            try f.fsync()
            try fs.syncDirectory(temp)
            try fs.rename(temp, to: dir)
            try fs.syncDirectory(snapshotDirectory)
        }
    }

    func removeSnapshotDirectory(_ dir: String) throws {
        for name in try fs.list(directory: dir) { try fs.remove(joinPath(dir, name)) }
        try fs.removeDirectory(dir)
    }

    public func listSnapshots() throws -> [String] {
        try entered {
            guard try fs.exists(snapshotDirectory) else { return [] }
            return try fs.list(directory: snapshotDirectory).filter { !$0.hasSuffix(".tmp") }
        }
    }

    public func dropSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try refuseWriteIfReadOnly("snapshot drop")
        try entered {
            let dir = snapshotPath(name)
            guard try fs.exists(dir) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: dir, hint: "see listSnapshots()")
            }
            try removeSnapshotDirectory(dir)
            try fs.syncDirectory(snapshotDirectory)
        }
    }

    public func restoreSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try refuseWriteIfReadOnly("snapshot restore")
        let task: PeriodicTask? = lock.withWriteLock { let t = syncer; syncer = nil; return t }
        task?.stop()
        try lock.withWriteLock {
            guard !closed else { throw OrbitError(.closed, "lmdb engine is closed", at: path) }
            let source = joinPath(snapshotPath(name), "data.mdb")
            guard try fs.exists(source) else {
                throw OrbitError(.notFound, "no snapshot '\(name)'", at: snapshotPath(name), hint: "see listSnapshots()")
            }
            closeEnvironment()
            do {
                let temp = joinPath(path, "data.mdb.restore")
                try fs.copyFile(source, to: temp)
                try fs.rename(temp, to: joinPath(path, "data.mdb"))
                try fs.syncDirectory(path)
            } catch {
                try? openEnvironment()
                throw error
            }
            try openEnvironment()
        }
        try lock.withWriteLock { try startSyncer() }
    }
}

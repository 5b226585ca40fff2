import OrbitCore

/// Named snapshots (docs/formats/lsm-snapshot.md): a durable list of the tables that held the
/// whole store at `createSnapshot` (the memtable is flushed first), in `snapshots/<name>`. The
/// tables it names are kept on disk while the snapshot exists; restoring installs that list as
/// the current version through one manifest edit and starts an empty memtable and WAL.
extension LSMTree {
    static var snapshotMagic: UInt64 { 0x504E_5354_4942_524F }  // "ORBITSNP"

    var snapshotDirectory: String { joinPath(directory, "snapshots") }

    /// The snapshot names ([] when snapshots/ is missing: a read-write open of an existing store
    /// creates it only with the first snapshot).
    func listSnapshotFiles() throws -> [String] {
        guard try fs.exists(snapshotDirectory) else { return [] }
        return try fs.list(directory: snapshotDirectory).filter { !$0.hasSuffix(".tmp") }
    }

    func readSnapshot(_ name: String) throws -> [(level: Int, meta: FileMeta)] {
        try Self.readSnapshotFile(fs: fs, path: joinPath(snapshotDirectory, name), maxLevels: options.maxLevels)
    }

    static func readSnapshotFile(fs: FS, path: String, maxLevels: Int) throws -> [(level: Int, meta: FileMeta)] {
        let bytes = try fs.readFile(path)
        return try bytes.withUnsafeBytes { p in
            guard p.count >= 20, loadFixed64(p, 0) == Self.snapshotMagic else { throw corruption("not a snapshot file (bad magic)", path, 0) }
            guard CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<(p.count - 4)]))) == loadFixed32(p, p.count - 4) else {
                throw corruption("snapshot checksum mismatch", path, Int64(p.count - 4))
            }
            let version = loadFixed32(p, 8)
            guard version == 1 || version == 2 else {
                throw corruption("snapshot format version \(version) is not one this build reads (1, 2)", path, 8)
            }
            let count = Int(loadFixed32(p, 12))
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: p[16..<(p.count - 4)]))
            var out: [(Int, FileMeta)] = []
            for _ in 0..<count {
                guard let l = r.varint(), l < UInt64(maxLevels), let m = FileMeta.decode(&r, withKeyBytes: version >= 2) else {
                    throw corruption("malformed snapshot entry", path, Int64(16 + r.pos))
                }
                out.append((Int(l), m))
            }
            return out
        }
    }

    public func createSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try checkWritable("createSnapshot")
        try flush()
        try manifestLock.withLock {
            if try !fs.exists(snapshotDirectory) {
                try fs.createDirectory(snapshotDirectory, intermediates: true)
                try fs.syncDirectory(directory)
            }
            let path = joinPath(snapshotDirectory, name)
            if try fs.exists(path) {
                throw OrbitError(.invalidArgument, "snapshot '\(name)' already exists", at: path, hint: "drop it first or pick another name")
            }
            // Capture the file set and protect it in one step, so no compaction removes its tables.
            let files: [(level: Int, file: TableFile<FS.File>)] = state.withLock {
                let f = version.allFiles
                for x in f { protectedFiles.insert(x.file.meta.number) }
                return f
            }
            var out: [UInt8] = []
            putFixed64(&out, Self.snapshotMagic)
            putFixed32(&out, 2)
            putFixed32(&out, UInt32(files.count))
            for f in files { putVarint(&out, UInt64(f.level)); f.file.meta.encode(&out, withKeyBytes: true) }
            putFixed32(&out, CRC32C.mask(CRC32C.checksum(out)))
            try fs.writeFileAtomically(path, out)
        }
    }

    public func listSnapshots() throws -> [String] {
        try checkOpen()
        return try listSnapshotFiles()
    }

    public func dropSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try checkWritable("dropSnapshot")
        try manifestLock.withLock {
            let path = joinPath(snapshotDirectory, name)
            guard try fs.exists(path) else { throw OrbitError(.notFound, "no snapshot named '\(name)'", at: snapshotDirectory) }
            let dropped = try readSnapshot(name).map(\.meta.number)
            try fs.remove(path)
            try fs.syncDirectory(snapshotDirectory)
            var keep = Set<UInt64>()
            for other in try listSnapshotFiles() { for f in try readSnapshot(other) { keep.insert(f.meta.number) } }
            let removeNow: [UInt64] = state.withLock {
                protectedFiles = keep
                return retire(dropped.filter { !keep.contains($0) && !version.contains($0) })
            }
            for n in removeNow { try removeTable(n) }
        }
    }

    public func restoreSnapshot(named name: String) throws {
        try validateSnapshotName(name)
        try checkWritable("restoreSnapshot")
        let path = joinPath(snapshotDirectory, name)
        guard try fs.exists(path) else { throw OrbitError(.notFound, "no snapshot named '\(name)'", at: snapshotDirectory) }
        let files = try readSnapshot(name)
        try writeLock.withLock {
            // Pause the background thread: a compaction must not apply to the version we replace.
            try state.withLock {
                backgroundPaused = true
                while busyWorkers > 0 { state.wait() }
                if let e = backgroundError { backgroundPaused = false; throw e }
            }
            defer { state.withLock { backgroundPaused = false; state.broadcast() } }
            try manifestLock.withLock {
                var opened: [UInt64: TableFile<FS.File>] = [:]
                let current = state.withLock { version }
                for (_, f) in current.allFiles { opened[f.meta.number] = f }
                for (_, m) in files where opened[m.number] == nil {
                    opened.merge(try open([m])) { a, _ in a }
                }
                let number = nextFileNumber.wrappingAdd(1, ordering: .relaxed).oldValue
                let file = try fs.open(logPath(directory, number), .truncate)
                let writer = try LogWriter(newFile: file, magic: LogFormat.walMagic, number: number)
                try file.fdatasync()
                try fs.syncDirectory(directory)
                var edit = VersionEdit()
                edit.openedLogs = [number]
                edit.deleted = current.allFiles.map { ($0.level, $0.file.meta.number) }
                edit.added = files
                edit.logNumber = number
                edit.lastSequence = lastSequence
                edit.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
                try appendEditLocked(edit)
                let oldLogs: [UInt64] = [mem.logNumber] + imms.map(\.logNumber)
                log = writer
                walSize.store(writer.size, ordering: .relaxed)
                let removeNow: [UInt64] = state.withLock {
                    version = Version.empty(levels: options.maxLevels).applying(VersionEdit(added: files), opened)
                    TSan.acquire(address: TSan.address(of: imms))   // readers' copies let go (see `readView`)
                    imms = []
                    mem = Memtable(logNumber: number)
                    return retire(current.allFiles.map(\.file.meta.number).filter { !version.contains($0) && !protectedFiles.contains($0) })
                }
                for n in removeNow { try removeTable(n) }
                for n in oldLogs { try? fs.remove(logPath(directory, n)) }
            }
        }
    }
}

extension VersionEdit {
    init(added: [(level: Int, meta: FileMeta)]) { self.init(); self.added = added }
}

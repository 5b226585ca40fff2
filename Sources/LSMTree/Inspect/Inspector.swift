import OrbitCore

/// `orbit-bench inspect lsm DIR`: reads a store without opening it for writing — CURRENT, the
/// manifest, every table (every block's checksum and every entry), every WAL the manifest still
/// needs, every snapshot file — and reports levels, files, key ranges, sizes and entry counts.
public enum LSMInspector {
    public struct Report: Sendable {
        public var lines: [String] = []
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }
    }

    public static func inspect<FS: FileSystem>(fs: FS, directory: String, maxLevels: Int = 12) -> Report {
        var r = Report()
        do {
            switch try LSMTree<FS>.recognize(fs: fs, directory: directory) {
            case .empty:
                r.problems.append("\(directory): not an lsm store (the directory is missing or empty)")
                return r
            case .notOurs(let found):
                r.problems.append("\(directory): not an lsm store: it holds \(found.joined(separator: ", "))")
                return r
            case .ours:
                break
            }
            let rec = try Manifest.recover(fs: fs, directory: directory, levels: maxLevels)
            r.lines.append("store \(directory): \(Manifest<FS>.name(rec.manifestNumber)), log number \(rec.logNumber), "
                           + "next file \(rec.nextFileNumber), last sequence \(rec.lastSequence)")
            let cache = BlockCache(capacityBytes: 0)
            let tables = TableCache<FS.File>(capacity: 16) { [fs] in try fs.open($0, .read) }
            defer { tables.closeAll() }
            let byLevel = Dictionary(grouping: rec.files, by: \.level)
            for level in byLevel.keys.sorted() {
                let files = byLevel[level]!
                let bytes = files.reduce(UInt64(0)) { $0 + $1.meta.size }
                r.lines.append("level \(level): \(files.count) files, \(bytes) bytes")
                for (_, m) in files {
                    let path = tablePath(directory, m.number)
                    var line = "  \(padded(m.number)).sst \(m.size) bytes, \(m.entries) entries (\(m.deletes) deletes), keys "
                        + m.smallest.withUnsafeBytes { describeBytes(userKey($0), limit: 24) } + " .. "
                        + m.largest.withUnsafeBytes { describeBytes(userKey($0), limit: 24) }
                    do {
                        let size = UInt64(try fs.fileSize(path))
                        guard size == m.size else { throw OrbitError(.corruption, "size \(size), manifest says \(m.size)", at: path) }
                        let reader = try TableReader(path: path, number: m.number, size: m.size, cache: cache, tables: tables)
                        _ = try reader.verify()
                        line += ": ok"
                    } catch {
                        line += ": CORRUPT"
                        r.problems.append("\(error)")
                    }
                    r.lines.append(line)
                }
            }
            let newestLog = try fs.list(directory: directory).compactMap { $0.hasSuffix(".log") ? UInt64($0.dropLast(4)) : nil }.max()
            for n in rec.logs.logs.keys.sorted() where try !fs.exists(logPath(directory, n)) {
                r.lines.append("wal \(padded(n)).log: MISSING")
                r.problems.append("log \(padded(n)).log is missing, but the manifest records it live")
            }
            for name in try fs.list(directory: directory) where name.hasSuffix(".log") {
                guard let n = UInt64(name.dropLast(4)), n >= rec.logNumber else { continue }
                if rec.logs.tracked && !rec.logs.logs.keys.contains(n) {
                    r.lines.append("wal \(name): not known to the manifest (a crash before its opening edit; removed on open)")
                    continue
                }
                let path = joinPath(directory, name)
                do {
                    let file = try fs.open(path, .read)
                    defer { try? file.close() }
                    let known = rec.logs.logs.keys.contains(n)
                    let o = try LogReader(file: file, magic: LogFormat.walMagic, paranoid: true, lastLog: n == newestLog,
                                          number: n, knownLog: known).read { _, _ in }
                    r.lines.append("wal \(name): \(o.records) records, \(o.validEnd) bytes valid" + (o.tornTail ? ", torn tail (cut off on open)" : "") + ": ok")
                } catch {
                    r.lines.append("wal \(name): CORRUPT")
                    r.problems.append("\(error)")
                }
            }
            let snaps = joinPath(directory, "snapshots")
            if try fs.exists(snaps) {
                for name in try fs.list(directory: snaps) where !name.hasSuffix(".tmp") {
                    let bytes = try fs.readFile(joinPath(snaps, name))
                    let ok = bytes.count >= 20 && bytes.withUnsafeBytes {
                        CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<($0.count - 4)]))) == loadFixed32($0, $0.count - 4)
                    }
                    r.lines.append("snapshot \(name): \(ok ? "ok" : "CORRUPT")")
                    if !ok { r.problems.append("\(joinPath(snaps, name)): snapshot checksum mismatch") }
                }
            }
        } catch {
            r.problems.append("\(error)")
        }
        return r
    }
}

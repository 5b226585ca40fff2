import OrbitCore

/// Reads a store directory and describes every file's format for the engine that wrote it.
/// TEMPORARY: the old derivation, for the comparison test only (deleted in the next commit).
enum LegacyStoreLayout {
    static func describe(engine: String, directory: String, cowPageSize: Int) throws -> [FileLayout] {
        let fs = POSIXFileSystem()
        var out: [FileLayout] = []
        for rel in try StoreLayout.listFiles(fs, directory, "") {
            let bytes = try fs.readFile(joinPath(directory, rel))
            var layout: FileLayout
            switch engine {
            case "lsm": layout = lsmFile(rel, bytes)
            case "cow": layout = cowFile(rel, bytes, pageSize: cowPageSize)
            case "rocksdb": layout = rocksdbFile(rel, bytes)
            case "lmdb": layout = lmdbFile(rel, bytes)
            default: throw OrbitError(.invalidArgument, "corruption sweep: unknown engine '\(engine)'", hint: "lsm, cow, rocksdb, lmdb")
            }
            layout.finish()
            if layout.size > 0 { out.append(layout) }
        }
        return out
    }

    static func baseName(_ rel: String) -> Substring {
        rel.lastIndex(of: "/").map { rel[rel.index(after: $0)...] } ?? Substring(rel)
    }

    // MARK: lsm (docs/formats/lsm-*.md)

    static func lsmFile(_ rel: String, _ b: [UInt8]) -> FileLayout {
        let name = baseName(rel)
        let size = Int64(b.count)
        if name.hasSuffix(".log") {
            var l = FileLayout(path: rel, fileType: "wal", size: size, region: "record-payload", checksummed: true)
            logRecords(&l, b, fileHeader: 16, markLastRecord: true)
            return l
        }
        if name.hasPrefix("MANIFEST-") {
            var l = FileLayout(path: rel, fileType: "manifest", size: size, region: "record-payload", checksummed: true)
            logRecords(&l, b, fileHeader: 16, markLastRecord: false)
            return l
        }
        if name.hasSuffix(".sst") {
            var l = FileLayout(path: rel, fileType: "sstable", size: size, region: "data-block", checksummed: true)
            lsmTable(&l, b)
            return l
        }
        if name == "CURRENT" {
            // No checksum, but parsed strictly: a damaged name must not open another manifest.
            var l = FileLayout(path: rel, fileType: "current", size: size, region: "manifest-name", checksummed: false)
            for i in 0..<b.count { l.header(Int64(i)) }
            return l
        }
        if name == "LOCK" { return FileLayout(path: rel, fileType: "lock", size: size, region: "lock", checksummed: false) }
        return FileLayout(path: rel, fileType: "other", size: size, region: "unknown", checksummed: false)
    }

    /// The LevelDB-style log framing shared by the lsm WAL and manifest and RocksDB's WAL and
    /// MANIFEST: 32 KiB blocks, 7-byte record headers (checksum 4, length 2, type 1), zero padding.
    static func logRecords(_ l: inout FileLayout, _ b: [UInt8], fileHeader: Int, markLastRecord: Bool) {
        let size = b.count
        let block = 32768
        if fileHeader > 0 {
            l.add(0, Int64(min(fileHeader, size)), "file-header", true)
            l.header(0, 8, 12)
        }
        var pos = fileHeader
        var lastStart = -1, lastEnd = -1, curStart = -1
        while pos < size {
            let room = block - pos % block
            if pos % block == 0 { l.header(Int64(pos)) }
            if room < 7 {
                l.add(Int64(pos), Int64(pos + room), "block-padding", false)
                pos += room
                continue
            }
            if size - pos < 7 { l.add(Int64(pos), Int64(size), "tail", false); break }
            let length = Int(b[pos + 4]) | Int(b[pos + 5]) << 8
            let type = b[pos + 6]
            let end = pos + 7 + length
            if type == 0 && length == 0 {
                // Zeros: the end of what was written (a preallocated or recycled tail).
                l.add(Int64(pos), Int64(size), "unused", false)
                break
            }
            guard end <= size, 7 + length <= room, (1...4).contains(type) else {
                l.add(Int64(pos), Int64(size), "unparsed", true)
                break
            }
            l.add(Int64(pos), Int64(pos + 7), "record-header", true)
            l.add(Int64(pos + 7), Int64(end), "record-payload", true)
            l.header(Int64(pos), Int64(pos + 4), Int64(pos + 6))
            if type == 1 || type == 2 { curStart = pos }
            if type == 1 || type == 4 { lastStart = curStart; lastEnd = end }
            pos = end
        }
        guard markLastRecord, lastStart >= 0 else { return }
        // The final logical record: a flip there cannot be told from a torn last append.
        for i in l.segments.indices where l.segments[i].start >= Int64(lastStart) && l.segments[i].end <= Int64(lastEnd)
            && l.segments[i].region.hasPrefix("record") {
            l.segments[i].region = "last-" + l.segments[i].region
        }
    }

    static func varint(_ b: [UInt8], _ pos: inout Int) -> UInt64? {
        var v: UInt64 = 0, shift: UInt64 = 0
        while pos < b.count && shift < 64 {
            let c = b[pos]; pos += 1
            v |= UInt64(c & 0x7f) << shift
            if c & 0x80 == 0 { return v }
            shift += 7
        }
        return nil
    }

    static func fixed32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    static func fixed64(_ b: [UInt8], _ at: Int) -> UInt64 {
        UInt64(fixed32(b, at)) | UInt64(fixed32(b, at + 4)) << 32
    }

    static func lsmTable(_ l: inout FileLayout, _ b: [UInt8]) {
        let size = b.count
        guard size >= 56 else { return }
        let f = size - 56
        l.add(Int64(f), Int64(size), "footer", true)
        for o in [0, 8, 16, 24, 32, 40, 44, 48] { l.header(Int64(f + o)) }
        let filterOff = Int(fixed64(b, f)), filterSize = Int(fixed64(b, f + 8))
        let indexOff = Int(fixed64(b, f + 16)), indexSize = Int(fixed64(b, f + 24))
        func block(_ off: Int, _ len: Int, _ region: String) {
            guard off >= 0, len >= 0, off + len + 5 <= f else { return }
            l.add(Int64(off), Int64(off + len), region, true)
            l.add(Int64(off + len), Int64(off + len + 5), region + "-trailer", true)
            l.header(Int64(off), Int64(off + len), Int64(off + len + 1))
        }
        if filterSize > 0 { block(filterOff, filterSize, "filter-block") }
        block(indexOff, indexSize, "index-block")
        // Index entries (a restart at every entry): shared 0, key length, value length, key, handle.
        guard indexSize >= 4, indexOff + indexSize <= size else { return }
        let restarts = Int(fixed32(b, indexOff + indexSize - 4))
        let entriesEnd = indexOff + indexSize - 4 - 4 * restarts
        var pos = indexOff
        while pos < entriesEnd {
            guard let shared = varint(b, &pos), let nonShared = varint(b, &pos), let vlen = varint(b, &pos) else { return }
            _ = shared
            pos += Int(nonShared)
            var vp = pos
            guard let off = varint(b, &vp), let len = varint(b, &vp) else { return }
            pos += Int(vlen)
            block(Int(off), Int(len), "data-block")
        }
    }

    // MARK: cow (docs/formats/btree-page.md, cow-meta-page.md, cow-wal.md)

    static func cowFile(_ rel: String, _ b: [UInt8], pageSize: Int) -> FileLayout {
        let name = baseName(rel)
        let size = Int64(b.count)
        if name == "cow.db" {
            var l = FileLayout(path: rel, fileType: "data-page", size: size, region: "page-body", checksummed: true)
            var p = 0
            while p * pageSize < b.count {
                let base = Int64(p * pageSize)
                if p < 2 {
                    l.add(base, base + 128, "meta-page", true)
                    l.add(base + 128, base + Int64(pageSize), "meta-unused", false)
                    for o in stride(from: 0, to: 128, by: 8) { l.header(base + Int64(o)) }
                    l.header(base + 12, base + 20)
                } else {
                    l.add(base, base + 40, "page-header", true)
                    l.header(base, base + 4, base + 6, base + 8, base + 16, base + 24, base + 32, base + 36)
                }
                p += 1
            }
            return l
        }
        if name.hasPrefix("cow.wal") {
            var l = FileLayout(path: rel, fileType: "wal-segment", size: size, region: "free", checksummed: false)
            cowSegment(&l, b)
            return l
        }
        if name == "LOCK" || name.hasSuffix(".lock") {
            return FileLayout(path: rel, fileType: "lock", size: size, region: "lock", checksummed: false)
        }
        return FileLayout(path: rel, fileType: "other", size: size, region: "unknown", checksummed: false)
    }

    static func cowSegment(_ l: inout FileLayout, _ b: [UInt8]) {
        guard b.count >= 32, fixed64(b, 0) == 0x4C41_574F_4342_524F else {  // "ORBCOWAL"
            l.add(0, min(32, Int64(b.count)), "spare-header", false)
            l.header(0, 8, 12, 16, 24)
            return
        }
        l.add(0, 32, "segment-header", true)
        l.header(0, 8, 12, 16, 24)
        let version = fixed32(b, 8)
        let seq = fixed64(b, 16)
        var pos = 32
        var lastTx: UInt64 = 0
        var last: (Int, Int)? = nil
        while pos + 24 <= b.count {
            let length = Int(fixed32(b, pos + 4))
            let end = pos + 24 + length
            guard version >= 2, end <= b.count, fixed64(b, pos + 8) == seq, fixed64(b, pos + 16) > lastTx else { break }
            let crc = b.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(pos + 4)..<end]))) }
            guard crc == fixed32(b, pos) else { break }
            lastTx = fixed64(b, pos + 16)
            l.add(Int64(pos), Int64(pos + 24), "record-header", true)
            l.add(Int64(pos + 24), Int64(end), "record-payload", true)
            l.header(Int64(pos), Int64(pos + 4), Int64(pos + 8), Int64(pos + 16))
            last = (pos, end)
            pos = end
        }
        if let (s, e) = last {
            for i in l.segments.indices where l.segments[i].start >= Int64(s) && l.segments[i].end <= Int64(e) {
                l.segments[i].region = "last-" + l.segments[i].region
            }
        }
        // After the last record: zeros or an older generation's records (ignored by their sequence
        // number, whatever their bytes).
        l.header(Int64(pos), Int64(pos + 4))
    }

    // MARK: rocksdb (RocksDB's own formats)

    static func rocksdbFile(_ rel: String, _ b: [UInt8]) -> FileLayout {
        let name = baseName(rel)
        let size = Int64(b.count)
        if name.hasSuffix(".log") {
            var l = FileLayout(path: rel, fileType: "wal", size: size, region: "record-payload", checksummed: true)
            logRecords(&l, b, fileHeader: 0, markLastRecord: true)
            return l
        }
        if name.hasPrefix("MANIFEST-") {
            var l = FileLayout(path: rel, fileType: "manifest", size: size, region: "record-payload", checksummed: true)
            logRecords(&l, b, fileHeader: 0, markLastRecord: false)
            return l
        }
        if name.hasSuffix(".sst") {
            var l = FileLayout(path: rel, fileType: "sst", size: size, region: "block", checksummed: true)
            // Footer (format_version >= 1): checksum type 1, metaindex and index handles (varints,
            // padded to 40), format version 4, magic 8: the last 53 bytes.
            if b.count >= 53 {
                let f = b.count - 53
                l.add(Int64(f), size, "footer", true)
                l.header(Int64(f), Int64(f + 1), Int64(b.count - 12), Int64(b.count - 8))
                var pos = f + 1
                for region in ["metaindex-block", "index-block"] {
                    guard let off = varint(b, &pos), let len = varint(b, &pos), Int(off) + Int(len) + 5 <= f else { break }
                    l.add(Int64(off), Int64(off + len), region, true)
                    l.add(Int64(off + len), Int64(off + len + 5), region + "-trailer", true)
                    l.header(Int64(off), Int64(off + len), Int64(off + len + 1))
                }
            }
            return l
        }
        if name == "CURRENT" { return FileLayout(path: rel, fileType: "current", size: size, region: "manifest-name", checksummed: false) }
        if name.hasPrefix("OPTIONS-") { return FileLayout(path: rel, fileType: "options", size: size, region: "text", checksummed: false) }
        if name == "IDENTITY" { return FileLayout(path: rel, fileType: "identity", size: size, region: "text", checksummed: false) }
        if name == "LOCK" { return FileLayout(path: rel, fileType: "lock", size: size, region: "lock", checksummed: false) }
        if name.hasPrefix("LOG") { return FileLayout(path: rel, fileType: "info-log", size: size, region: "text", checksummed: false) }
        return FileLayout(path: rel, fileType: "other", size: size, region: "unknown", checksummed: false)
    }

    // MARK: lmdb (lmdb.h: no checksums anywhere)

    static func lmdbFile(_ rel: String, _ b: [UInt8]) -> FileLayout {
        let name = baseName(rel)
        let size = Int64(b.count)
        if name == "data.mdb" {
            var l = FileLayout(path: rel, fileType: "data", size: size, region: "page-body", checksummed: false)
            // The page size is in meta page 0 (MDB_meta after the 16-byte page header: magic,
            // version, address, mapsize, then the free and main MDB_db whose md_pad is the page size).
            var pageSize = 4096
            if b.count >= 48 {
                let ps = Int(fixed32(b, 40))
                if ps >= 512 && ps <= 65536 && ps & (ps - 1) == 0 { pageSize = ps }
            }
            var p = 0
            while p * pageSize < b.count {
                let base = Int64(p * pageSize)
                if p < 2 {
                    l.add(base, base + 16, "meta-page-header", false)
                    l.add(base + 16, base + 160, "meta-page", false)
                    for o in stride(from: 16, to: 160, by: 8) { l.header(base + Int64(o)) }
                } else {
                    l.add(base, base + 16, "page-header", false)
                }
                l.header(base, base + 8, base + 10, base + 12, base + 14)
                p += 1
            }
            return l
        }
        if name == "lock.mdb" { return FileLayout(path: rel, fileType: "lock", size: size, region: "reader-table", checksummed: false) }
        return FileLayout(path: rel, fileType: "other", size: size, region: "unknown", checksummed: false)
    }
}

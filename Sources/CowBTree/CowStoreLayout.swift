public import OrbitCore

/// The on-disk layout of a cow store, one file at a time, from the engine's own format constants and
/// decoders (`Layout`, `MetaPage`, `WALFormat`): what CrashLab's corruption and I/O-error sweeps
/// damage and how they name it (docs/formats/btree-page.md, cow-meta-page.md, cow-wal.md).
///
/// Region names are part of the corruption sweep's results (`corruption.csv`): keep them stable.
public enum CowStoreLayout: StoreFileLayouts {
    /// The file's kind: "data-page" (`cow.db`), "wal-segment" (`cow.wal.<n>`, and the version-1
    /// `cow.wal`), "lock", else "other". The `fileType` of `fileLayout`.
    public static func fileKind(relativePath: String) -> String {
        let name = FileLayout.baseName(relativePath)
        if name == CowEngine.pageFileName { return "data-page" }
        if name.hasPrefix(CowEngine.walFileName) { return "wal-segment" }
        if name == CowEngine.lockFileName || name == "LOCK" || name.hasSuffix(".lock") { return "lock" }
        return "other"
    }

    /// The layout of one file of the store (`relativePath` below the store directory, `bytes` its
    /// content). The page size is the store's own, from its meta pages. Never nil: a file the
    /// engine does not know is "other", region "unknown".
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        switch fileKind(relativePath: relativePath) {
        case "data-page":
            FileLayout.of(relativePath, bytes, fileType: "data-page", region: "page-body", checksummed: true) {
                addPages(&$0, bytes, pageSize: pageSize(ofPageFile: bytes))
            }
        case "wal-segment":
            FileLayout.of(relativePath, bytes, fileType: "wal-segment", region: "free", checksummed: false) { addSegment(&$0, bytes) }
        case "lock":
            FileLayout.of(relativePath, bytes, fileType: "lock", region: "lock", checksummed: false)
        default:
            FileLayout.unknown(relativePath, bytes)
        }
    }

    /// The page size a page file was written with: meta page 0's, else that of a valid meta page 1
    /// at its own page size (as the engine's open looks for it), else the default.
    static func pageSize(ofPageFile b: [UInt8]) -> Int {
        func meta(at offset: Int) -> MetaPage? {
            guard offset + MetaPage.encodedSize <= b.count,
                  case .success(let m) = MetaPage.decode(Array(b[offset..<(offset + MetaPage.encodedSize)])) else { return nil }
            return m
        }
        if let m = meta(at: 0) { return m.pageSize }
        var s = MetaPage.smallestPageSize
        while s <= MetaPage.largestPageSize {
            if let m = meta(at: s), m.pageSize == s { return s }
            s <<= 1
        }
        return CowOptions().pageSize
    }

    /// Pages 0 and 1: a meta page (its 128 encoded bytes, one checksum) and unused rest; every
    /// other page: the 40-byte header (the page's checksum covers the whole page).
    static func addPages(_ l: inout FileLayout, _ b: [UInt8], pageSize: Int) {
        var p = 0
        while p * pageSize < b.count {
            let base = Int64(p * pageSize)
            if UInt64(p) < Layout.firstDataPage {
                l.add(base, base + Int64(MetaPage.encodedSize), "meta-page", true)
                l.add(base + Int64(MetaPage.encodedSize), base + Int64(pageSize), "meta-unused", false)
                for o in MetaPage.fieldOffsets { l.header(base + Int64(o)) }
            } else {
                l.add(base, base + Int64(Layout.headerSize), "page-header", true)
                for o in Layout.headerFieldOffsets { l.header(base + Int64(o)) }
            }
            p += 1
        }
    }

    /// A WAL segment: its header, then the records of its own sequence number (`WALFormat.records`;
    /// the last one "last-record-header"/"last-record-payload"); after them zeros or an older
    /// generation's records, which replay ignores by their sequence number whatever their bytes.
    static func addSegment(_ l: inout FileLayout, _ b: [UInt8]) {
        guard b.count >= WALFormat.segmentHeaderSize, Array(b[0..<WALFormat.magic.count]) == WALFormat.magic else {
            l.add(0, min(Int64(WALFormat.segmentHeaderSize), Int64(b.count)), "spare-header", false)
            for o in WALFormat.segmentHeaderFieldOffsets { l.header(Int64(o)) }
            return
        }
        l.add(0, Int64(WALFormat.segmentHeaderSize), "segment-header", true)
        for o in WALFormat.segmentHeaderFieldOffsets { l.header(Int64(o)) }
        let (version, seq) = b.withUnsafeBytes { ($0.u32(8), $0.u64(16)) }
        // A version-1 header (the single `cow.wal` of older builds) frames its records otherwise.
        let records = version >= WALFormat.previousVersion ? WALFormat.records(segment: b, seq: seq) : []
        var end = WALFormat.segmentHeaderSize
        for r in records {
            let start = r.payload.lowerBound - WALFormat.recordHeaderSize
            l.add(Int64(start), Int64(r.payload.lowerBound), "record-header", true)
            l.add(Int64(r.payload.lowerBound), Int64(r.end), "record-payload", true)
            for o in WALFormat.recordHeaderFieldOffsets { l.header(Int64(start + o)) }
            end = r.end
        }
        if let last = records.last {
            l.markLast(from: Int64(last.payload.lowerBound - WALFormat.recordHeaderSize), to: Int64(last.end))
        }
        // Where the next record would start: its checksum and length.
        l.header(Int64(end), Int64(end + 4))
    }
}

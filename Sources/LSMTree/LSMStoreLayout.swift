public import OrbitCore

/// The on-disk layout of an lsm store, one file at a time, from the engine's own format constants
/// and decoders (`LogFormat`, `Footer`, `BlockHandle`, `Block`): what CrashLab's corruption and
/// I/O-error sweeps damage and how they name it (docs/formats/lsm-log.md, lsm-sstable.md).
///
/// Region names are part of the corruption sweep's results (`corruption.csv`): keep them stable.
public enum LSMStoreLayout: StoreFileLayouts {
    /// The file's kind: "wal", "manifest", "sstable", "current" (CURRENT and the CURRENT.tmp it is
    /// replaced from), "lock", else "other". The `fileType` of `fileLayout`.
    public static func fileKind(relativePath: String) -> String {
        let name = FileLayout.baseName(relativePath)
        if name.hasSuffix(".log") { return "wal" }
        if name.hasPrefix("MANIFEST-") { return "manifest" }
        if name.hasSuffix(".sst") { return "sstable" }
        if name == "CURRENT" || name == "CURRENT.tmp" { return "current" }
        if name == "LOCK" { return "lock" }
        return "other"
    }

    /// The layout of one file of the store (`relativePath` below the store directory, `bytes` its
    /// content). Never nil: a file the engine does not know is "other", region "unknown".
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        switch fileKind(relativePath: relativePath) {
        case "wal":
            FileLayout.of(relativePath, bytes, fileType: "wal", region: "record-payload", checksummed: true) {
                $0.addRecordLog(bytes, framing, markLastRecord: true)
            }
        case "manifest":
            FileLayout.of(relativePath, bytes, fileType: "manifest", region: "record-payload", checksummed: true) {
                $0.addRecordLog(bytes, framing, markLastRecord: false)
            }
        case "sstable":
            FileLayout.of(relativePath, bytes, fileType: "sstable", region: "data-block", checksummed: true) { addTable(&$0, bytes) }
        case "current":
            // No checksum, but parsed strictly: a damaged name must not open another manifest.
            FileLayout.of(relativePath, bytes, fileType: "current", region: "manifest-name", checksummed: false) { l in
                for i in 0..<bytes.count { l.header(Int64(i)) }
            }
        case "lock":
            FileLayout.of(relativePath, bytes, fileType: "lock", region: "lock", checksummed: false)
        default:
            FileLayout.unknown(relativePath, bytes)
        }
    }

    /// The WAL's and the manifest's framing (`LogFormat`).
    static let framing = FileLayout.RecordLogFraming(
        blockSize: LogFormat.blockSize, recordHeaderSize: LogFormat.headerSize,
        lengthOffset: LogFormat.lengthOffset, typeOffset: LogFormat.typeOffset,
        fullType: LogFormat.RecordType.full.rawValue, firstType: LogFormat.RecordType.first.rawValue,
        middleType: LogFormat.RecordType.middle.rawValue, lastType: LogFormat.RecordType.last.rawValue,
        fileHeaderSize: LogFormat.fileHeaderSize,
        fileHeaderFields: [0, LogFormat.fileHeaderVersionOffset, LogFormat.fileHeaderChecksumOffset])

    /// A table: the footer, the filter and index blocks it names, and every data block the index
    /// names, each with its trailer (compression type and checksum). The handles are read as stored
    /// (not checked: a damaged footer still gets its fields probed).
    static func addTable(_ l: inout FileLayout, _ b: [UInt8]) {
        guard b.count >= Footer.size else { return }
        let f = b.count - Footer.size
        l.add(Int64(f), Int64(b.count), "footer", true)
        for o in Footer.fieldOffsets { l.header(Int64(f + o)) }
        let (filter, index) = b.withUnsafeBytes { p in
            (BlockHandle(offset: loadFixed64(p, f), size: loadFixed64(p, f + 8)),
             BlockHandle(offset: loadFixed64(p, f + 16), size: loadFixed64(p, f + 24)))
        }
        func block(_ h: BlockHandle, _ region: String) {
            let trailer = UInt64(Footer.blockTrailerSize)
            guard h.offset <= UInt64(f), h.size <= UInt64(f) - h.offset, trailer <= UInt64(f) - h.offset - h.size else { return }
            let off = Int64(h.offset), end = Int64(h.offset + h.size)
            l.add(off, end, region, true)
            l.add(end, end + Int64(trailer), region + "-trailer", true)
            l.header(off, end, end + 1)  // first byte, compression type, checksum
        }
        if filter.size > 0 { block(filter, "filter-block") }
        block(index, "index-block")
        // The data blocks: the index block's entries, read as stored (an index block is never compressed).
        guard index.size >= 4, index.offset <= UInt64(b.count), index.size <= UInt64(b.count) - index.offset else { return }
        let count = Int(index.size)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
        b.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress! + Int(index.offset), byteCount: count) }
        guard let indexBlock = try? Block(owning: storage, count: count, path: l.path, offset: Int64(index.offset)) else { return }
        var it = BlockIterator(indexBlock)
        it.seekToFirst()
        while it.valid, let h = BlockHandle.decode(it.value) {
            block(h, "data-block")
            it.next()
        }
    }
}

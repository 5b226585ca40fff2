public import OrbitCore

/// RocksDB's on-disk formats, as far as the harness describes them, named from RocksDB's own
/// documentation and headers (db/log_format.h, table/format.h, the wiki's "Rocksdb BlockBasedTable
/// Format" and "Write Ahead Log File Format"). The library reads and writes them; these constants
/// only say where a store's bytes lie for CrashLab's sweeps.
enum RocksDBFormat {
    // log_format.h: the WAL and the MANIFEST.
    /// kBlockSize.
    static let logBlockSize = 32_768
    /// kHeaderSize: checksum (4), length (2), type (1).
    static let logHeaderSize = 7
    static let logLengthOffset = 4, logTypeOffset = 6
    /// kFullType, kFirstType, kMiddleType, kLastType (the recyclable types 5-8 are not used:
    /// the wrapper does not set recycle_log_file_num).
    static let fullType: UInt8 = 1, firstType: UInt8 = 2, middleType: UInt8 = 3, lastType: UInt8 = 4

    // format.h: a block-based table's footer, format_version >= 1.
    /// Footer::kNewVersionsEncodedLength: checksum type (1), metaindex and index handles (varints,
    /// padded to 2 × BlockHandle::kMaxEncodedLength = 40), format_version (4), magic number (8).
    static let footerSize = 53
    static let footerHandlesOffset = 1
    /// format_version and magic number, from the end of the file.
    static let footerVersionFromEnd = 12, footerMagicFromEnd = 8
    /// kBlockTrailerSize: compression type (1) and checksum (4) after every block.
    static let blockTrailerSize = 5

    static let logFraming = FileLayout.RecordLogFraming(
        blockSize: logBlockSize, recordHeaderSize: logHeaderSize, lengthOffset: logLengthOffset, typeOffset: logTypeOffset,
        fullType: fullType, firstType: firstType, middleType: middleType, lastType: lastType,
        fileHeaderSize: 0, fileHeaderFields: [])

    /// A varint64 (LEB128, as RocksDB's coding.h writes BlockHandle fields) at `pos`, advanced past it.
    static func varint(_ b: [UInt8], _ pos: inout Int) -> UInt64? { b.withUnsafeBytes { try? LEB128.decode($0, &pos) } }
}

/// The on-disk layout of a RocksDB store, one file at a time: what CrashLab's corruption sweep
/// damages and how it names it. Region names are part of its results (`corruption.csv`).
public enum RocksDBStoreLayout: StoreFileLayouts {
    /// The file's kind: "wal", "manifest", "sst", "current", "options", "identity", "lock",
    /// "info-log", else "other". The `fileType` of `fileLayout`.
    public static func fileKind(relativePath: String) -> String {
        let name = FileLayout.baseName(relativePath)
        if name.hasSuffix(".log") { return "wal" }
        if name.hasPrefix("MANIFEST-") { return "manifest" }
        if name.hasSuffix(".sst") { return "sst" }
        if name == "CURRENT" { return "current" }
        if name.hasPrefix("OPTIONS-") { return "options" }
        if name == "IDENTITY" { return "identity" }
        if name == "LOCK" { return "lock" }
        if name.hasPrefix("LOG") { return "info-log" }
        return "other"
    }

    /// The layout of one file of the store (`relativePath` below the store directory, `bytes` its
    /// content). Never nil: a file the wrapper does not know is "other", region "unknown".
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        let kind = fileKind(relativePath: relativePath)
        return switch kind {
        case "wal", "manifest":
            FileLayout.of(relativePath, bytes, fileType: kind, region: "record-payload", checksummed: true) {
                $0.addRecordLog(bytes, RocksDBFormat.logFraming, markLastRecord: kind == "wal")
            }
        case "sst": FileLayout.of(relativePath, bytes, fileType: kind, region: "block", checksummed: true) { addTable(&$0, bytes) }
        case "current": FileLayout.of(relativePath, bytes, fileType: kind, region: "manifest-name", checksummed: false)
        case "options", "identity", "info-log": FileLayout.of(relativePath, bytes, fileType: kind, region: "text", checksummed: false)
        case "lock": FileLayout.of(relativePath, bytes, fileType: kind, region: "lock", checksummed: false)
        default: FileLayout.unknown(relativePath, bytes)
        }
    }

    /// A table: the footer and the metaindex and index blocks its handles name, each with its trailer.
    /// (Data blocks are the default region "block": the index's entries are not decoded here.)
    static func addTable(_ l: inout FileLayout, _ b: [UInt8]) {
        guard b.count >= RocksDBFormat.footerSize else { return }
        let f = b.count - RocksDBFormat.footerSize
        l.add(Int64(f), Int64(b.count), "footer", true)
        l.header(Int64(f), Int64(f + RocksDBFormat.footerHandlesOffset),
                 Int64(b.count - RocksDBFormat.footerVersionFromEnd), Int64(b.count - RocksDBFormat.footerMagicFromEnd))
        var pos = f + RocksDBFormat.footerHandlesOffset
        let trailer = UInt64(RocksDBFormat.blockTrailerSize)
        for region in ["metaindex-block", "index-block"] {
            guard let off = RocksDBFormat.varint(b, &pos), let len = RocksDBFormat.varint(b, &pos),
                  off <= UInt64(f), len <= UInt64(f) - off, trailer <= UInt64(f) - off - len else { break }
            let start = Int64(off), end = Int64(off + len)
            l.add(start, end, region, true)
            l.add(end, end + Int64(trailer), region + "-trailer", true)
            l.header(start, end, end + 1)  // first byte, compression type, checksum
        }
    }
}

/// Describing files of the LevelDB-style record log, which two engines share in shape: lsm's WAL and
/// manifest (docs/formats/lsm-log.md) and RocksDB's WAL and MANIFEST (RocksDB's log_format.h). Each
/// engine passes its own constants (`RecordLogFraming`); only the walk over the framing is here.
extension FileLayout {
    /// The constants of one engine's record log: fixed-size blocks of physical records, each
    /// `checksum | length (2, LE) | type (1) | payload`, zero padding where a header no longer fits.
    public struct RecordLogFraming: Sendable {
        public var blockSize: Int
        /// Bytes of a physical record's header.
        public var recordHeaderSize: Int
        /// Where the header's length (2 bytes, little-endian) and type (1 byte) fields are.
        public var lengthOffset: Int
        public var typeOffset: Int
        /// Record types: a whole logical record, and the first, middle and last fragments of one.
        public var fullType: UInt8
        public var firstType: UInt8
        public var middleType: UInt8
        public var lastType: UInt8
        /// A header at the start of the file (0: none) and its fields worth probing.
        public var fileHeaderSize: Int
        public var fileHeaderFields: [Int]

        public init(blockSize: Int, recordHeaderSize: Int, lengthOffset: Int, typeOffset: Int,
                    fullType: UInt8, firstType: UInt8, middleType: UInt8, lastType: UInt8,
                    fileHeaderSize: Int, fileHeaderFields: [Int]) {
            self.blockSize = blockSize
            self.recordHeaderSize = recordHeaderSize
            self.lengthOffset = lengthOffset
            self.typeOffset = typeOffset
            self.fullType = fullType
            self.firstType = firstType
            self.middleType = middleType
            self.lastType = lastType
            self.fileHeaderSize = fileHeaderSize
            self.fileHeaderFields = fileHeaderFields
        }
    }

    /// Adds the regions of a record log's `bytes`: "file-header", then per physical record
    /// "record-header" and "record-payload" (checksummed), "block-padding" where a block's last bytes
    /// hold no header, "unused" from a zero header on (a preallocated or recycled tail), "tail" for
    /// a final header cut short, "unparsed" from a header the framing does not allow (checksummed:
    /// the reader refuses it). With `markLastRecord` the fragments of the final logical record are
    /// "last-record-header"/"last-record-payload": a flip there cannot be told from a torn last append.
    public mutating func addRecordLog(_ bytes: [UInt8], _ framing: RecordLogFraming, markLastRecord: Bool) {
        let size = bytes.count
        let block = framing.blockSize
        let headerSize = framing.recordHeaderSize
        if framing.fileHeaderSize > 0 {
            add(0, Int64(min(framing.fileHeaderSize, size)), "file-header", true)
            for o in framing.fileHeaderFields { header(Int64(o)) }
        }
        var pos = framing.fileHeaderSize
        var lastStart = -1, lastEnd = -1, currentStart = -1
        let known = min(framing.fullType, framing.firstType, framing.middleType, framing.lastType)
            ... max(framing.fullType, framing.firstType, framing.middleType, framing.lastType)
        while pos < size {
            let room = block - pos % block
            if pos % block == 0 { header(Int64(pos)) }
            if room < headerSize {
                add(Int64(pos), Int64(pos + room), "block-padding", false)
                pos += room
                continue
            }
            if size - pos < headerSize { add(Int64(pos), Int64(size), "tail", false); break }
            let length = Int(bytes[pos + framing.lengthOffset]) | Int(bytes[pos + framing.lengthOffset + 1]) << 8
            let type = bytes[pos + framing.typeOffset]
            let end = pos + headerSize + length
            if type == 0 && length == 0 {
                add(Int64(pos), Int64(size), "unused", false)
                break
            }
            guard end <= size, headerSize + length <= room, known.contains(type) else {
                add(Int64(pos), Int64(size), "unparsed", true)
                break
            }
            add(Int64(pos), Int64(pos + headerSize), "record-header", true)
            add(Int64(pos + headerSize), Int64(end), "record-payload", true)
            header(Int64(pos), Int64(pos + framing.lengthOffset), Int64(pos + framing.typeOffset))
            if type == framing.fullType || type == framing.firstType { currentStart = pos }
            if type == framing.fullType || type == framing.lastType { lastStart = currentStart; lastEnd = end }
            pos = end
        }
        guard markLastRecord, lastStart >= 0 else { return }
        markLast(from: Int64(lastStart), to: Int64(lastEnd)) { $0.hasPrefix("record") }
    }

    /// Prefixes "last-" to the regions of the segments inside `start..<end` that `which` selects:
    /// the final record of a log, whose damage recovery may drop as a torn tail.
    public mutating func markLast(from start: Int64, to end: Int64, _ which: (String) -> Bool = { _ in true }) {
        for i in segments.indices where segments[i].start >= start && segments[i].end <= end && which(segments[i].region) {
            segments[i].region = "last-" + segments[i].region
        }
    }

    /// The finished layout of a file of kind `fileType` (`relativePath` below the store directory,
    /// `bytes` its content): bytes outside what `describe` adds are `region`.
    public static func of(_ relativePath: String, _ bytes: [UInt8], fileType: String, region: String, checksummed: Bool,
                          _ describe: (inout FileLayout) -> Void = { _ in }) -> FileLayout {
        var l = FileLayout(path: relativePath, fileType: fileType, size: Int64(bytes.count), region: region, checksummed: checksummed)
        describe(&l)
        l.finish()
        return l
    }

    /// A file the engine does not know: type "other", region "unknown", no checksum.
    public static func unknown(_ relativePath: String, _ bytes: [UInt8]) -> FileLayout {
        of(relativePath, bytes, fileType: "other", region: "unknown", checksummed: false)
    }

    /// The last path component of a store-relative path ("snapshots/a/000005.sst" → "000005.sst").
    public static func baseName(_ relativePath: String) -> Substring {
        relativePath.lastIndex(of: "/").map { relativePath[relativePath.index(after: $0)...] } ?? Substring(relativePath)
    }
}

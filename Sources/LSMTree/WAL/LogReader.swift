import OrbitCore

/// Reads the logical records of a log file (docs/formats/lsm-log.md) in order.
///
/// Recovery rule: a bad or incomplete record that reaches the end of the file (or is followed only
/// by zeros) is a torn tail — the write that was in flight at a crash — and reading stops before it,
/// at `validEnd`. A bad record with intact data after it is corruption: an error naming the file and
/// the record's offset, unless `paranoid` is false, when the damaged block is skipped and counted.
struct LogReader<File: FileHandleProtocol> {
    struct Outcome {
        /// Offset just past the last good logical record.
        var validEnd: Int64
        /// Whether a torn tail was found (and should be cut off).
        var tornTail: Bool
        /// Damaged regions skipped because `paranoid` is false.
        var skippedRegions: Int
        var records: Int
    }

    let file: File
    let magic: UInt64
    let paranoid: Bool

    /// Calls `body(record, offset)` for each logical record.
    func read(_ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Outcome {
        let bytes = try file.read(count: Int(try file.size()), at: 0)
        return try bytes.withUnsafeBytes { try scan($0, body) }
    }

    private func scan(_ p: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Outcome {
        let path = file.path
        var out = Outcome(validEnd: 0, tornTail: false, skippedRegions: 0, records: 0)
        let size = p.count
        if size < LogFormat.fileHeaderSize {
            // A crash while the header was being written: an empty log.
            out.tornTail = size > 0
            return out
        }
        let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<12])))
        guard loadFixed32(p, 12) == crc else { throw corruption("log file header checksum mismatch", path, 0) }
        let m = loadFixed64(p, 0)
        guard m == magic else {
            throw corruption("bad log magic 0x\(String(m, radix: 16)), expected 0x\(String(magic, radix: 16))", path, 0)
        }
        let version = loadFixed32(p, 8)
        guard version <= LogFormat.version else { throw corruption("log format version \(version) is newer than this build reads (\(LogFormat.version))", path, 8) }

        var pos = LogFormat.fileHeaderSize
        out.validEnd = Int64(pos)
        var assembling: [UInt8] = []
        var inRecord = false
        var recordStart = 0

        func restIsZero(_ from: Int) -> Bool {
            var i = from
            while i < size { if p[i] != 0 { return false }; i += 1 }
            return true
        }

        while pos < size {
            let room = LogFormat.blockSize - pos % LogFormat.blockSize
            if room < LogFormat.headerSize { pos += room; continue }
            if size - pos < LogFormat.headerSize { out.tornTail = true; break }
            let stored = loadFixed32(p, pos)
            let length = Int(p[pos + 4]) | Int(p[pos + 5]) << 8
            let typeByte = p[pos + 6]
            let end = pos + LogFormat.headerSize + length
            var bad: String? = nil
            if end > size {
                out.tornTail = true
                break
            }
            if LogFormat.headerSize + length > room {
                bad = "record length \(length) crosses its block"
            } else if stored != recordChecksum(length, typeByte, UnsafeRawBufferPointer(rebasing: p[(pos + LogFormat.headerSize)..<end])) {
                bad = "record checksum mismatch"
            } else if LogFormat.RecordType(rawValue: typeByte) == nil {
                bad = "unknown record type \(typeByte)"
            }
            if let bad {
                if end >= size || restIsZero(pos) { out.tornTail = true; break }
                if paranoid { throw corruption("\(bad) in log", path, Int64(pos)) }
                // Skip the rest of this block and any partly assembled record.
                out.skippedRegions += 1
                inRecord = false
                assembling.removeAll(keepingCapacity: true)
                pos += room
                continue
            }
            let fragment = UnsafeRawBufferPointer(rebasing: p[(pos + LogFormat.headerSize)..<end])
            switch LogFormat.RecordType(rawValue: typeByte)! {
            case .full:
                if inRecord && paranoid { throw corruption("full record inside a fragmented record", path, Int64(pos)) }
                inRecord = false
                try body(fragment, Int64(pos))
                out.records += 1
                out.validEnd = Int64(end)
            case .first:
                if inRecord && paranoid { throw corruption("first fragment inside a fragmented record", path, Int64(pos)) }
                assembling.removeAll(keepingCapacity: true)
                assembling.append(contentsOf: fragment)
                inRecord = true
                recordStart = pos
            case .middle, .last:
                guard inRecord else {
                    if paranoid { throw corruption("fragment without a first fragment", path, Int64(pos)) }
                    out.skippedRegions += 1
                    break
                }
                assembling.append(contentsOf: fragment)
                if typeByte == LogFormat.RecordType.last.rawValue {
                    inRecord = false
                    try assembling.withUnsafeBytes { try body($0, Int64(recordStart)) }
                    out.records += 1
                    out.validEnd = Int64(end)
                }
            }
            pos = end
        }
        // Anything after the last good record (a partial record, its padding, zeros) is the tail
        // of a write that was in flight: the caller cuts it off.
        out.tornTail = out.validEnd < Int64(size)
        return out
    }
}

import OrbitCore

/// Reads the logical records of a log file (docs/formats/lsm-log.md) in order.
///
/// Recovery rule for the manifest and version-1 WALs: a bad or incomplete record that reaches the
/// end of the file (or is followed only by zeros) is a torn tail — the write that was in flight at
/// a crash — and reading stops before it, at `validEnd`. A bad record with intact data after it is
/// corruption: an error naming the file and the record's offset, unless `paranoid` is false, when
/// the damaged block is skipped and counted.
///
/// Version-2 WALs say in every record how far the log was synced when it was written. Damage at or
/// past the furthest synced offset any readable record claims (before or after the damage) is the
/// unsynced tail a power loss may leave in any shape — holes, torn sectors, later writes kept and
/// earlier ones lost — and reading stops there (point-in-time recovery). Damage before it hit
/// data that had been synced: corruption, as above. A log that is not the newest was synced whole
/// before the next one was created (`lastLog` false): any damage in it is corruption.
struct LogReader<File: FileHandleProtocol> {
    struct Outcome {
        /// Offset just past the last good logical record.
        var validEnd: Int64
        /// Whether a torn tail was found (and should be cut off).
        var tornTail: Bool
        /// Damaged regions skipped because `paranoid` is false.
        var skippedRegions: Int
        var records: Int
        /// The file's format version (WAL payloads differ: `LogFormat.walPayloadHeader`).
        var version: UInt32 = LogFormat.version
    }

    let file: File
    let magic: UInt64
    let paranoid: Bool
    /// Whether this is the newest WAL (the only one whose tail may be unsynced).
    var lastLog = true
    /// The WAL's file number (from its name): a version-3 header's checksum covers it. Nil for a
    /// manifest.
    var number: UInt64?
    /// The manifest recorded this log opened, which happens only after its header was synced: any
    /// header damage — short, wrong magic, bad checksum, an older version — is corruption, never
    /// the torn creation of an empty log.
    var knownLog = false

    init(file: File, magic: UInt64, paranoid: Bool, lastLog: Bool = true, number: UInt64? = nil, knownLog: Bool = false) {
        self.file = file; self.magic = magic; self.paranoid = paranoid; self.lastLog = lastLog
        self.number = number; self.knownLog = knownLog
    }

    /// Whether any physical record from `from` on (in any block) has a good checksum.
    static func hasIntactRecord(_ p: UnsafeRawBufferPointer, from: Int) -> Bool {
        var block = 0
        while block < p.count {
            var q = max(block, from)
            let blockEnd = min(p.count, block + LogFormat.blockSize)
            while q + LogFormat.headerSize <= blockEnd {
                let length = Int(p[q + 4]) | Int(p[q + 5]) << 8
                let end = q + LogFormat.headerSize + length
                guard end <= blockEnd, p[q + 6] >= 1, p[q + 6] <= 4,
                      loadFixed32(p, q) == recordChecksum(length, p[q + 6], UnsafeRawBufferPointer(rebasing: p[(q + LogFormat.headerSize)..<end]))
                else { break }
                return true
            }
            block += LogFormat.blockSize
        }
        return false
    }

    /// Calls `body(record, offset)` for each logical record.
    func read(_ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Outcome {
        let bytes = try file.read(count: Int(try file.size()), at: 0)
        return try bytes.withUnsafeBytes { try scan($0, body) }
    }

    private func scan(_ p: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Outcome {
        let path = file.path
        var out = Outcome(validEnd: 0, tornTail: false, skippedRegions: 0, records: 0)
        let size = p.count
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if size < LogFormat.fileHeaderSize {
            // A log the manifest recorded as opened had its header synced first: a crash cannot
            // take it away. Otherwise it is a crash while the header was being written: empty.
            if knownLog {
                throw corruption("log \(name) holds no complete header (\(size) bytes), but the manifest recorded it opened "
                                 + "(its header was synced before any record): the file was truncated or replaced", path, 0)
            }
            out.tornTail = size > 0
            return out
        }
        let m = loadFixed64(p, 0)
        if m != magic {
            // Another engine's file, or garbage: never an empty log. Only a header that was never
            // synced (a log the manifest does not know) may be torn: each byte either right or 0.
            var torn = !knownLog && magic == LogFormat.walMagic && lastLog
            withUnsafeBytes(of: magic.littleEndian) { want in
                for i in 0..<8 where p[i] != 0 && p[i] != want[i] { torn = false }
            }
            if !(torn && !Self.hasIntactRecord(p, from: LogFormat.fileHeaderSize)) {
                throw corruption("\(name) is not an lsm \(magic == LogFormat.walMagic ? "log" : "manifest") (magic "
                                 + "0x\(String(m, radix: 16)), expected 0x\(String(magic, radix: 16))): another file was put in its place", path, 0)
            }
            out.tornTail = true
            return out
        }
        let version = loadFixed32(p, 8)
        let newest = magic == LogFormat.walMagic ? LogFormat.walVersion : LogFormat.version
        guard version <= newest else { throw corruption("log format version \(version) is newer than this build reads (\(newest))", path, 8) }
        if knownLog && version < 3 {
            throw corruption("log \(name) is format version \(version), but the manifest opened it as version 3: "
                             + "another log was put in its place", path, 8)
        }
        let crc = LogFormat.headerChecksum(UnsafeRawBufferPointer(rebasing: p[0..<12]), number: version >= 3 ? number : nil)
        guard loadFixed32(p, 12) == crc else {
            // The newest WAL's header is synced before any record is written to it: a bad header
            // with no intact record after it, in a log the manifest does not know, is a creation
            // torn by a crash (an empty log); otherwise it is damage to synced bytes, or (version 3,
            // whose checksum covers the file number) a log of another number put in its place.
            if !knownLog && magic == LogFormat.walMagic && lastLog && !Self.hasIntactRecord(p, from: LogFormat.fileHeaderSize) {
                out.tornTail = true
                return out
            }
            if version >= 3, let number {
                throw corruption("log \(name)'s header does not check out for file number \(number): it is damaged, or "
                                 + "another log's file (an earlier generation, another number) was put in its place", path, 0)
            }
            throw corruption("log file header checksum mismatch", path, 0)
        }
        out.version = version
        func restIsZero(_ from: Int) -> Bool {
            var i = from
            while i < size { if p[i] != 0 { return false }; i += 1 }
            return true
        }
        // Version-2 WAL: the furthest offset a readable record says was synced.
        let claims = magic == LogFormat.walMagic && version >= 2
        var syncedBound = Int64(LogFormat.fileHeaderSize)
        if claims && !lastLog { syncedBound = Int64(size) }
        func claim(_ typeByte: UInt8, _ pos: Int, _ length: Int) -> Int64 {
            guard typeByte == LogFormat.RecordType.full.rawValue || typeByte == LogFormat.RecordType.first.rawValue,
                  length >= LogFormat.walPayloadHeader(version: version) else { return 0 }
            // A record cannot have been synced before it was written: cap the claim at its start.
            return min(Int64(bitPattern: loadFixed64(p, pos + LogFormat.headerSize + 12)), Int64(pos))
        }
        /// The largest claim of any intact record from `from` on: the rest of that block if a record
        /// starts there, then every later block from its start.
        func claimsAfter(_ from: Int) -> Int64 {
            var best: Int64 = 0
            func scanBlock(_ start: Int) {
                var q = start
                let blockEnd = min(size, (start / LogFormat.blockSize + 1) * LogFormat.blockSize)
                while q + LogFormat.headerSize <= blockEnd {
                    let length = Int(p[q + 4]) | Int(p[q + 5]) << 8
                    let end = q + LogFormat.headerSize + length
                    guard end <= blockEnd, p[q + 6] >= 1, p[q + 6] <= 4,
                          loadFixed32(p, q) == recordChecksum(length, p[q + 6], UnsafeRawBufferPointer(rebasing: p[(q + LogFormat.headerSize)..<end]))
                    else { return }
                    best = max(best, claim(p[q + 6], q, length))
                    q = end
                }
            }
            // In the damaged block, the damage may have hit a record's length: the records after it
            // start at offsets no header chain leads to. Try every offset (only damage pays this).
            if from < size {
                let blockEnd = min(size, (from / LogFormat.blockSize + 1) * LogFormat.blockSize)
                var q = from
                while q + LogFormat.headerSize <= blockEnd {
                    let length = Int(p[q + 4]) | Int(p[q + 5]) << 8
                    let end = q + LogFormat.headerSize + length
                    if end <= blockEnd, p[q + 6] >= 1, p[q + 6] <= 4,
                       loadFixed32(p, q) == recordChecksum(length, p[q + 6], UnsafeRawBufferPointer(rebasing: p[(q + LogFormat.headerSize)..<end])) {
                        best = max(best, claim(p[q + 6], q, length))
                    }
                    q += 1
                }
            }
            var b = (from / LogFormat.blockSize + 1) * LogFormat.blockSize
            while b < size { scanBlock(b); b += LogFormat.blockSize }
            return best
        }
        /// Damage at `pos` (the next record could not be read): true when it is the unsynced tail.
        /// `next` is where to look for later records (`pos + 1`: the damage may be in a length).
        func unsyncedTail(_ pos: Int, next: Int, end: Int) -> Bool {
            if !claims { return end >= size || restIsZero(pos) }
            return Int64(pos) >= max(syncedBound, claimsAfter(next))
        }

        var pos = LogFormat.fileHeaderSize
        out.validEnd = Int64(pos)
        var assembling: [UInt8] = []
        var inRecord = false
        var recordStart = 0


        while pos < size {
            let room = LogFormat.blockSize - pos % LogFormat.blockSize
            if room < LogFormat.headerSize { pos += room; continue }
            if size - pos < LogFormat.headerSize {
                if claims && !unsyncedTail(pos, next: pos + 1, end: size) {
                    throw corruption("log ends inside a record header that had been synced", path, Int64(pos))
                }
                out.tornTail = true; break
            }
            let stored = loadFixed32(p, pos)
            let length = Int(p[pos + 4]) | Int(p[pos + 5]) << 8
            let typeByte = p[pos + 6]
            let end = pos + LogFormat.headerSize + length
            var bad: String? = nil
            if end > size {
                if claims && !unsyncedTail(pos, next: pos + 1, end: size) {
                    throw corruption("log ends inside a record that had been synced", path, Int64(pos))
                }
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
                if unsyncedTail(pos, next: pos + 1, end: end) { out.tornTail = true; break }
                if paranoid { throw corruption("\(bad) in log", path, Int64(pos)) }
                // Skip the rest of this block and any partly assembled record.
                out.skippedRegions += 1
                inRecord = false
                assembling.removeAll(keepingCapacity: true)
                pos += room
                continue
            }
            let fragment = UnsafeRawBufferPointer(rebasing: p[(pos + LogFormat.headerSize)..<end])
            if claims { syncedBound = max(syncedBound, claim(typeByte, pos, length)) }
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

import OrbitCore

/// Reads the logical records of a log file (docs/formats/lsm-log.md) in order.
///
/// Three parts, each written once: the file-header check (`checkFileHeader`), the framing
/// (`LogFraming`: blocks, physical records, first/middle/last/full assembly, where the records
/// end), and the judgement of damage (`TailRule`): a torn tail to stop before, or corruption.
///
/// Recovery rule for the manifest: a bad or incomplete record that reaches the end of the file (or
/// is followed only by zeros) is a torn tail — the write that was in flight at a crash — and
/// reading stops before it, at `validEnd`. A bad record with intact data after it is corruption:
/// an error naming the file and the record's offset, unless `paranoid` is false, when the damaged
/// block is skipped and counted.
///
/// A WAL says in every record how far the log was synced when it was written. Damage at or past
/// the furthest synced offset any readable record claims (before or after the damage) is the
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
        /// The file's format version.
        var version: UInt32 = LogFormat.version
    }

    let file: File
    let magic: UInt64
    let paranoid: Bool
    /// Whether this is the newest WAL (the only one whose tail may be unsynced).
    var lastLog = true
    /// The WAL's file number (from its name): the header's checksum covers it. Nil for a manifest.
    var number: UInt64?
    /// The manifest recorded this log opened, which happens only after its header was synced: any
    /// header damage — short, wrong magic, bad checksum, an older version — is corruption, never
    /// the torn creation of an empty log.
    var knownLog = false

    init(file: File, magic: UInt64, paranoid: Bool, lastLog: Bool = true, number: UInt64? = nil, knownLog: Bool = false) {
        self.file = file; self.magic = magic; self.paranoid = paranoid; self.lastLog = lastLog
        self.number = number; self.knownLog = knownLog
    }

    private var isWAL: Bool { magic == LogFormat.walMagic }

    /// Whether the first physical record from `from` on in any block (from `from` in its own
    /// block, from the start in each later one) passes the record check.
    static func hasIntactRecord(_ p: UnsafeRawBufferPointer, from: Int) -> Bool {
        var block = from / LogFormat.blockSize * LogFormat.blockSize
        while block < p.count {
            if LogFormat.intactRecord(p, at: max(block, from)) != nil { return true }
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
        var out = Outcome(validEnd: 0, tornTail: false, skippedRegions: 0, records: 0)
        guard let version = try checkFileHeader(p) else {
            out.tornTail = p.count > 0
            return out
        }
        out.version = version
        let path = file.path
        var rule = TailRule(p, claims: isWAL, lastLog: lastLog)
        let framed = try LogFraming.read(p, paranoid: paranoid, path: path, intact: { type, pos, fragment in
            rule.note(type, at: pos, fragment)
        }, damage: { damage, pos in
            switch damage {
            case .truncated(let inHeader):
                if !rule.isUnsyncedTail(at: pos, endOfDamage: p.count) {
                    throw corruption("log ends inside a record \(inHeader ? "header " : "")that had been synced", path, Int64(pos))
                }
                return .stop
            case .damaged(let what, let end):
                if rule.isUnsyncedTail(at: pos, endOfDamage: end) { return .stop }
                if paranoid { throw corruption("\(what) in log", path, Int64(pos)) }
                return .skipBlock
            }
        }, record: body)
        out.validEnd = framed.validEnd
        out.records = framed.records
        out.skippedRegions = framed.skippedRegions
        // Anything after the last good record (a partial record, its padding, zeros) is the tail
        // of a write that was in flight: the caller cuts it off.
        out.tornTail = out.validEnd < Int64(p.count)
        return out
    }

    /// The file header (magic, version, checksum): the version when it is sound; nil for a log
    /// whose header was torn by a crash while it was being created (an empty log); otherwise an
    /// error naming the file.
    private func checkFileHeader(_ p: UnsafeRawBufferPointer) throws -> UInt32? {
        let path = file.path
        let size = p.count
        let name = path.split(separator: "/").last.map(String.init) ?? path
        // Only the newest WAL, one the manifest does not know, may have a torn header (it is
        // synced before any record is written, and before the manifest records the log opened).
        let mayBeTorn = !knownLog && isWAL && lastLog
        if size < LogFormat.fileHeaderSize {
            // A log the manifest recorded as opened had its header synced first: a crash cannot
            // take it away. Otherwise it is a crash while the header was being written: empty.
            if knownLog {
                throw corruption("log \(name) holds no complete header (\(size) bytes), but the manifest recorded it opened "
                                 + "(its header was synced before any record): the file was truncated or replaced", path, 0)
            }
            return nil
        }
        let m = loadFixed64(p, 0)
        if m != magic {
            // Another engine's file, or garbage: never an empty log. Only a header that was never
            // synced may be torn: each byte either right or 0.
            var torn = mayBeTorn
            withUnsafeBytes(of: magic.littleEndian) { want in
                for i in 0..<8 where p[i] != 0 && p[i] != want[i] { torn = false }
            }
            if !(torn && !Self.hasIntactRecord(p, from: LogFormat.fileHeaderSize)) {
                throw corruption("\(name) is not an lsm \(isWAL ? "log" : "manifest") (magic "
                                 + "0x\(String(m, radix: 16)), expected 0x\(String(magic, radix: 16))): another file was put in its place", path, 0)
            }
            return nil
        }
        let version = loadFixed32(p, 8)
        let newest = isWAL ? LogFormat.walVersion : LogFormat.version
        guard version <= newest else { throw corruption("log format version \(version) is newer than this build reads (\(newest))", path, 8) }
        if knownLog && version < newest {
            throw corruption("log \(name) is format version \(version), but the manifest opened it as version \(newest): "
                             + "another log was put in its place", path, 8)
        }
        // A WAL's checksum covers its file number; that of an earlier format (below) did not.
        let crc = LogFormat.headerChecksum(UnsafeRawBufferPointer(rebasing: p[0..<12]), number: isWAL && version == newest ? number : nil)
        guard loadFixed32(p, 12) == crc else {
            // A bad header with no intact record after it, in a log that may be torn, is a
            // creation torn by a crash (an empty log); otherwise it is damage to synced bytes, or
            // a log of another number put in its place.
            if mayBeTorn && !Self.hasIntactRecord(p, from: LogFormat.fileHeaderSize) { return nil }
            if isWAL, let number {
                throw corruption("log \(name)'s header does not check out for file number \(number): it is damaged, or "
                                 + "another log's file (an earlier generation, another number) was put in its place", path, 0)
            }
            throw corruption("log file header checksum mismatch", path, 0)
        }
        if version < newest {
            // WAL versions 1 and 2 were written only by development builds before the first
            // release form of the store; their readers were removed (docs/formats/lsm-log.md).
            throw OrbitError(.unsupported, "log \(name) is WAL format version \(version), which only development builds of "
                             + "orbit-bench wrote (this build reads version \(newest))", at: path,
                             hint: "the store was written by an unreleased build: open it with that build, or use a new data directory")
        }
        return version
    }
}

extension LogFormat {
    /// One physical record at an offset, as the record check finds it.
    enum PhysicalRecord {
        /// Checksum, length and type hold; the fragment is `payload`.
        case intact(RecordType, payload: Range<Int>)
        /// The file ends inside the record's header or its payload.
        case truncated(inHeader: Bool)
        /// The record is there but fails the check (`what`); it ends at `end` by its own length.
        case damaged(what: String, end: Int)
    }

    /// The record check, written once: the physical record at `pos` (where a block has at least a
    /// header's room left) in the log bytes `p`.
    static func physicalRecord(_ p: UnsafeRawBufferPointer, at pos: Int) -> PhysicalRecord {
        if p.count - pos < headerSize { return .truncated(inHeader: true) }
        let length = Int(p[pos + 4]) | Int(p[pos + 5]) << 8
        let typeByte = p[pos + 6]
        let end = pos + headerSize + length
        if end > p.count { return .truncated(inHeader: false) }
        if headerSize + length > blockSize - pos % blockSize { return .damaged(what: "record length \(length) crosses its block", end: end) }
        if loadFixed32(p, pos) != recordChecksum(length, typeByte, UnsafeRawBufferPointer(rebasing: p[(pos + headerSize)..<end])) {
            return .damaged(what: "record checksum mismatch", end: end)
        }
        guard let type = RecordType(rawValue: typeByte) else { return .damaged(what: "unknown record type \(typeByte)", end: end) }
        return .intact(type, payload: (pos + headerSize)..<end)
    }

    /// The physical record at `pos` if it passes the check (nil also when its block has no room
    /// for a header at `pos`).
    @inline(__always)
    static func intactRecord(_ p: UnsafeRawBufferPointer, at pos: Int) -> (type: RecordType, payload: Range<Int>)? {
        guard pos < p.count, blockSize - pos % blockSize >= headerSize,
              case .intact(let type, let payload) = physicalRecord(p, at: pos) else { return nil }
        return (type, payload)
    }
}

/// The framing of a log past its file header: 32 KiB blocks of physical records (a block's last
/// bytes too few for a header are padding), each logical record one full fragment or a first,
/// middles and a last. It knows nothing of what damage means: at a record that fails the check it
/// asks `damage` whether to stop there (a torn tail) or skip the rest of the block; an error
/// thrown there ends the read.
enum LogFraming {
    enum Damage {
        case truncated(inHeader: Bool)
        case damaged(what: String, end: Int)
    }

    enum Verdict { case stop, skipBlock }

    struct Result {
        /// Offset just past the last complete logical record.
        var validEnd: Int64
        var records = 0
        var skippedRegions = 0
    }

    /// Reads `p` from the end of the file header; calls `intact` for every physical record that
    /// passes the check (type, offset, fragment), `record(record, offset)` for each logical record.
    /// With `paranoid`, a fragment out of sequence is corruption; without, it is skipped (a first
    /// or full fragment inside a record drops the partial record, as the writer never does that).
    static func read(_ p: UnsafeRawBufferPointer, paranoid: Bool, path: String,
                     intact: (LogFormat.RecordType, Int, UnsafeRawBufferPointer) -> Void,
                     damage: (Damage, Int) throws -> Verdict,
                     record: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Result {
        var out = Result(validEnd: Int64(LogFormat.fileHeaderSize))
        var pos = LogFormat.fileHeaderSize
        var assembling: [UInt8] = []
        var inRecord = false
        var recordStart = 0
        while pos < p.count {
            let room = LogFormat.blockSize - pos % LogFormat.blockSize
            if room < LogFormat.headerSize { pos += room; continue }
            let type: LogFormat.RecordType, payload: Range<Int>
            switch LogFormat.physicalRecord(p, at: pos) {
            case .intact(let t, let r):
                type = t; payload = r
            case .truncated(let inHeader):
                _ = try damage(.truncated(inHeader: inHeader), pos)
                return out
            case .damaged(let what, let end):
                if try damage(.damaged(what: what, end: end), pos) == .stop { return out }
                // Skip the rest of this block and any partly assembled record.
                out.skippedRegions += 1
                inRecord = false
                assembling.removeAll(keepingCapacity: true)
                pos += room
                continue
            }
            let fragment = UnsafeRawBufferPointer(rebasing: p[payload])
            intact(type, pos, fragment)
            switch type {
            case .full:
                if inRecord && paranoid { throw corruption("full record inside a fragmented record", path, Int64(pos)) }
                inRecord = false
                try record(fragment, Int64(pos))
                out.records += 1
                out.validEnd = Int64(payload.upperBound)
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
                if type == .last {
                    inRecord = false
                    try assembling.withUnsafeBytes { try record($0, Int64(recordStart)) }
                    out.records += 1
                    out.validEnd = Int64(payload.upperBound)
                }
            }
            pos = payload.upperBound
        }
        return out
    }
}

/// Whether damage at an offset is a torn tail (stop before it) or hit data that had been synced
/// (docs/formats/lsm-log.md, "Recovery"). A manifest (`claims` false): damage that reaches the end
/// of the file, or after which only zeros follow. A WAL: damage at or past the furthest offset
/// any readable record claims synced, before or after the damage; the whole file, for a log that
/// is not the newest (synced whole before the next was created).
struct TailRule {
    let p: UnsafeRawBufferPointer
    let claims: Bool
    /// The furthest synced offset the records read so far claim.
    private var syncedBound: Int64

    init(_ p: UnsafeRawBufferPointer, claims: Bool, lastLog: Bool) {
        self.p = p
        self.claims = claims
        syncedBound = claims && !lastLog ? Int64(p.count) : Int64(LogFormat.fileHeaderSize)
    }

    /// Notes an intact physical record read in order.
    mutating func note(_ type: LogFormat.RecordType, at pos: Int, _ fragment: UnsafeRawBufferPointer) {
        if claims { syncedBound = max(syncedBound, Self.claim(type, at: pos, fragment)) }
    }

    /// Whether damage at `pos` (its record ending at `endOfDamage`) is the unsynced tail. Later
    /// records are looked for from `pos + 1`: the damage may have hit a length.
    func isUnsyncedTail(at pos: Int, endOfDamage: Int) -> Bool {
        if !claims { return endOfDamage >= p.count || restIsZero(pos) }
        return Int64(pos) >= max(syncedBound, claimsAfter(pos + 1))
    }

    private func restIsZero(_ from: Int) -> Bool {
        var i = from
        while i < p.count { if p[i] != 0 { return false }; i += 1 }
        return true
    }

    /// What a full or first fragment at `pos` claims synced: its synced-through, capped at its
    /// own start (a record cannot have been synced before it was written); 0 for other fragments.
    private static func claim(_ type: LogFormat.RecordType, at pos: Int, _ fragment: UnsafeRawBufferPointer) -> Int64 {
        guard type == .full || type == .first, let synced = WALPayload.syncedThrough(fragment) else { return 0 }
        return min(synced, Int64(pos))
    }

    /// The largest claim of any intact record from `from` on: in the damaged block every offset is
    /// tried (the damage may have hit a record's length, so the records after it start where no
    /// header chain leads; only damage pays this), then each later block's chain from its start.
    private func claimsAfter(_ from: Int) -> Int64 {
        var best: Int64 = 0
        let bs = LogFormat.blockSize
        if from < p.count {
            let blockEnd = min(p.count, (from / bs + 1) * bs)
            var q = from
            while q + LogFormat.headerSize <= blockEnd {
                if let r = LogFormat.intactRecord(p, at: q) {
                    best = max(best, Self.claim(r.type, at: q, UnsafeRawBufferPointer(rebasing: p[r.payload])))
                }
                q += 1
            }
        }
        var block = (from / bs + 1) * bs
        while block < p.count {
            var q = block
            while q / bs == block / bs, let r = LogFormat.intactRecord(p, at: q) {
                best = max(best, Self.claim(r.type, at: q, UnsafeRawBufferPointer(rebasing: p[r.payload])))
                q = r.payload.upperBound
            }
            block += bs
        }
        return best
    }
}

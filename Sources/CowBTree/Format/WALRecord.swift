import OrbitCore

/// The write-ahead log (docs/formats/cow-wal.md): recycled, pre-allocated segment files
/// `cow.wal.<n>`, each a 32-byte header then records, overwritten in place.
///
/// Segment header: magic `ORBCOWAL` (8) · version u16 (4) · writer's durability mode u8 · size
/// class u8 · masked CRC-32C u32 of bytes 0..<12 and 16..<32 · segment sequence number u64 (>= 1; 0 =
/// a spare that was never used) · previous txid u64 (the txid of the last record logged before this
/// segment; replay checks it to find lost tails). Size class n > 0: the file was at least 2^n bytes
/// long, durably, before the header was written (the syncing modes pre-size segments), so a shorter
/// file is damage. Versions 2 (bytes 8..<12 a u32 2, no mode) and 3 (byte 11 zero, no size class,
/// no switch records) are read.
///
/// Version 4 also makes a segment switch durable: the new segment's header is synced (syncing modes)
/// before a **switch record** — a record of txid 0 whose 16-byte payload is the next segment's
/// sequence number and file slot — is written after the old segment's last record (and synced with
/// it). A meta page names the file of the segment replay starts at (cow-meta-page.md, offset 120).
/// Together they let replay tell a missing, torn or older segment that the store's durable state
/// says must exist from one a crash never got to write.
///
/// Record: masked CRC-32C u32 of bytes 4..<(24 + length) · payload length u32 · segment sequence
/// number u64 · txid u64 · payload. The sequence number, covered by the checksum, is what lets replay
/// find the end of the log in a recycled file: the stale records of an older generation carry
/// another sequence number and end the segment like a torn record would.
///
/// Payload: operations in order, each tag u8 (1 put, 0 delete) · key length u32 · value length u32
/// (0 for delete) · key · value.
///
/// Version 1 (a single `cow.wal`, written only by development builds) is no longer read: open
/// refuses a store holding one (`openWAL`).
enum WALFormat {
    static let magic: [UInt8] = Array("ORBCOWAL".utf8)
    /// 4: size class (byte 11), synced switches, switch records, meta pages naming the first
    /// segment's file. 3 records the writer's durability mode in the header (byte 10). 2 and 3 are read.
    static let version: UInt32 = 4
    static let version3: UInt32 = 3
    static let previousVersion: UInt32 = 2
    static let segmentHeaderSize = 32
    static let recordHeaderSize = 24
    /// Segment header fields: magic, version (and mode, size class), checksum, sequence number, previous txid.
    static let segmentHeaderFieldOffsets = [0, 8, 12, 16, 24]
    /// Record header fields: checksum, payload length, segment sequence number, txid.
    static let recordHeaderFieldOffsets = [0, 4, 8, 16]

    // MARK: Segment header

    /// The durability mode a segment's records were written under (header byte 10): it decides what
    /// replay may read as a legitimately lost tail (a `none` writer's) and what as corruption (a
    /// syncing writer's records after a damaged one). `unknown`: a version-2 segment.
    enum WriterMode: UInt8, Hashable {
        case unknown = 0, none = 1, everyWrite = 2, group = 3, periodic = 4

        init(_ mode: DurabilityMode) {
            switch mode {
            case .none: self = .none
            case .everyWrite: self = .everyWrite
            case .group: self = .group
            case .periodic: self = .periodic
            }
        }
    }

    struct SegmentHeader: Equatable {
        var seq: UInt64
        var prevTxid: UInt64
        var mode: WriterMode = .unknown
        /// 0: no size promise (`none` mode, versions 2 and 3); n: the file is at least 2^n bytes.
        var sizeClass: UInt8 = 0
        /// 2, 3 or 4: what the decoded header was, what `segmentHeader` writes (default: 2 for mode
        /// `.unknown`, else 4).
        var version: UInt32

        init(seq: UInt64, prevTxid: UInt64, mode: WriterMode = .unknown, sizeClass: UInt8 = 0, version: UInt32? = nil) {
            self.seq = seq; self.prevTxid = prevTxid; self.mode = mode; self.sizeClass = sizeClass
            self.version = version ?? (mode == .unknown ? WALFormat.previousVersion : WALFormat.version)
        }

        /// Version 4: switches are synced and end with a switch record, the size class holds.
        var isV4: Bool { version >= 4 }
        /// The smallest size the file may have (0: no promise).
        var minimumFileSize: Int64 { sizeClass == 0 ? 0 : Int64(1) << Int64(sizeClass) }
    }

    /// The size class of a segment pre-sized (durably) to `preparedSize` bytes: floor(log2), so
    /// `2^class <= preparedSize` (a lower bound, one byte; any cut to half the size or less is below it).
    static func sizeClass(preparedSize: Int64) -> UInt8 {
        guard preparedSize >= Int64(segmentHeaderSize) else { return 0 }
        return UInt8(63 - preparedSize.leadingZeroBitCount)
    }

    /// A segment header; a mode of `.unknown` writes the version-2 layout, `version` 3 the version-3
    /// one (for tests of old stores).
    static func segmentHeader(_ h: SegmentHeader) -> [UInt8] {
        var b = magic
        if h.mode == .unknown {
            b.appendU32(previousVersion)
        } else {
            b.appendU16(Int(h.version == version3 ? version3 : version))
            b.append(h.mode.rawValue)
            b.append(h.version == version3 ? 0 : h.sizeClass)
        }
        b.appendU32(0)
        b.appendU64(h.seq)
        b.appendU64(h.prevTxid)
        let crc = CRC32C.mask(headerChecksum(b))
        b.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self) }
        return b
    }

    private static func headerChecksum(_ b: [UInt8]) -> UInt32 {
        b.withUnsafeBytes { raw in
            CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<12])),
                          UnsafeRawBufferPointer(rebasing: raw[16..<segmentHeaderSize]))
        }
    }

    enum HeaderState: Equatable {
        /// A valid header of a used segment.
        case segment(SegmentHeader)
        /// Zeros, short, torn or never used: the file holds no records to replay (a spare).
        case spare
    }

    /// Decodes a segment header. A foreign magic or an unknown version is refused as corruption
    /// (the file is not ours, or was written by a newer build); anything torn is a spare.
    static func decodeHeader(_ b: [UInt8], path: String) throws -> HeaderState {
        guard b.count >= segmentHeaderSize else { return .spare }
        if b[0..<8].allSatisfy({ $0 == 0 }) { return .spare }
        // A header write that failed part way (EIO, ENOSPC) leaves a prefix of the magic over the
        // zeros the segment was prepared with: a segment never started, so a spare.
        let written = zip(b[0..<8], magic).prefix { $0 == $1 }.count
        if written < 8 && b[written..<segmentHeaderSize].allSatisfy({ $0 == 0 }) { return .spare }
        guard Array(b[0..<8]) == magic else {
            throw OrbitError(.corruption, "not a cow WAL segment: bad magic", at: "\(path) @ offset 0",
                             hint: "the file was not written by the cow engine; move it out of the store directory")
        }
        let stored = b.withUnsafeBytes { $0.u32(12) }
        guard stored == CRC32C.mask(headerChecksum(Array(b[0..<segmentHeaderSize]))) else { return .spare }
        let v32 = b.withUnsafeBytes { $0.u32(8) }
        let mode: WriterMode
        var sizeClass: UInt8 = 0
        let decodedVersion: UInt32
        if v32 == previousVersion {
            mode = .unknown
            decodedVersion = previousVersion
        } else if b[8] == UInt8(version3) && b[9] == 0 && b[11] == 0, let m = WriterMode(rawValue: b[10]), m != .unknown {
            mode = m
            decodedVersion = version3
        } else if b[8] == UInt8(version) && b[9] == 0 && b[11] <= 62, let m = WriterMode(rawValue: b[10]), m != .unknown {
            mode = m
            sizeClass = b[11]
            decodedVersion = version
        } else {
            let known = (b[8] == UInt8(version3) || b[8] == UInt8(version)) && b[9] == 0
            throw OrbitError(.corruption, "cow WAL segment format version \(known ? "\(b[8]) with bad mode or size bytes" : "\(v32)") "
                             + "is not supported (this build reads versions \(previousVersion) to \(version))",
                             at: "\(path) @ offset 8")
        }
        let h = b.withUnsafeBytes {
            SegmentHeader(seq: $0.u64(16), prevTxid: $0.u64(24), mode: mode, sizeClass: sizeClass, version: decodedVersion)
        }
        return h.seq == 0 ? .spare : .segment(h)
    }

    // MARK: Records

    /// Starts a record in `buffer` (cleared); append operations, then `finish`.
    /// (One append per header: each `append` costs a uniqueness and capacity check.)
    static func begin(_ buffer: inout [UInt8], txid: UInt64) {
        buffer.removeAll(keepingCapacity: true)
        var h: (UInt64, UInt64, UInt64) = (0, 0, txid.littleEndian)
        withUnsafeBytes(of: &h) { buffer.append(contentsOf: $0) }
    }

    static func appendPut(_ buffer: inout [UInt8], _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        appendOperationHeader(&buffer, tag: 1, keyLength: key.count, valueLength: value.count)
        buffer.append(contentsOf: key)
        buffer.append(contentsOf: value)
    }

    static func appendDelete(_ buffer: inout [UInt8], _ key: UnsafeRawBufferPointer) {
        appendOperationHeader(&buffer, tag: 0, keyLength: key.count, valueLength: 0)
        buffer.append(contentsOf: key)
    }

    /// tag u8 · key length u32 · value length u32, in one append.
    @inline(__always)
    private static func appendOperationHeader(_ buffer: inout [UInt8], tag: UInt8, keyLength: Int, valueLength: Int) {
        var h: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &h) { raw in
            raw.storeBytes(of: tag, toByteOffset: 0, as: UInt8.self)
            raw.storeBytes(of: UInt32(keyLength).littleEndian, toByteOffset: 1, as: UInt32.self)
            raw.storeBytes(of: UInt32(valueLength).littleEndian, toByteOffset: 5, as: UInt32.self)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0..<9]))
        }
    }

    /// Seals the record for segment `seq`: length, sequence number, checksum.
    static func finish(_ buffer: inout [UInt8], seq: UInt64) {
        let length = buffer.count - recordHeaderSize
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: seq.littleEndian, toByteOffset: 8, as: UInt64.self)
            let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4...])))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
        }
    }

    struct Record { var txid: UInt64; var payload: Range<Int>; var end: Int }

    // MARK: Switch records (version 4)

    /// Bytes of a switch record: a record header (txid 0) and next sequence number u64 · next slot u64.
    static let switchRecordSize = recordHeaderSize + 16

    /// Where a segment switch left segment `seq`: the next segment's sequence number and file slot.
    struct Switch: Equatable { var nextSeq: UInt64; var nextSlot: Int }

    /// The switch record ending segment `seq`: it continues in segment `next`, file `cow.wal.<slot>`.
    /// Its txid is 0, so readers that do not know it (and the record reader) stop the log there.
    static func switchRecord(seq: UInt64, next: UInt64, nextSlot: Int) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(switchRecordSize)
        b.appendU32(0)
        b.appendU32(16)
        b.appendU64(seq)
        b.appendU64(0)
        b.appendU64(next)
        b.appendU64(UInt64(nextSlot))
        b.withUnsafeMutableBytes { raw in
            let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4...])))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
        }
        return b
    }

    /// The switch record of segment `seq` at offset `o`, if a complete, checksum-valid one is there.
    static func switchRecord(_ bytes: [UInt8], at o: Int, seq: UInt64) -> Switch? {
        bytes.withUnsafeBytes { raw in
            guard o >= 0, o + switchRecordSize <= raw.count, raw.u32(o + 4) == 16, raw.u64(o + 8) == seq, raw.u64(o + 16) == 0 else {
                return nil
            }
            let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<(o + switchRecordSize)])))
            let slot = raw.u64(o + 32)
            guard crc == raw.u32(o), slot <= UInt64(Int32.max) else { return nil }
            return Switch(nextSeq: raw.u64(o + 24), nextSlot: Int(slot))
        }
    }

    /// The offset of a switch record of segment `seq` somewhere after `end` (the log stopped before it).
    static func switchRecordAfter(_ bytes: [UInt8], end: Int, seq: UInt64) -> Int? {
        var q = end + 1
        while q + switchRecordSize <= bytes.count {
            if bytes.withUnsafeBytes({ $0.u64(q + 8) == seq && $0.u64(q + 16) == 0 }), switchRecord(bytes, at: q, seq: seq) != nil { return q }
            q += 1
        }
        return nil
    }

    /// Whether a complete record of segment `seq` with a good checksum and a txid above `minTxid`
    /// starts at `o`; its end when it does.
    static func validRecord(_ raw: UnsafeRawBufferPointer, at o: Int, seq: UInt64?, above minTxid: UInt64) -> Int? {
        guard o >= 0, o + recordHeaderSize <= raw.count else { return nil }
        let end = o + recordHeaderSize + Int(raw.u32(o + 4))
        guard end <= raw.count, seq.map({ raw.u64(o + 8) == $0 }) ?? true, raw.u64(o + 16) > minTxid else { return nil }
        let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<end])))
        return crc == raw.u32(o) ? end : nil
    }

    /// The offset of a good record of segment `seq` (txid above `lastTxid`) somewhere after `end`,
    /// where the segment's log stopped: the log did not end there, a record in the middle is damaged.
    static func recordAfter(_ bytes: [UInt8], end: Int, seq: UInt64, lastTxid: UInt64) -> Int? {
        bytes.withUnsafeBytes { raw in
            var q = end + 1
            while q + recordHeaderSize <= raw.count {
                if raw.u64(q + 8) == seq, validRecord(raw, at: q, seq: seq, above: lastTxid) != nil { return q }
                q += 1
            }
            return nil
        }
    }

    /// The records of segment `seq` in a segment file's bytes, in order: each complete, its checksum
    /// good, its sequence number `seq` and its txid above the one before. The first record that is
    /// not ends the segment's log (a torn tail, zeros, or the stale records of an older generation).
    static func records(segment bytes: [UInt8], seq: UInt64) -> [Record] {
        var out: [Record] = []
        var o = segmentHeaderSize
        var lastTxid: UInt64 = 0
        bytes.withUnsafeBytes { raw in
            while o + recordHeaderSize <= raw.count {
                let length = Int(raw.u32(o + 4))
                let end = o + recordHeaderSize + length
                guard end <= raw.count, raw.u64(o + 8) == seq else { break }
                let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<end])))
                let txid = raw.u64(o + 16)
                guard crc == raw.u32(o), txid > lastTxid else { break }
                out.append(Record(txid: txid, payload: (o + recordHeaderSize)..<end, end: end))
                lastTxid = txid
                o = end
            }
        }
        return out
    }

    /// Calls `body` for each operation of a payload; a truncated payload or an unknown tag is
    /// corruption at `location` (the record).
    static func forEachOperation(_ raw: UnsafeRawBufferPointer, at location: String? = nil,
                                 _ body: (Bool, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        var i = 0
        func bad(_ what: String) -> OrbitError {
            OrbitError(.corruption, "cow WAL record payload: \(what) at payload byte \(i)", at: location,
                       hint: "the store is damaged; restore it from a copy")
        }
        while i < raw.count {
            guard i + 9 <= raw.count else { throw bad("truncated operation header") }
            guard raw[i] <= 1 else { throw bad("unknown operation tag \(raw[i])") }
            let put = raw[i] == 1
            let kl = Int(raw.u32(i + 1)), vl = Int(raw.u32(i + 5))
            guard put || vl == 0 else { throw bad("a delete with a value length of \(vl)") }
            guard i + 9 + kl + vl <= raw.count else { throw bad("truncated operation") }
            try body(put, UnsafeRawBufferPointer(rebasing: raw[(i + 9)..<(i + 9 + kl)]),
                 UnsafeRawBufferPointer(rebasing: raw[(i + 9 + kl)..<(i + 9 + kl + vl)]))
            i += 9 + kl + vl
        }
    }
}

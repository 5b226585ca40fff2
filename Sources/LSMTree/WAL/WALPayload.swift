import OrbitCore

/// The payload of one WAL record (docs/formats/lsm-log.md, "WAL payload"): one write or batch.
///
/// | offset | size | field |
/// | 0 | 8 | sequence of the first entry, UInt64 LE |
/// | 8 | 4 | entry count, UInt32 LE (0: a sync marker, written at close) |
/// | 12 | 8 | synced-through: the log offset a completed fdatasync covered when the record was written |
/// | 20 | … | entries: type (1 byte: 0 delete, 1 put), varint key length, key, and for a put varint value length, value |
///
/// Encoder and decoder live side by side so that the two cannot drift apart. The encoder appends
/// into the engine's reusable buffer (no allocation per write once it has grown); the decoder
/// checks every field, so a record whose checksum holds but whose content does not (a bug, or
/// bytes crafted to pass) is a corruption error naming the log and offset, never a trap.
enum WALPayload {
    /// Bytes before the first entry.
    static let headerSize = 20
    /// Offset of the synced-through field (the log reader reads it to tell an unsynced tail).
    static let syncedThroughOffset = 12

    // MARK: Encode

    /// Starts a record in `out` (cleared first): its header, entries to follow (`appendPut`,
    /// `appendDelete`). A record with `count` 0 is a sync marker.
    @inline(__always)
    static func begin(_ out: inout [UInt8], sequence: UInt64, count: Int, syncedThrough: Int64) {
        out.removeAll(keepingCapacity: true)
        putFixed64(&out, sequence)
        putFixed32(&out, UInt32(count))
        putFixed64(&out, UInt64(syncedThrough))
    }

    @inline(__always)
    static func appendPut(_ out: inout [UInt8], _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        out.append(ValueType.put.rawValue)
        putVarint(&out, UInt64(key.count)); out.append(contentsOf: key)
        putVarint(&out, UInt64(value.count)); out.append(contentsOf: value)
    }

    @inline(__always)
    static func appendDelete(_ out: inout [UInt8], _ key: UnsafeRawBufferPointer) {
        out.append(ValueType.delete.rawValue)
        putVarint(&out, UInt64(key.count)); out.append(contentsOf: key)
    }

    // MARK: Decode

    /// The entry count of a record, nil when it is too short to hold one (recovery: a clean
    /// close's log must end with a sync marker, count 0).
    static func entryCount(_ p: UnsafeRawBufferPointer) -> Int? {
        p.count >= 12 ? Int(loadFixed32(p, 8)) : nil
    }

    /// The synced-through offset a record (or the first fragment of one: the field lies within
    /// the first 20 bytes) claims, nil when it is too short to hold the header.
    @inline(__always)
    static func syncedThrough(_ p: UnsafeRawBufferPointer) -> Int64? {
        p.count >= headerSize ? Int64(bitPattern: loadFixed64(p, syncedThroughOffset)) : nil
    }

    /// Calls `entry(key, sequence, type, value)` for each entry of the record `p`, read from
    /// `path` at `offset` (for errors); returns the record's last sequence (for a sync marker, the
    /// sequence before it). Every field is checked before it is used: a record shorter than its
    /// header, a sequence or count out of range, or a malformed entry is a corruption error.
    static func decode(_ p: UnsafeRawBufferPointer, headerSize: Int = headerSize, path: String, offset: Int64,
                       _ entry: (UnsafeRawBufferPointer, UInt64, ValueType, UnsafeRawBufferPointer) -> Void) throws -> UInt64 {
        guard p.count >= headerSize else { throw corruption("WAL record of \(p.count) bytes is shorter than its header", path, offset) }
        var seq = loadFixed64(p, 0)
        let count = Int(loadFixed32(p, 8))
        // A CRC-valid record may still hold any number: checked before any arithmetic that traps.
        guard seq >= 1, seq <= maxSequence, UInt64(count) <= maxSequence - seq + 1 else {
            throw corruption("WAL record's sequence \(seq) (\(count) entries) is out of range (1...\(maxSequence))", path, offset)
        }
        var r = ByteReader(p)
        r.pos = headerSize
        for _ in 0..<count {
            guard let t = r.byte(), let type = ValueType(rawValue: t), let key = r.lengthPrefixed() else {
                throw corruption("malformed WAL batch entry", path, offset)
            }
            var value = UnsafeRawBufferPointer(start: nil, count: 0)
            if type == .put {
                guard let v = r.lengthPrefixed() else { throw corruption("malformed WAL batch entry", path, offset) }
                value = v
            }
            entry(key, seq, type, value)
            seq += 1
        }
        return seq - 1
    }
}

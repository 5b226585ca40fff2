import OrbitCore

/// The write-ahead log (docs/formats/cow-wal.md): `cow.wal`, a 16-byte header then records.
///
/// Header: magic `ORBCOWAL` (8), version u32 (1), reserved u32 (0).
/// Record: masked CRC-32C u32 of bytes 4..<(16 + length) · payload length u32 · txid u64 · payload.
/// Payload: operations in order, each tag u8 (1 put, 0 delete) · key length u32 · value length u32
/// (0 for delete) · key · value.
///
/// Recovery reads records in order and stops at the first short or bad one (a torn tail); records
/// whose txid is not above the meta page's were checkpointed already and are skipped.
enum WALFormat {
    static let magic: [UInt8] = Array("ORBCOWAL".utf8)
    static let version: UInt32 = 1
    static let headerSize = 16
    static let recordHeaderSize = 16

    static func header() -> [UInt8] {
        var b = magic
        b.appendU32(version)
        b.appendU32(0)
        return b
    }

    /// Starts a record in `buffer` (cleared); append operations, then `finish`.
    static func begin(_ buffer: inout [UInt8], txid: UInt64) {
        buffer.removeAll(keepingCapacity: true)
        buffer.appendU32(0)
        buffer.appendU32(0)
        buffer.appendU64(txid)
    }

    static func appendPut(_ buffer: inout [UInt8], _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        buffer.append(1)
        buffer.appendU32(UInt32(key.count))
        buffer.appendU32(UInt32(value.count))
        buffer.append(contentsOf: key)
        buffer.append(contentsOf: value)
    }

    static func appendDelete(_ buffer: inout [UInt8], _ key: UnsafeRawBufferPointer) {
        buffer.append(0)
        buffer.appendU32(UInt32(key.count))
        buffer.appendU32(0)
        buffer.append(contentsOf: key)
    }

    static func finish(_ buffer: inout [UInt8]) {
        let length = buffer.count - recordHeaderSize
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
            let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4...])))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
        }
    }

    struct Record { var txid: UInt64; var payload: Range<Int>; var end: Int }

    /// The valid records of a whole WAL file's bytes, and where the valid prefix ends.
    static func records(_ bytes: [UInt8], path: String) throws -> (records: [Record], validEnd: Int) {
        guard bytes.count >= headerSize else { return ([], 0) }
        guard Array(bytes[0..<8]) == magic else {
            throw OrbitError(.corruption, "not a cow WAL: bad magic", at: "\(path) @ offset 0",
                             hint: "the file was not written by the cow engine; move it away to open the store without it")
        }
        let version = bytes.withUnsafeBytes { $0.u32(8) }
        guard version == Self.version else {
            throw OrbitError(.corruption, "cow WAL format version \(version) is not supported", at: "\(path) @ offset 8")
        }
        var out: [Record] = []
        var o = headerSize
        bytes.withUnsafeBytes { raw in
            while o + recordHeaderSize <= raw.count {
                let length = Int(raw.u32(o + 4))
                let end = o + recordHeaderSize + length
                guard end <= raw.count else { break }
                let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<end])))
                guard crc == raw.u32(o) else { break }
                out.append(Record(txid: raw.u64(o + 8), payload: (o + recordHeaderSize)..<end, end: end))
                o = end
            }
        }
        return (out, out.last?.end ?? headerSize)
    }

    /// Calls `body` for each operation of a payload.
    static func forEachOperation(_ raw: UnsafeRawBufferPointer, _ body: (Bool, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        var i = 0
        while i < raw.count {
            guard i + 9 <= raw.count else { throw OrbitError(.corruption, "cow WAL record payload is truncated") }
            let put = raw[i] == 1
            let kl = Int(raw.u32(i + 1)), vl = Int(raw.u32(i + 5))
            guard i + 9 + kl + vl <= raw.count else { throw OrbitError(.corruption, "cow WAL record payload is truncated") }
            body(put, UnsafeRawBufferPointer(rebasing: raw[(i + 9)..<(i + 9 + kl)]),
                 UnsafeRawBufferPointer(rebasing: raw[(i + 9 + kl)..<(i + 9 + kl + vl)]))
            i += 9 + kl + vl
        }
    }
}

/// The log format shared by the write-ahead log and the manifest (docs/formats/lsm-log.md):
/// 32 KiB blocks of physical records, each `masked crc32c (4) | length (2) | type (1) | payload`,
/// a logical record split into first/middle/last fragments when it crosses a block boundary.
/// Block 0 starts with a 16-byte file header: magic (8), version (4), masked crc32c of both (4).
import OrbitCore

enum LogFormat {
    static let blockSize = 32 * 1024
    static let headerSize = 7
    /// Physical record header fields: checksum at 0 (4), length (2) and type (1).
    static let lengthOffset = 4
    static let typeOffset = 6
    static let fileHeaderSize = 16
    /// File header fields: magic at 0 (8), version (4), checksum (4).
    static let fileHeaderVersionOffset = 8
    static let fileHeaderChecksumOffset = 12
    /// Version 1: manifest, and the WAL of older builds. Version 2 (WAL only): every WAL payload
    /// carries the log offset known synced when it was written (`walPayloadHeader`). Version 3
    /// (WAL only): as 2, and the header's checksum also covers the log's own file number (8, LE;
    /// not stored: the name gives it), so a log copied under another number — an earlier
    /// generation's, another log of the store — fails its header check (`headerChecksum`).
    static let version: UInt32 = 1
    static let walVersion: UInt32 = 3

    /// The file header's masked crc32c: over magic and version, and from WAL version 3 the file's
    /// number too (`number` nil: a manifest, or a WAL of version 1 or 2).
    static func headerChecksum(_ magicAndVersion: UnsafeRawBufferPointer, number: UInt64?) -> UInt32 {
        var crc = CRC32C.update(0, magicAndVersion)
        if let number {
            withUnsafeBytes(of: number.littleEndian) { crc = CRC32C.update(crc, $0) }
        }
        return CRC32C.mask(crc)
    }
    /// "ORBITWAL" and "ORBITMAN" as little-endian UInt64s.
    static let walMagic: UInt64 = 0x4C41_5754_4942_524F
    static let manifestMagic: UInt64 = 0x4E41_4D54_4942_524F

    /// WAL payload header: sequence (8), entry count (4) and, from version 2, synced-through (8).
    static func walPayloadHeader(version: UInt32) -> Int { version >= 2 ? 20 : 12 }

    enum RecordType: UInt8 {
        case full = 1, first = 2, middle = 3, last = 4
    }
}

/// The log format shared by the write-ahead log and the manifest (docs/formats/lsm-log.md):
/// 32 KiB blocks of physical records, each `masked crc32c (4) | length (2) | type (1) | payload`,
/// a logical record split into first/middle/last fragments when it crosses a block boundary.
/// Block 0 starts with a 16-byte file header: magic (8), version (4), masked crc32c of both (4).
enum LogFormat {
    static let blockSize = 32 * 1024
    static let headerSize = 7
    static let fileHeaderSize = 16
    /// Version 1: manifest, and the WAL of older builds. Version 2 (WAL only): every WAL payload
    /// carries the log offset known synced when it was written (`walPayloadHeader`).
    static let version: UInt32 = 1
    static let walVersion: UInt32 = 2
    /// "ORBITWAL" and "ORBITMAN" as little-endian UInt64s.
    static let walMagic: UInt64 = 0x4C41_5754_4942_524F
    static let manifestMagic: UInt64 = 0x4E41_4D54_4942_524F

    /// WAL payload header: sequence (8), entry count (4) and, from version 2, synced-through (8).
    static func walPayloadHeader(version: UInt32) -> Int { version >= 2 ? 20 : 12 }

    enum RecordType: UInt8 {
        case full = 1, first = 2, middle = 3, last = 4
    }
}

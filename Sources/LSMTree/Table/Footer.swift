import OrbitCore

/// Where a block lives in a table file: its offset and its size without the 5-byte trailer.
struct BlockHandle: Hashable {
    var offset: UInt64
    var size: UInt64

    func encode(_ out: inout [UInt8]) { putVarint(&out, offset); putVarint(&out, size) }

    static func decode(_ p: UnsafeRawBufferPointer) -> BlockHandle? {
        var r = ByteReader(p)
        guard let o = r.varint(), let s = r.varint() else { return nil }
        return BlockHandle(offset: o, size: s)
    }
}

/// The fixed 56-byte end of a table file (docs/formats/lsm-sstable.md).
struct Footer {
    static let size = 56
    static let magic: UInt64 = 0x5453_5354_4942_524F  // "ORBITSST"
    /// Both written by this build, and read: 1 when every block is plain (compression off, or no
    /// block shrank), 2 when a data block may be LZ4-compressed — so a build that reads version 1
    /// only refuses such a table by its version instead of failing on a block. Neither is a
    /// leftover format (TableTests covers both).
    static let version: UInt32 = 2
    /// Bytes after each block: compression type (1) + masked crc32c of block and type (4).
    static let blockTrailerSize = 5
    /// Fields: filter handle (offset, size: 8 each) at 0, index handle at 16, entries at 32 (8 each),
    /// masked crc32c of the rest at 40, version at 44 (4 each), magic at 48 (8).
    static let checksumOffset = 40
    static let versionOffset = 44
    static let magicOffset = 48
    static let fieldOffsets = [0, 8, 16, 24, 32, checksumOffset, versionOffset, magicOffset]

    var filter: BlockHandle
    var index: BlockHandle
    var entries: UInt64
    /// Whether any data block is compressed: written as version 2, else 1.
    var compressed = false

    func encode() -> [UInt8] {
        var out: [UInt8] = []
        putFixed64(&out, filter.offset); putFixed64(&out, filter.size)
        putFixed64(&out, index.offset); putFixed64(&out, index.size)
        putFixed64(&out, entries)
        var tail: [UInt8] = []
        putFixed32(&tail, compressed ? 2 : 1)
        putFixed64(&tail, Self.magic)
        let crc = CRC32C.update(CRC32C.checksum(out), tail.withUnsafeBytes { $0 })
        putFixed32(&out, CRC32C.mask(crc))
        out.append(contentsOf: tail)
        return out
    }

    static func decode(_ p: UnsafeRawBufferPointer, path: String, offset: Int64) throws -> Footer {
        precondition(p.count == size)
        let magic = loadFixed64(p, magicOffset)
        guard magic == Self.magic else {
            throw corruption("not a table: footer magic 0x\(String(magic, radix: 16)), expected 0x\(String(Self.magic, radix: 16))", path, offset + Int64(magicOffset))
        }
        let crc = CRC32C.update(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<checksumOffset])),
                               UnsafeRawBufferPointer(rebasing: p[versionOffset..<size]))
        guard CRC32C.mask(crc) == loadFixed32(p, checksumOffset) else { throw corruption("table footer checksum mismatch", path, offset) }
        let version = loadFixed32(p, versionOffset)
        guard version <= Self.version else { throw corruption("table format version \(version) is newer than this build reads", path, offset + Int64(versionOffset)) }
        return Footer(filter: BlockHandle(offset: loadFixed64(p, 0), size: loadFixed64(p, 8)),
                      index: BlockHandle(offset: loadFixed64(p, 16), size: loadFixed64(p, 24)),
                      entries: loadFixed64(p, 32))
    }
}

import CLZ4
import OrbitCore

/// Per-block compression of table blocks (docs/formats/lsm-sstable.md, "Block trailer"): the
/// trailer's type byte says how the stored bytes encode the block. The checksum covers the stored
/// (compressed) bytes and the type byte, so a damaged block is caught before it is decompressed.
enum BlockCompression: UInt8 {
    /// The block as built.
    case plain = 0
    /// varint uncompressed length, then one LZ4 block (liblz4 `LZ4_compress_default`). The number
    /// is RocksDB's for LZ4.
    case lz4 = 4

    /// Largest uncompressed block a reader accepts (a damaged length must not allocate gigabytes).
    static let maxBlockBytes = 1 << 30

    /// Compresses `block` into `out` (replacing its contents). Returns false, leaving `out` empty,
    /// when that saves less than an eighth of the block (LevelDB's rule): store it uncompressed.
    static func compressLZ4(_ block: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        guard block.count > 0, block.count < Int(LZ4_MAX_INPUT_SIZE) else { return false }
        putVarint(&out, UInt64(block.count))
        let header = out.count
        let bound = Int(LZ4_compressBound(Int32(block.count)))
        out.append(contentsOf: repeatElement(0, count: bound))
        let n = out.withUnsafeMutableBytes { dst in
            LZ4_compress_default(block.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 (dst.baseAddress! + header).assumingMemoryBound(to: CChar.self),
                                 Int32(block.count), Int32(bound))
        }
        guard n > 0, header + Int(n) < block.count - block.count / 8 else {
            out.removeAll(keepingCapacity: true)
            return false
        }
        out.removeSubrange((header + Int(n))...)
        return true
    }

    /// Decompresses a stored LZ4 block (checksum already verified) into new memory the caller owns.
    static func decompressLZ4(_ stored: UnsafeRawBufferPointer, path: String, offset: Int64, what: String) throws
        -> (UnsafeMutableRawPointer, Int) {
        var pos = 0
        guard let raw = getVarint(stored, &pos), raw > 0, raw <= UInt64(maxBlockBytes) else {
            throw corruption("\(what): LZ4 block has no valid uncompressed length", path, offset)
        }
        let count = Int(raw)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
        let n = LZ4_decompress_safe((stored.baseAddress! + pos).assumingMemoryBound(to: CChar.self),
                                    dst.assumingMemoryBound(to: CChar.self), Int32(stored.count - pos), Int32(count))
        guard n == Int32(count) else {
            dst.deallocate()
            throw corruption("\(what): LZ4 block does not decompress to its \(count) bytes (liblz4 returned \(n))", path, offset)
        }
        return (dst, count)
    }
}

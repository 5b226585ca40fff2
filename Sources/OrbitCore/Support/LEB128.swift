/// Unsigned LEB128 varints, the one implementation every format of the project uses (the LSM
/// tree's blocks, logs and manifest; the trace, export and lease formats; etcd's protobuf on the
/// wire; the RocksDB layout's block handles): seven bits a byte, least significant first, the high
/// bit set on every byte but the last; at most 10 bytes for 64 bits.
public enum LEB128 {
    public enum Failure: Error, Equatable {
        /// The bytes end inside the varint.
        case truncated
        /// More than 64 bits: a tenth byte above 1, or an eleventh byte.
        case overflow
    }

    /// Appends `value`'s encoding (1 to 10 bytes).
    @inlinable @inline(__always)
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// The encoded size of `value` in bytes.
    @inlinable @inline(__always)
    public static func size(_ value: UInt64) -> Int {
        var v = value, n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    /// Decodes the varint at `pos`, reading no byte at or past `end` (the buffer's count when
    /// nil), and advances `pos` past it. On a failure `pos` is where the bad byte (or the end) is.
    @inlinable @inline(__always)
    public static func decode(_ bytes: UnsafeRawBufferPointer, _ pos: inout Int, end: Int? = nil) throws(Failure) -> UInt64 {
        let end = end ?? bytes.count
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < end else { throw .truncated }
            let b = bytes[pos]
            guard shift < 63 || (shift == 63 && b <= 1) else { throw .overflow }
            pos += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
}

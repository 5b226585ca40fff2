/// LEB128 varints (docs/formats/README.md; protobuf's varint is the same encoding): 7 bits a byte,
/// least significant first, the high bit set on every byte but the last. The one encoder and
/// decoder of the project's formats (lsm's tables and logs, export streams, traces, etcd's wire).
public enum Varint {
    /// Appends `value` to a reusable buffer.
    @inlinable @inline(__always)
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    /// Decodes the varint at `pos` (advanced past it); nil when truncated or longer than 64 bits
    /// (a tenth byte above 1, or an eleventh), so bad bytes become the caller's error, not a trap.
    @inlinable @inline(__always)
    public static func read(_ p: UnsafeRawBufferPointer, _ pos: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while pos < p.count {
            let b = p[pos]
            guard shift < 63 || (shift == 63 && b <= 1) else { return nil }
            pos += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
        return nil
    }
}

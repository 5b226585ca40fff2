#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes bytes into a caller-sized buffer (a stack temporary or an array's storage). Callers size the
/// buffer from an upper bound first; running past it is a programming error.
@usableFromInline
struct ByteWriter {
    @usableFromInline let buffer: UnsafeMutableRawBufferPointer
    @usableFromInline var count = 0

    @inlinable init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    @inlinable mutating func append(_ byte: UInt8) {
        precondition(count < buffer.count, "ByteWriter overflow")
        buffer[count] = byte
        count += 1
    }

    @inlinable mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { src in
            precondition(src.count <= buffer.count - count, "ByteWriter overflow")
            if let base = src.baseAddress, src.count > 0 {
                memcpy(buffer.baseAddress! + count, base, src.count)
            }
            count += src.count
            return true
        }
        if copied == nil { for b in bytes { append(b) } }
    }

    /// Order-preserving, prefix-free escaping: 0x00 becomes 00 FF, and the component ends with 00 01.
    @inlinable mutating func appendEscaped(_ bytes: some Sequence<UInt8>) {
        for b in bytes {
            append(b)
            if b == 0 { append(0xFF) }
        }
        append(0x00)
        append(0x01)
    }

    /// Unsigned LEB128.
    @inlinable mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(truncatingIfNeeded: v))
    }

    @inlinable mutating func appendUInt32LE(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 24))
    }
}

@inlinable func varintSize(_ value: UInt64) -> Int {
    var v = value, n = 1
    while v >= 0x80 { v >>= 7; n += 1 }
    return n
}

@inlinable func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inlinable func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

/// Upper bound of an escaped component's size (every byte a zero, plus the terminator).
@inlinable func escapedCapacity(_ byteCount: Int) -> Int { 2 * byteCount + 2 }

/// Runs `body` over a temporary buffer of at most `capacity` bytes that `fill` writes into.
@inlinable func withTemporaryBytes<R>(capacity: Int, _ fill: (inout ByteWriter) -> Void,
                                      _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 1) { raw in
        var w = ByteWriter(raw)
        fill(&w)
        return try body(UnsafeRawBufferPointer(rebasing: raw[0..<w.count]))
    }
}

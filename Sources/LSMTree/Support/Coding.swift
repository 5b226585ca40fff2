import OrbitCore

// Little-endian fixed-width integers and LEB128 varints (docs/formats/README.md), appended to a
// reusable [UInt8] and decoded from raw buffers. Decoders return nil on a truncated or overlong
// encoding, so callers turn bad bytes into a corruption error rather than a crash.

@inline(__always) func putFixed32(_ out: inout [UInt8], _ v: UInt32) {
    out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8))
    out.append(UInt8(truncatingIfNeeded: v >> 16)); out.append(UInt8(truncatingIfNeeded: v >> 24))
}

@inline(__always) func putFixed64(_ out: inout [UInt8], _ v: UInt64) {
    putFixed32(&out, UInt32(truncatingIfNeeded: v)); putFixed32(&out, UInt32(truncatingIfNeeded: v >> 32))
}

@inline(__always) func putVarint(_ out: inout [UInt8], _ value: UInt64) { LEB128.append(value, to: &out) }

@inline(__always) func loadFixed32(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
}

@inline(__always) func loadFixed64(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self))
}

/// Decodes a varint at `pos` (advanced past it); nil when truncated or wider than 64 bits.
@inline(__always) func getVarint(_ p: UnsafeRawBufferPointer, _ pos: inout Int) -> UInt64? { try? LEB128.decode(p, &pos) }

/// A cursor over bytes for decoding records; every read checks bounds.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var atEnd: Bool { pos >= bytes.count }
    mutating func varint() -> UInt64? { getVarint(bytes, &pos) }
    mutating func byte() -> UInt8? {
        guard pos < bytes.count else { return nil }
        defer { pos += 1 }
        return bytes[pos]
    }
    mutating func slice(_ n: Int) -> UnsafeRawBufferPointer? {
        guard n >= 0, n <= bytes.count - pos else { return nil }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }
    mutating func lengthPrefixed() -> UnsafeRawBufferPointer? {
        guard let n = varint(), n <= UInt64(Int.max) else { return nil }
        return slice(Int(n))
    }
}

// MARK: - Internal keys

/// Value types stored in the trailer of an internal key. A seek key uses `.put` (the largest), so it
/// sorts before every entry of its user key with the same sequence number.
enum ValueType: UInt8 {
    case delete = 0
    case put = 1
}

/// An internal key is the user key followed by an 8-byte little-endian trailer `seq << 8 | type`.
/// Order: user key ascending (memcmp), then trailer descending (newest first).
let trailerSize = 8
let maxSequence: UInt64 = (1 << 56) - 1

@inline(__always) func packTrailer(_ seq: UInt64, _ type: ValueType) -> UInt64 { seq << 8 | UInt64(type.rawValue) }

@inline(__always) func userKey(_ ikey: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - trailerSize)])
}

@inline(__always) func trailer(_ ikey: UnsafeRawBufferPointer) -> UInt64 { loadFixed64(ikey, ikey.count - trailerSize) }

@inline(__always) func compareInternal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let c = compareBytes(userKey(a), userKey(b))
    if c != 0 { return c }
    let ta = trailer(a), tb = trailer(b)
    return ta > tb ? -1 : (ta < tb ? 1 : 0)
}

/// Appends `key` + trailer to `out` (cleared first).
@inline(__always) func makeInternalKey(_ out: inout [UInt8], _ key: UnsafeRawBufferPointer, _ seq: UInt64, _ type: ValueType) {
    out.removeAll(keepingCapacity: true)
    out.append(contentsOf: key)
    putFixed64(&out, packTrailer(seq, type))
}

func corruption(_ message: String, _ path: String, _ offset: Int64) -> OrbitError {
    OrbitError(.corruption, message, at: "\(path) @ offset \(offset)",
               hint: "the store is damaged; run `orbit-bench inspect lsm DIR` for a full check")
}

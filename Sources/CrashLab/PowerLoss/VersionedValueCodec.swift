import OrbitCore

/// The values the power-loss sweep writes: each names its key and its version, so a value read back
/// after a crash says exactly WHICH write it came from (and a value served under the wrong key, or
/// damaged, is told apart from a stale one).
///
/// Layout (little-endian):
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// | 0 | 2 | key length k |
/// | 2 | k | key |
/// | 2+k | 8 | version (the sweep's operation number, unique per write) |
/// | 10+k | n | filler: bytes derived from key and version |
/// | 10+k+n | 4 | CRC32C of every byte before it |
public enum VersionedValueCodec {
    /// What a value read back turned out to be.
    public enum Decoded: Equatable, Sendable {
        /// A well-formed value written for `key` by the write numbered `version`.
        case value(key: [UInt8], version: UInt64)
        /// Not a value the sweep wrote (damaged, truncated or foreign bytes).
        case garbage(String)
    }

    /// The smallest encoded size for a key of `keyLength` bytes (no filler).
    public static func minimumSize(keyLength: Int) -> Int { 2 + keyLength + 8 + 4 }

    /// Encodes (key, version) padded with filler to `size` bytes (at least `minimumSize`).
    public static func encode(key: [UInt8], version: UInt64, size: Int) -> [UInt8] {
        let total = max(size, minimumSize(keyLength: key.count))
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out.append(UInt8(truncatingIfNeeded: key.count)); out.append(UInt8(truncatingIfNeeded: key.count >> 8))
        out.append(contentsOf: key)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: version >> (8 * UInt64(i)))) }
        var x = version &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(key.count) &* 0xBF58_476D_1CE4_E5B9
        for b in key { x = (x ^ UInt64(b)) &* 0x100_0000_01B3 }
        while out.count < total - 4 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out.append(UInt8(truncatingIfNeeded: x >> 33))
        }
        let crc = CRC32C.checksum(out)
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> Decoded {
        guard bytes.count >= 14 else { return .garbage("value of \(bytes.count) bytes is shorter than any encoded value") }
        let kl = Int(bytes[0]) | Int(bytes[1]) << 8
        guard bytes.count >= minimumSize(keyLength: kl) else { return .garbage("value of \(bytes.count) bytes is too short for a \(kl)-byte key") }
        let body = bytes.count - 4
        var stored: UInt32 = 0
        for i in 0..<4 { stored |= UInt32(bytes[body + i]) << (8 * UInt32(i)) }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard crc == stored else { return .garbage("value checksum mismatch") }
        var version: UInt64 = 0
        for i in 0..<8 { version |= UInt64(bytes[2 + kl + i]) << (8 * UInt64(i)) }
        return .value(key: Array(bytes[2..<(2 + kl)]), version: version)
    }
}

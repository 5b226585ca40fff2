#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-order comparison of two keys (memcmp, then length): the order every engine keeps.
@inlinable
public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return c < 0 ? -1 : 1 }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

/// Byte-order comparison of two byte arrays.
@inlinable
public func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

extension UnsafeRawBufferPointer {
    /// An empty buffer with a non-nil base address, for C APIs that reject NULL.
    nonisolated(unsafe) public static let emptyNonNull: UnsafeRawBufferPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        return UnsafeRawBufferPointer(start: p, count: 0)
    }()
}

/// Printable rendering of a key for error messages and the `kv` tool: UTF-8 when printable, hex otherwise.
public func describeBytes(_ bytes: UnsafeRawBufferPointer, limit: Int = 64) -> String {
    let printable = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
    if printable {
        let s = String(decoding: bytes.prefix(limit), as: UTF8.self)
        return bytes.count > limit ? s + "…" : s
    }
    let hex = bytes.prefix(limit).map { b in
        let h = String(b, radix: 16)
        return h.count == 1 ? "0" + h : h
    }.joined()
    return "0x" + hex + (bytes.count > limit ? "…" : "")
}

public func describeBytes(_ bytes: [UInt8], limit: Int = 64) -> String {
    bytes.withUnsafeBytes { describeBytes($0, limit: limit) }
}

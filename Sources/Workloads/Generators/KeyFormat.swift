import OrbitCore

/// Record number → key bytes, into one reused buffer (no allocation per operation).
///
/// `.decimal`: the record number in zero-padded decimal, `keySize` bytes: memcmp order equals numeric
/// order, and `ldb scan` output is readable. `.ycsb`: YCSB's `CoreWorkload.buildKeyName`: "user", then
/// the number (hashed with YCSB's FNV-1a unless inserts are ordered) left-padded with zeros to
/// `zeroPadding` digits: `user6284781860667377211`, or `user00000042` with ordered inserts and padding 8.
public struct KeyFormatter: ~Copyable {
    public let style: Workload.KeyStyle
    /// The longest key this formatter produces.
    public let keySize: Int
    let buffer: UnsafeMutableRawBufferPointer

    public init(keySize: Int) {
        self.init(style: .decimal(size: keySize))
    }

    public init(style: Workload.KeyStyle) {
        self.style = style
        switch style {
        case .decimal(let size): keySize = size
        case .ycsb(_, let padding): keySize = 4 + max(padding, 20)
        }
        buffer = .allocate(byteCount: keySize, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x30)
        if case .ycsb = style {
            for (i, c) in "user".utf8.enumerated() { buffer[i] = c }
        }
    }

    deinit { buffer.deallocate() }

    /// Formats `n` into the reused buffer and returns a view of it, valid until the next call.
    @inline(__always)
    public func format(_ n: UInt64) -> UnsafeRawBufferPointer {
        switch style {
        case .decimal:
            var v = n
            var i = keySize - 1
            while i >= 0 {
                buffer[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
                v /= 10
                i -= 1
            }
            return UnsafeRawBufferPointer(buffer)
        case .ycsb(let hashed, let padding):
            var v = hashed ? ycsbHash(n) : n
            var digits = 1
            var probe = v
            while probe >= 10 { probe /= 10; digits += 1 }
            let length = 4 + max(digits, padding)
            var i = length - 1
            while i >= 4 {
                buffer[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
                v /= 10
                i -= 1
            }
            return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<length])
        }
    }

    /// A fresh array holding key `n` in `style`.
    public static func key(_ n: UInt64, style: Workload.KeyStyle) -> [UInt8] {
        let f = KeyFormatter(style: style)
        return Array(f.format(n))
    }

    /// A fresh array holding key `n` (for tools and tests).
    public static func key(_ n: UInt64, size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0x30, count: size)
        var v = n
        var i = size - 1
        while i >= 0 { out[i] = UInt8(0x30 + v % 10); v /= 10; i -= 1 }
        return out
    }
}

/// Value bytes: slices of one seeded pool of random printable bytes, so producing a value costs nothing per operation.
public final class ValuePool: @unchecked Sendable {  // immutable after init
    let pool: UnsafeMutableRawBufferPointer
    public let maxLength: Int

    public init(maxLength: Int, seed: UInt64) {
        self.maxLength = maxLength
        let size = max(1 << 20, maxLength * 2)
        pool = .allocate(byteCount: size, alignment: 8)
        // Printable ASCII ('!'...'~'): readable in `ldb scan` and `kv scan`, and still nearly
        // incompressible (log2(94) = 6.55 bits of entropy per byte).
        var rng = SeededRNG(seed: seed ^ 0x5EED_F00D)
        for i in 0..<size { pool[i] = 0x21 &+ UInt8(truncatingIfNeeded: rng.below(94)) }
    }

    deinit { pool.deallocate() }

    /// `length` bytes starting at a position derived from `salt`.
    @inline(__always)
    public func value(length: Int, salt: UInt64) -> UnsafeRawBufferPointer {
        let start = Int(salt % UInt64(pool.count - length + 1))
        return UnsafeRawBufferPointer(rebasing: pool[start..<(start + length)])
    }
}

/// A bijection on [0, n): a 4-round Feistel network on the next power of two, cycle-walked into range.
/// The load phase's "random" order: every record inserted exactly once, in a seeded shuffled order.
public struct Permutation: Sendable {
    let n: UInt64
    let halfBits: UInt64
    let mask: UInt64
    let keys: (UInt64, UInt64, UInt64, UInt64)

    public init(count: UInt64, seed: UInt64) {
        n = count
        var bits: UInt64 = 2
        while (UInt64(1) << bits) < count { bits += 2 }
        halfBits = bits / 2
        mask = (UInt64(1) << halfBits) - 1
        var rng = SeededRNG(seed: seed ^ 0xFEED_FACE)
        keys = (rng.next(), rng.next(), rng.next(), rng.next())
    }

    @inline(__always)
    func round(_ x: UInt64, _ k: UInt64) -> UInt64 { (fnv1a64(x ^ k) ^ (fnv1a64(x &+ k) >> 7)) & mask }

    @inline(__always)
    func encrypt(_ x: UInt64) -> UInt64 {
        var l = x >> halfBits, r = x & mask
        (l, r) = (r, l ^ round(r, keys.0))
        (l, r) = (r, l ^ round(r, keys.1))
        (l, r) = (r, l ^ round(r, keys.2))
        (l, r) = (r, l ^ round(r, keys.3))
        return (l << halfBits) | r
    }

    /// The record at position `i` of the shuffled order.
    @inline(__always)
    public func apply(_ i: UInt64) -> UInt64 {
        var x = encrypt(i)
        while x >= n { x = encrypt(x) }
        return x
    }
}

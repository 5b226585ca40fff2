import OrbitCore

/// Record number → key bytes, into one reused buffer (no allocation per operation).
///
/// `.decimal`: the record number in zero-padded decimal, `keySize` bytes: memcmp order equals numeric
/// order, and `ldb scan` output is readable. `.ycsb`: YCSB's `CoreWorkload.buildKeyName`: "user", then
/// the number (hashed with YCSB's FNV-1a unless inserts are ordered) left-padded with zeros to
/// `zeroPadding` digits: `user6284781860667377211`, or `user00000042` with ordered inserts and padding 8.
///
/// Inlinable and branch-light, since it runs once per operation on the client threads: the number is
/// written as all 20 of its zero-padded digits in independent 8-, 8- and 4-digit chunks (short
/// dependency chains instead of one divide-by-10 chain per digit), right-aligned at the key's end; the
/// buffer has 20 bytes of room before the key for the digits a shorter key does not keep, and the
/// "user" prefix is stored again after them. The same bytes as digit-by-digit formatting (a test
/// compares them).
public struct KeyFormatter: ~Copyable {
    public let style: Workload.KeyStyle
    /// The longest key this formatter produces.
    public let keySize: Int
    /// The allocation: `headroom` bytes, then the key.
    @usableFromInline let storage: UnsafeMutableRawPointer
    @usableFromInline let key: UnsafeMutableRawPointer
    @usableFromInline let ycsb: Bool
    @usableFromInline let hashed: Bool
    @usableFromInline let padding: Int
    static let headroom = 24
    /// "user" as one little-endian word.
    @usableFromInline static var userPrefix: UInt32 { 0x7265_7375 }

    public init(keySize: Int) {
        self.init(style: .decimal(size: keySize))
    }

    public init(style: Workload.KeyStyle) {
        self.style = style
        switch style {
        case .decimal(let size):
            keySize = size
            ycsb = false; hashed = false; padding = 0
        case .ycsb(let h, let p):
            keySize = 4 + max(p, 20)
            ycsb = true; hashed = h; padding = p
        }
        storage = .allocate(byteCount: Self.headroom + keySize, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0x30, count: Self.headroom + keySize)
        key = storage + Self.headroom
        if ycsb { key.storeBytes(of: Self.userPrefix, as: UInt32.self) }
    }

    deinit { storage.deallocate() }

    /// Formats `n` into the reused buffer and returns a view of it, valid until the next call.
    @inlinable @inline(__always)
    public func format(_ n: UInt64) -> UnsafeRawBufferPointer {
        if !ycsb {
            // The low keySize digits (a number wider than the key keeps its low digits, as before).
            Self.write20(n, end: key + keySize)
            return UnsafeRawBufferPointer(start: key, count: keySize)
        }
        let v = hashed ? ycsbHash(n) : n
        var digits = 1
        var bound: UInt64 = 10
        while digits < 20 && v >= bound {
            digits &+= 1
            bound &*= 10
        }
        let length = 4 &+ max(digits, padding)
        // Positions 4 ..< length-20 (padding over 20) are never written: they hold '0' from init.
        Self.write20(v, end: key + length)
        key.storeBytes(of: Self.userPrefix, as: UInt32.self)
        return UnsafeRawBufferPointer(start: key, count: length)
    }

    /// Writes the 20 zero-padded decimal digits of `v` to `end - 20 ..< end`.
    @inlinable @inline(__always)
    static func write20(_ v: UInt64, end: UnsafeMutableRawPointer) {
        let low = v % 100_000_000
        let rest = v / 100_000_000
        write8(UInt32(truncatingIfNeeded: low), end: end)
        write8(UInt32(truncatingIfNeeded: rest % 100_000_000), end: end - 8)
        write4(UInt32(truncatingIfNeeded: rest / 100_000_000), end: end - 16)
    }

    @inlinable @inline(__always)
    static func write8(_ x: UInt32, end: UnsafeMutableRawPointer) {
        write4(x % 10_000, end: end)
        write4(x / 10_000, end: end - 4)
    }

    /// The 4 digits of `x` < 10,000 as one little-endian word store.
    @inlinable @inline(__always)
    static func write4(_ x: UInt32, end: UnsafeMutableRawPointer) {
        let hi = x / 100, lo = x % 100
        let word = (0x3030_3030 as UInt32)
            | (hi / 10) | ((hi % 10) &<< 8) | ((lo / 10) &<< 16) | ((lo % 10) &<< 24)
        (end - 4).storeBytes(of: word, toByteOffset: 0, as: UInt32.self)
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

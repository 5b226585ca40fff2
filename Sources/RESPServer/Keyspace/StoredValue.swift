import OrbitCore

/// How a RESP string is kept in the engine (docs/formats/resp-value.md): the engine key is the Redis
/// key's bytes; the engine value is an 8-byte header, the expiry as Unix-epoch milliseconds in
/// little-endian (0: no expiry), then the string's bytes. The expiry travels with the value, so it
/// survives a restart and a write of the value rewrites it in the same put.
public enum StoredValue {
    public static let headerSize = 8

    /// The expiry of a stored value (0: none), or nil when it is shorter than the header (not written
    /// by `serve`).
    @inline(__always)
    public static func expiry(_ stored: UnsafeRawBufferPointer) -> Int64? {
        guard stored.count >= headerSize else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(stored[i]) << (8 * UInt64(i)) }
        return Int64(bitPattern: v)
    }

    /// Empties `out` (keeping its capacity) and writes the header for `expiry`.
    @inline(__always)
    public static func startEncoding(expiry: Int64, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        let v = UInt64(bitPattern: expiry)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// The stored bytes for `payload` with `expiry` (tests and tools).
    public static func encode(_ payload: [UInt8], expiry: Int64 = 0) -> [UInt8] {
        var out: [UInt8] = []
        startEncoding(expiry: expiry, into: &out)
        out.append(contentsOf: payload)
        return out
    }

    static func corrupt(_ key: UnsafeRawBufferPointer, _ count: Int) -> OrbitError {
        OrbitError(.corruption, "the value of key \(describeBytes(key)) is \(count) bytes, shorter than serve's 8-byte expiry header",
                   hint: "the store holds data not written by orbit-bench serve (docs/formats/resp-value.md)")
    }
}

/// Byte helpers of the command table.
enum RESPBytes {
    /// Whether `p` equals the lowercase ASCII word `word`, ignoring ASCII case.
    @inline(__always)
    static func equalsIgnoringCase(_ p: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard p.count == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start
        for i in 0..<p.count {
            var c = p[i]
            if c >= 0x41 && c <= 0x5a { c |= 0x20 }
            if c != w[i] { return false }
        }
        return true
    }

    /// Redis's `string2ll`: an optional '-', then digits without a leading zero (except "0" itself),
    /// no blanks, no '+', within Int64.
    static func parseInt64(_ p: UnsafeRawBufferPointer) -> Int64? {
        let n = p.count
        guard n > 0, n <= 20 else { return nil }
        if n == 1, p[0] == 0x30 { return 0 }
        var i = 0
        var negative = false
        if p[0] == UInt8(ascii: "-") { negative = true; i = 1; guard n > 1 else { return nil } }
        guard p[i] >= 0x31 && p[i] <= 0x39 else { return nil }
        var v: UInt64 = 0
        while i < n {
            let d = p[i] &- 0x30
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            v = s
            i += 1
        }
        if negative {
            guard v <= UInt64(Int64.max) + 1 else { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        guard v <= UInt64(Int64.max) else { return nil }
        return Int64(v)
    }

    /// Appends `v` in decimal.
    static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        if m == 0 { out.append(0x30); return }
        let start = out.count
        while m > 0 { out.append(UInt8(48 + m % 10)); m /= 10 }
        out[start...].reverse()
    }
}

/// Redis's glob (`KEYS`, `SCAN MATCH`): `*` any run, `?` one byte, `[abc]`, `[^a]`, `[a-z]`, and `\x`
/// the byte x itself. Case-sensitive, on bytes.
enum Glob {
    static func matches(_ pattern: UnsafeRawBufferPointer, _ string: UnsafeRawBufferPointer) -> Bool {
        match(pattern, 0, string, 0)
    }

    private static func match(_ p: UnsafeRawBufferPointer, _ pi0: Int, _ s: UnsafeRawBufferPointer, _ si0: Int) -> Bool {
        var pi = pi0, si = si0
        while pi < p.count {
            switch p[pi] {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count, p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var k = si
                while k <= s.count {
                    if match(p, pi + 1, s, k) { return true }
                    k += 1
                }
                return false
            case UInt8(ascii: "?"):
                guard si < s.count else { return false }
                si += 1
            case UInt8(ascii: "["):
                guard si < s.count else { return false }
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                while pi < p.count, p[pi] != UInt8(ascii: "]") {
                    if p[pi] == UInt8(ascii: "\\"), pi + 1 < p.count {
                        pi += 1
                        if p[pi] == s[si] { matched = true }
                    } else if pi + 2 < p.count, p[pi + 1] == UInt8(ascii: "-"), p[pi + 2] != UInt8(ascii: "]") {
                        let lo = min(p[pi], p[pi + 2]), hi = max(p[pi], p[pi + 2])
                        if s[si] >= lo && s[si] <= hi { matched = true }
                        pi += 2
                    } else if p[pi] == s[si] {
                        matched = true
                    }
                    pi += 1
                }
                if matched == negate { return false }
                si += 1
                if pi >= p.count { return si == s.count }  // an unclosed '[': Redis stops at the pattern's end
            case UInt8(ascii: "\\") where pi + 1 < p.count:
                pi += 1
                guard si < s.count, p[pi] == s[si] else { return false }
                si += 1
            default:
                guard si < s.count, p[pi] == s[si] else { return false }
                si += 1
            }
            pi += 1
        }
        return si == s.count
    }
}

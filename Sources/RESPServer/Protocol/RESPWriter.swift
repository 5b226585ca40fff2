/// The RESP2 reply encoder: appends replies to a reusable byte buffer (pure, no I/O).
///
/// `+OK\r\n` (simple string), `-ERR ...\r\n` (error), `:42\r\n` (integer), `$3\r\nfoo\r\n` (bulk
/// string), `$-1\r\n` (null bulk), `*2\r\n...` (array header), `*-1\r\n` (null array). A connection
/// keeps one writer and empties it after each flush, so replying allocates nothing per request.
public struct RESPWriter: Sendable {
    public var bytes: [UInt8] = []

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    public mutating func simple(_ text: StaticString) {
        bytes.append(UInt8(ascii: "+"))
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        crlf()
    }

    public mutating func ok() { bytes.append(contentsOf: [0x2b, 0x4f, 0x4b, 0x0d, 0x0a]) }

    /// An error reply: `message` is the whole text after `-` ("ERR syntax error", "WRONGTYPE ...").
    /// CR and LF in it are replaced by blanks (a reply line cannot hold them).
    public mutating func error(_ message: String) {
        bytes.append(UInt8(ascii: "-"))
        for b in message.utf8 { bytes.append(b == 0x0d || b == 0x0a ? 0x20 : b) }
        crlf()
    }

    public mutating func integer(_ v: Int64) {
        bytes.append(UInt8(ascii: ":"))
        decimal(v)
        crlf()
    }

    public mutating func bulk(_ value: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        decimal(Int64(value.count))
        crlf()
        bytes.append(contentsOf: value)
        crlf()
    }

    public mutating func bulk(_ value: some Collection<UInt8>) {
        bytes.append(UInt8(ascii: "$"))
        decimal(Int64(value.count))
        crlf()
        bytes.append(contentsOf: value)
        crlf()
    }

    public mutating func bulk(text: String) { bulk(Array(text.utf8)) }

    public mutating func nullBulk() { bytes.append(contentsOf: [0x24, 0x2d, 0x31, 0x0d, 0x0a]) }

    public mutating func arrayHeader(_ count: Int) {
        bytes.append(UInt8(ascii: "*"))
        decimal(Int64(count))
        crlf()
    }

    public mutating func nullArray() { bytes.append(contentsOf: [0x2a, 0x2d, 0x31, 0x0d, 0x0a]) }

    @inline(__always) mutating func crlf() {
        bytes.append(0x0d)
        bytes.append(0x0a)
    }

    /// Appends `v` in decimal without building a String.
    mutating func decimal(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        if m == 0 { bytes.append(0x30); return }
        let start = bytes.count
        while m > 0 {
            bytes.append(UInt8(48 + m % 10))
            m /= 10
        }
        bytes[start...].reverse()
    }
}

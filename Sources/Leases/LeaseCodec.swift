import OrbitCore

/// The binary lease record (format version 1), the value stored under a lease's primary key.
/// Byte layout and rationale: docs/formats/lease-record.md.
///
/// ```
/// magic 0x4C · version 0x01 · uvarint len · addressableType · uvarint len · key · uvarint len · nodeId
///   · zvarint expiresAt · zvarint (renewAt − expiresAt) · zvarint leaseDuration · uvarint version
///   · masked CRC32C (UInt32 LE) of every byte before it
/// ```
///
/// Decoding checks, in order: length, magic, format version, checksum, then the fields' structure.
/// Every failure is an `OrbitError(.corruption, …)` naming what was wrong and the byte offset.
public enum LeaseCodec {
    public static let magic: UInt8 = 0x4C  // 'L'
    public static let formatVersion: UInt8 = 1
    /// Two header bytes, three empty strings, four one-byte varints, the checksum.
    public static let minimumRecordSize = 2 + 3 + 4 + 4

    // MARK: Encoding

    /// The exact size of `lease`'s record.
    @inlinable
    public static func encodedSize(of lease: AddressableLease) -> Int {
        let t = lease.reference.addressableType.utf8.count
        let k = lease.reference.key.utf8.count
        let n = lease.nodeId.value.utf8.count
        return 2 + varintSize(UInt64(t)) + t + varintSize(UInt64(k)) + k + varintSize(UInt64(n)) + n
            + varintSize(zigzag(lease.expiresAt)) + varintSize(zigzag(lease.renewAt &- lease.expiresAt))
            + varintSize(zigzag(lease.leaseDuration)) + varintSize(lease.version) + 4
    }

    /// Writes `lease`'s record at the start of `buffer` (at least `encodedSize(of:)` bytes) and
    /// returns its size.
    @inlinable
    public static func encode(_ lease: AddressableLease, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var w = ByteWriter(buffer)
        write(lease, &w)
        return w.count
    }

    public static func encode(_ lease: AddressableLease) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: encodedSize(of: lease)) { buf, n in
            n = encode(lease, into: UnsafeMutableRawBufferPointer(buf))
        }
    }

    /// Calls `body` with `lease`'s record, built in a temporary buffer (no heap allocation for
    /// ordinary sizes).
    @inlinable
    public static func withEncoded<R>(_ lease: AddressableLease, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withTemporaryBytes(capacity: encodedSize(of: lease), { write(lease, &$0) }, body)
    }

    @inlinable
    static func write(_ lease: AddressableLease, _ w: inout ByteWriter) {
        let start = w.count
        w.append(magic)
        w.append(formatVersion)
        let type = lease.reference.addressableType.utf8
        w.appendVarint(UInt64(type.count))
        w.append(contentsOf: type)
        let key = lease.reference.key.utf8
        w.appendVarint(UInt64(key.count))
        w.append(contentsOf: key)
        let node = lease.nodeId.value.utf8
        w.appendVarint(UInt64(node.count))
        w.append(contentsOf: node)
        w.appendVarint(zigzag(lease.expiresAt))
        w.appendVarint(zigzag(lease.renewAt &- lease.expiresAt))
        w.appendVarint(zigzag(lease.leaseDuration))
        w.appendVarint(lease.version)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: w.buffer[start..<w.count]))
        w.appendUInt32LE(CRC32C.mask(crc))
    }

    // MARK: Decoding

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> AddressableLease {
        let view = try RecordView(bytes)
        return try view.lease(bytes, reference: nil, node: nil)
    }

    public static func decode(_ bytes: [UInt8]) throws -> AddressableLease {
        try bytes.withUnsafeBytes { try decode($0) }
    }
}

/// A checked record: the fields' positions and the numbers, without building strings yet.
@usableFromInline
struct RecordView {
    @usableFromInline var type: Range<Int>
    @usableFromInline var key: Range<Int>
    @usableFromInline var node: Range<Int>
    @usableFromInline var expiresAt: Int64
    @usableFromInline var renewAt: Int64
    @usableFromInline var leaseDuration: Int64
    @usableFromInline var version: UInt64

    /// Checks length, magic, version and checksum, then parses the fields.
    @usableFromInline
    init(_ b: UnsafeRawBufferPointer) throws {
        let n = b.count
        guard n >= LeaseCodec.minimumRecordSize else {
            throw recordError("record is \(n) bytes, shorter than the \(LeaseCodec.minimumRecordSize)-byte minimum", at: n)
        }
        guard b[0] == LeaseCodec.magic else {
            throw recordError("bad magic 0x\(hex(b[0])) (expected 0x\(hex(LeaseCodec.magic)))", at: 0)
        }
        guard b[1] == LeaseCodec.formatVersion else {
            throw recordError("unsupported format version \(b[1]) (this build reads \(LeaseCodec.formatVersion))", at: 1)
        }
        let end = n - 4
        let stored = UInt32(b[end]) | UInt32(b[end + 1]) << 8 | UInt32(b[end + 2]) << 16 | UInt32(b[end + 3]) << 24
        let computed = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<end])))
        guard stored == computed else {
            throw recordError("checksum mismatch: stored 0x\(hex32(stored)), computed 0x\(hex32(computed)) (masked CRC32C of bytes 0..<\(end))", at: end)
        }
        var p = 2
        type = try Self.lengthPrefixed(b, &p, end, "addressableType")
        key = try Self.lengthPrefixed(b, &p, end, "key")
        node = try Self.lengthPrefixed(b, &p, end, "nodeId")
        expiresAt = unzigzag(try Self.varint(b, &p, end, "expiresAt"))
        renewAt = expiresAt &+ unzigzag(try Self.varint(b, &p, end, "renewAt"))
        leaseDuration = unzigzag(try Self.varint(b, &p, end, "leaseDuration"))
        version = try Self.varint(b, &p, end, "version")
        guard p == end else {
            throw recordError("\(end - p) unexpected bytes after the last field", at: p)
        }
    }

    static func varint(_ b: UnsafeRawBufferPointer, _ p: inout Int, _ end: Int, _ field: String) throws -> UInt64 {
        let start = p
        do {
            return try LEB128.decode(b, &p, end: end)
        } catch .truncated {
            throw recordError("varint \(field) starting at byte \(start) runs into the checksum", at: p)
        } catch {
            throw recordError("varint \(field) starting at byte \(start) overflows 64 bits", at: p)
        }
    }

    static func lengthPrefixed(_ b: UnsafeRawBufferPointer, _ p: inout Int, _ end: Int, _ field: String) throws -> Range<Int> {
        let at = p
        let len = try varint(b, &p, end, "length of \(field)")
        guard len <= UInt64(end - p) else {
            throw recordError("length \(len) of \(field) exceeds the \(end - p) bytes before the checksum", at: at)
        }
        let r = p..<(p + Int(len))
        p += Int(len)
        return r
    }

    /// Builds the lease. `reference` / `node`, when given, must already be known to equal the
    /// record's bytes; they are reused instead of decoding new strings.
    @usableFromInline
    func lease(_ b: UnsafeRawBufferPointer, reference: AddressableReference?, node: NodeId?) throws -> AddressableLease {
        let ref = try reference ?? AddressableReference(addressableType: string(b, type, "addressableType"),
                                                        key: string(b, key, "key"))
        let nodeId = try node ?? NodeId(string(b, self.node, "nodeId"))
        return AddressableLease(reference: ref, nodeId: nodeId, expiresAt: expiresAt, renewAt: renewAt,
                                leaseDuration: leaseDuration, version: version)
    }

    func string(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ field: String) throws -> String {
        let bytes = UnsafeRawBufferPointer(rebasing: b[r]).assumingMemoryBound(to: UInt8.self)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw recordError("\(field) is not valid UTF-8", at: r.lowerBound)
        }
        return s
    }
}

func recordError(_ message: String, at offset: Int) -> OrbitError {
    OrbitError(.corruption, "lease record: \(message) at byte \(offset)", at: "lease record @ byte \(offset)")
}

func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 8 - s.count) + s
}

import OrbitCore

/// The key layout of the lease keyspace (docs/formats/lease-record.md).
///
/// ```
/// primary:    'L' (0x4C) · esc(addressableType) · key                       → lease record
/// node index: 'N' (0x4E) · esc(nodeId) · esc(addressableType) · key         → empty value
/// ```
///
/// `esc(s)` is the UTF-8 bytes of `s` with each 0x00 written as 00 FF, followed by the terminator
/// 00 01. It is prefix-free and preserves byte order, so the keys sort by (type, key) — by
/// (node, type, key) in the index — and `[prefix · esc(x), prefix · esc(x) with its last byte 01 → 02)`
/// holds exactly the keys whose component is `x`. The last component (the addressable key) is raw:
/// it runs to the end of the key. The index key ends with the primary key's tail (everything after
/// its prefix byte), so one is derived from the other without re-encoding strings.
public enum LeaseKeys {
    public static let primaryPrefix: UInt8 = 0x4C  // 'L'
    public static let nodeIndexPrefix: UInt8 = 0x4E  // 'N'

    /// Bounds of every primary key: list-all scans this.
    public static let primaryBounds: (start: [UInt8], end: [UInt8]) = ([primaryPrefix], [primaryPrefix + 1])
    /// Bounds of every node-index key.
    public static let nodeIndexBounds: (start: [UInt8], end: [UInt8]) = ([nodeIndexPrefix], [nodeIndexPrefix + 1])

    // MARK: Building keys

    /// Upper bound of the primary key's size for `reference`.
    @inlinable
    public static func primaryKeyCapacity(_ reference: AddressableReference) -> Int {
        1 + escapedCapacity(reference.addressableType.utf8.count) + reference.key.utf8.count
    }

    /// Calls `body` with the primary key of `reference`, built in a temporary buffer (no heap
    /// allocation for ordinary sizes).
    @inlinable
    public static func withPrimaryKey<R>(_ reference: AddressableReference,
                                         _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withTemporaryBytes(capacity: primaryKeyCapacity(reference), { w in
            w.append(primaryPrefix)
            w.appendEscaped(reference.addressableType.utf8)
            w.append(contentsOf: reference.key.utf8)
        }, body)
    }

    /// Calls `body` with the node-index key of the lease on `node` whose primary key is `primaryKey`.
    /// `node` is the node id's UTF-8 bytes.
    @inlinable
    public static func withNodeIndexKey<R>(node: some Collection<UInt8>, primaryKey: UnsafeRawBufferPointer,
                                           _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(primaryKey.first == primaryPrefix, "not a primary lease key")
        return try withTemporaryBytes(capacity: escapedCapacity(node.count) + primaryKey.count, { w in
            w.append(nodeIndexPrefix)
            w.appendEscaped(node)
            w.append(contentsOf: UnsafeRawBufferPointer(rebasing: primaryKey[1...]))
        }, body)
    }

    public static func primaryKey(for reference: AddressableReference) -> [UInt8] {
        withPrimaryKey(reference) { [UInt8]($0) }
    }

    public static func nodeIndexKey(node: NodeId, reference: AddressableReference) -> [UInt8] {
        withPrimaryKey(reference) { pk in withNodeIndexKey(node: node.value.utf8, primaryKey: pk) { [UInt8]($0) } }
    }

    /// Bounds of the primary keys of type `addressableType`, from key `fromKey` (inclusive) when given.
    public static func typeBounds(_ addressableType: String, from fromKey: String? = nil) -> (start: [UInt8], end: [UInt8]) {
        var end = component(primaryPrefix, addressableType)
        var start = end
        if let fromKey { start.append(contentsOf: fromKey.utf8) }
        end[end.count - 1] = 0x02
        return (start, end)
    }

    /// Bounds of the node-index keys of `node`: list-by-node scans only these.
    public static func nodeBounds(_ node: NodeId) -> (start: [UInt8], end: [UInt8]) {
        let start = component(nodeIndexPrefix, node.value)
        var end = start
        end[end.count - 1] = 0x02
        return (start, end)
    }

    static func component(_ prefix: UInt8, _ s: String) -> [UInt8] {
        let cap = 1 + escapedCapacity(s.utf8.count)
        return [UInt8](unsafeUninitializedCapacity: cap) { buf, n in
            var w = ByteWriter(UnsafeMutableRawBufferPointer(buf))
            w.append(prefix)
            w.appendEscaped(s.utf8)
            n = w.count
        }
    }

    // MARK: Reading keys

    /// Whether `primaryKey` is the key of the reference with these type and key bytes.
    @usableFromInline
    static func primaryKey(_ primaryKey: UnsafeRawBufferPointer, matchesType type: UnsafeRawBufferPointer,
                           key: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = primaryKey.count
        guard n > 0, primaryKey[0] == primaryPrefix else { return false }
        i = 1
        for b in type {
            guard i < n, primaryKey[i] == b else { return false }
            i += 1
            if b == 0 {
                guard i < n, primaryKey[i] == 0xFF else { return false }
                i += 1
            }
        }
        guard n - i == 2 + key.count, primaryKey[i] == 0, primaryKey[i + 1] == 1 else { return false }
        i += 2
        return key.elementsEqual(UnsafeRawBufferPointer(rebasing: primaryKey[i...]))
    }

    /// Parses a primary key back into its reference.
    public static func decodePrimaryKey(_ key: UnsafeRawBufferPointer) throws -> AddressableReference {
        guard key.first == primaryPrefix else {
            throw keyError(key, "does not start with the primary prefix 0x4C", at: 0)
        }
        var i = 1
        let type = try unescape(key, &i, "addressable type")
        let rest = try utf8String(key, i..<key.count, "addressable key")
        return AddressableReference(addressableType: type, key: rest)
    }

    public static func decodePrimaryKey(_ key: [UInt8]) throws -> AddressableReference {
        try key.withUnsafeBytes { try decodePrimaryKey($0) }
    }

    /// Parses a node-index key back into its node and reference.
    public static func decodeNodeIndexKey(_ key: UnsafeRawBufferPointer) throws -> (node: NodeId, reference: AddressableReference) {
        guard key.first == nodeIndexPrefix else {
            throw keyError(key, "does not start with the node-index prefix 0x4E", at: 0)
        }
        var i = 1
        let node = try unescape(key, &i, "node id")
        let type = try unescape(key, &i, "addressable type")
        let rest = try utf8String(key, i..<key.count, "addressable key")
        return (NodeId(node), AddressableReference(addressableType: type, key: rest))
    }

    public static func decodeNodeIndexKey(_ key: [UInt8]) throws -> (node: NodeId, reference: AddressableReference) {
        try key.withUnsafeBytes { try decodeNodeIndexKey($0) }
    }

    static func unescape(_ key: UnsafeRawBufferPointer, _ i: inout Int, _ what: String) throws -> String {
        let start = i
        var bytes: [UInt8] = []
        while true {
            guard i + 1 < key.count || (i < key.count && key[i] != 0) else {
                throw keyError(key, "\(what) starting at byte \(start) has no 00 01 terminator", at: i)
            }
            let b = key[i]
            if b != 0 {
                bytes.append(b)
                i += 1
                continue
            }
            switch key[i + 1] {
            case 0x01:
                i += 2
                return try utf8String(bytes, what, key: key, at: start)
            case 0xFF:
                bytes.append(0)
                i += 2
            default:
                throw keyError(key, "bad escape 00 \(hex(key[i + 1])) in \(what)", at: i)
            }
        }
    }

    static func utf8String(_ key: UnsafeRawBufferPointer, _ range: Range<Int>, _ what: String) throws -> String {
        try utf8String([UInt8](UnsafeRawBufferPointer(rebasing: key[range])), what, key: key, at: range.lowerBound)
    }

    static func utf8String(_ bytes: [UInt8], _ what: String, key: UnsafeRawBufferPointer, at offset: Int) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw keyError(key, "\(what) is not valid UTF-8", at: offset)
        }
        return s
    }

    static func keyError(_ key: UnsafeRawBufferPointer, _ message: String, at offset: Int) -> OrbitError {
        OrbitError(.corruption, "lease key \(message) (byte \(offset))", at: "key \(describeBytes(key)) @ byte \(offset)")
    }
}

func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

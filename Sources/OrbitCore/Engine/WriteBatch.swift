/// A reusable, atomic group of puts and deletes, stored flat in one byte buffer.
///
/// Layout per entry: tag (1 byte: 1 = put, 0 = delete), key length (UInt32 LE), value length
/// (UInt32 LE, 0 for delete), key bytes, value bytes. `removeAll()` keeps the capacity, so a
/// client thread that reuses one batch allocates nothing per operation.
public struct WriteBatch: Sendable {
    public enum Operation: UInt8, Sendable { case delete = 0, put = 1 }

    @usableFromInline var buffer: [UInt8] = []
    public private(set) var count = 0

    public init() {}
    public init(reservingCapacity bytes: Int) { buffer.reserveCapacity(bytes) }

    public var isEmpty: Bool { count == 0 }
    /// Bytes of keys and values (and framing) held.
    public var byteCount: Int { buffer.count }

    public mutating func removeAll() {
        buffer.removeAll(keepingCapacity: true)
        count = 0
    }

    public mutating func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        append(.put, key, value)
    }

    public mutating func delete(_ key: UnsafeRawBufferPointer) {
        append(.delete, key, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in put(k, v) } }
    }

    public mutating func delete(_ key: [UInt8]) {
        key.withUnsafeBytes { delete($0) }
    }

    private mutating func append(_ op: Operation, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        precondition(key.count <= Int(UInt32.max) && value.count <= Int(UInt32.max), "key or value over 4 GiB")
        buffer.append(op.rawValue)
        appendU32(UInt32(key.count))
        appendU32(UInt32(value.count))
        buffer.append(contentsOf: key)
        buffer.append(contentsOf: value)
        count += 1
    }

    private mutating func appendU32(_ v: UInt32) {
        buffer.append(UInt8(truncatingIfNeeded: v))
        buffer.append(UInt8(truncatingIfNeeded: v >> 8))
        buffer.append(UInt8(truncatingIfNeeded: v >> 16))
        buffer.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    /// Calls `body` for each entry in insertion order. `value` is empty for deletes.
    /// The pointers are valid only during the call.
    public func forEach(_ body: (Operation, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try buffer.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let op = Operation(rawValue: raw[i])!
                let kl = Int(raw.loadUnaligned(fromByteOffset: i + 1, as: UInt32.self).littleEndian)
                let vl = Int(raw.loadUnaligned(fromByteOffset: i + 5, as: UInt32.self).littleEndian)
                let k = UnsafeRawBufferPointer(rebasing: raw[(i + 9)..<(i + 9 + kl)])
                let v = UnsafeRawBufferPointer(rebasing: raw[(i + 9 + kl)..<(i + 9 + kl + vl)])
                try body(op, k, v)
                i += 9 + kl + vl
            }
        }
    }
}

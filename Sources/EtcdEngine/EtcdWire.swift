import OrbitCore

/// The hot path's protobuf, by hand: PutRequest, RangeRequest and DeleteRangeRequest are encoded
/// straight from the caller's key and value into a connection's reusable buffer, and RangeResponse,
/// PutResponse and DeleteRangeResponse are read in place from the bytes gRPC received (no message
/// objects, no copies of keys or values). Field numbers are etcd's (Protos/etcd/rpc.proto, kv.proto);
/// EtcdEngineTests checks every encoding against swift-protobuf's for the generated messages.
///
/// Every stored key is `prefix + key` (etcd refuses an empty key; the prefix also keeps orbit-bench's
/// keys apart from others on a shared server).
struct WireEncoder {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(4096) }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    mutating func varint(_ v: UInt64) { LEB128.append(v, to: &bytes) }

    /// A varint field (wire type 0); zero is left out, as proto3 encoders do.
    @inline(__always)
    mutating func field(_ number: Int, _ v: UInt64) {
        guard v != 0 else { return }
        varint(UInt64(number << 3))
        varint(v)
    }

    /// A bytes field (wire type 2) of `parts` concatenated; an empty one is left out.
    @inline(__always)
    mutating func field(_ number: Int, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        let n = a.count + b.count
        guard n > 0 else { return }
        varint(UInt64(number << 3 | 2))
        varint(UInt64(n))
        bytes.append(contentsOf: a)
        bytes.append(contentsOf: b)
    }

    /// A bytes field that is present even when empty (a value of zero bytes is a value).
    @inline(__always)
    mutating func presentField(_ number: Int, _ a: UnsafeRawBufferPointer) {
        varint(UInt64(number << 3 | 2))
        varint(UInt64(a.count))
        bytes.append(contentsOf: a)
    }

    /// Starts a length-delimited field whose length is not known yet; `endNested` patches it.
    /// The length is written as a 5-byte varint (padded), which every protobuf decoder accepts.
    mutating func beginNested(_ number: Int) -> Int {
        varint(UInt64(number << 3 | 2))
        let at = bytes.count
        bytes.append(contentsOf: [0x80, 0x80, 0x80, 0x80, 0x00])
        return at
    }

    mutating func endNested(_ at: Int) {
        var n = UInt32(bytes.count - at - 5)
        for i in 0..<4 {
            bytes[at + i] = UInt8(truncatingIfNeeded: n) | 0x80
            n >>= 7
        }
        bytes[at + 4] = UInt8(truncatingIfNeeded: n)
    }

    // MARK: Requests

    /// PutRequest{key = prefix+key (1), value (2)}.
    mutating func put(prefix: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        field(1, prefix, key)
        presentField(2, value)
    }

    /// DeleteRangeRequest{key (1), range_end (2)}.
    mutating func deleteRange(prefix: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) {
        field(1, prefix, key)
    }

    /// RangeRequest for one key: {key (1), serializable (7)}.
    mutating func get(prefix: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, serializable: Bool) {
        field(1, prefix, key)
        field(7, serializable ? 1 : 0)
    }

    /// RangeRequest over [prefix+start, end) in key order: {key (1), range_end (2), limit (3),
    /// revision (4), sort_order (5) = ASCEND, sort_target (6) = KEY, serializable (7),
    /// keys_only (8), count_only (9)}. `end` is the full end key (prefix included).
    mutating func range(prefix: UnsafeRawBufferPointer, start: UnsafeRawBufferPointer, end: UnsafeRawBufferPointer, limit: Int,
                        revision: Int64 = 0, serializable: Bool, countOnly: Bool = false) {
        field(1, prefix, start)
        field(2, end)
        field(3, UInt64(limit))
        field(4, UInt64(bitPattern: revision))
        field(5, 1)
        field(7, serializable ? 1 : 0)
        field(9, countOnly ? 1 : 0)
    }
}

/// A protobuf message read in place: fields one by one.
struct WireReader {
    let base: UnsafeRawBufferPointer
    var at: Int

    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        at = 0
    }

    var atEnd: Bool { at >= base.count }

    @inline(__always)
    mutating func varint() throws -> UInt64 {
        do { return try LEB128.decode(base, &at) } catch { throw WireError.truncated }
    }

    /// The next field: its number, wire type, and for wire type 2 its bytes, for 0 its value.
    @inline(__always)
    mutating func next() throws -> (number: Int, value: UInt64, bytes: UnsafeRawBufferPointer) {
        let tag = try varint()
        let number = Int(tag >> 3)
        switch tag & 7 {
        case 0:
            return (number, try varint(), UnsafeRawBufferPointer(start: nil, count: 0))
        case 2:
            let n = Int(try varint())
            guard n >= 0, n <= base.count - at else { throw WireError.truncated }
            let b = UnsafeRawBufferPointer(rebasing: base[at..<(at + n)])
            at += n
            return (number, 0, b)
        case 1:
            guard base.count - at >= 8 else { throw WireError.truncated }
            at += 8
            return (number, 0, UnsafeRawBufferPointer(start: nil, count: 0))
        case 5:
            guard base.count - at >= 4 else { throw WireError.truncated }
            at += 4
            return (number, 0, UnsafeRawBufferPointer(start: nil, count: 0))
        default:
            throw WireError.badWireType(Int(tag & 7))
        }
    }
}

enum WireError: Error, CustomStringConvertible {
    case truncated
    case badWireType(Int)

    var description: String {
        switch self {
        case .truncated: "a truncated protobuf message"
        case .badWireType(let t): "protobuf wire type \(t) unknown"
        }
    }
}

/// What the hot path reads from responses.
enum WireResponse {
    /// ResponseHeader.revision (3) of a response whose header is field 1.
    static func revision(_ message: UnsafeRawBufferPointer) throws -> Int64 {
        var r = WireReader(message)
        while !r.atEnd {
            let f = try r.next()
            if f.number == 1 {
                var h = WireReader(f.bytes)
                while !h.atEnd {
                    let g = try h.next()
                    if g.number == 3 { return Int64(bitPattern: g.value) }
                }
            }
        }
        return 0
    }

    /// DeleteRangeResponse.deleted (2).
    static func deleted(_ message: UnsafeRawBufferPointer) throws -> Int64 {
        var r = WireReader(message)
        while !r.atEnd {
            let f = try r.next()
            if f.number == 2 { return Int64(bitPattern: f.value) }
        }
        return 0
    }

    /// Visits RangeResponse.kvs (2) in order: each KeyValue's key (1) and value (5). Returns
    /// `more` (3) and `count` (4); stops early (more = true) when `visit` returns false.
    @discardableResult
    static func range(_ message: UnsafeRawBufferPointer,
                      _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> (more: Bool, count: Int64, stopped: Bool) {
        var r = WireReader(message)
        var more = false, count: Int64 = 0
        while !r.atEnd {
            let f = try r.next()
            switch f.number {
            case 2:
                var kv = WireReader(f.bytes)
                var key = UnsafeRawBufferPointer(start: nil, count: 0), value = key
                while !kv.atEnd {
                    let g = try kv.next()
                    if g.number == 1 { key = g.bytes } else if g.number == 5 { value = g.bytes }
                }
                if try !visit(key, value) { return (true, count, true) }
            case 3: more = f.value != 0
            case 4: count = Int64(bitPattern: f.value)
            default: break
            }
        }
        return (more, count, false)
    }
}

/// The identity of an addressable (a virtual actor): its type and its key within that type.
/// The seeds' `AddressableReference`.
///
/// Equality and hashing compare the UTF-8 bytes, as the store does, not Swift's Unicode canonical
/// equivalence: "é" (U+00E9) and "e\u{301}" are different references with different keys.
public struct AddressableReference: Hashable, Sendable, CustomStringConvertible {
    public var addressableType: String
    public var key: String

    public init(addressableType: String, key: String) {
        self.addressableType = addressableType
        self.key = key
    }

    public var description: String { "\(addressableType)/\(key)" }

    public static func == (a: Self, b: Self) -> Bool {
        a.addressableType.utf8.elementsEqual(b.addressableType.utf8) && a.key.utf8.elementsEqual(b.key.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hashUTF8(addressableType, into: &hasher)
        hashUTF8(key, into: &hasher)
    }
}

/// The node (server) that holds a lease. The seeds name it without giving its shape; here it is one
/// string (a cluster namespace, if any, belongs inside it, e.g. "prod/node-7"). Equality and
/// hashing compare UTF-8 bytes, like `AddressableReference`'s.
public struct NodeId: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    public var description: String { value }

    public static func == (a: Self, b: Self) -> Bool { a.value.utf8.elementsEqual(b.value.utf8) }

    public func hash(into hasher: inout Hasher) { hashUTF8(value, into: &hasher) }
}

/// Hashes a string's UTF-8 bytes, length first (so ("ab", "c") and ("a", "bc") differ).
@inlinable
func hashUTF8(_ s: String, into hasher: inout Hasher) {
    let utf8 = s.utf8
    hasher.combine(utf8.count)
    let done: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    if done == nil { for b in utf8 { hasher.combine(b) } }
}

/// Which node holds an addressable, until when. The seeds' `AddressableLease`.
///
/// Times are wall-clock milliseconds since the Unix epoch (`WallClock.nowMillis()`); `leaseDuration`
/// is in milliseconds. `version` grows by one on every renewal.
public struct AddressableLease: Hashable, Sendable, CustomStringConvertible {
    public var reference: AddressableReference
    public var nodeId: NodeId
    /// The lease is expired once `expiresAt <= now`.
    public var expiresAt: Int64
    /// When the holder should renew (normally half-way through the lease).
    public var renewAt: Int64
    /// Milliseconds a grant or renewal lasts.
    public var leaseDuration: Int64
    public var version: UInt64

    public init(reference: AddressableReference, nodeId: NodeId, expiresAt: Int64, renewAt: Int64,
                leaseDuration: Int64, version: UInt64 = 1) {
        self.reference = reference
        self.nodeId = nodeId
        self.expiresAt = expiresAt
        self.renewAt = renewAt
        self.leaseDuration = leaseDuration
        self.version = version
    }

    /// A lease granted at `now` for `duration` ms: expires at `now + duration`, renews at
    /// `now + duration / 2`.
    public init(reference: AddressableReference, nodeId: NodeId, grantedAt now: Int64, duration: Int64,
                version: UInt64 = 1) {
        self.init(reference: reference, nodeId: nodeId, expiresAt: now + duration, renewAt: now + duration / 2,
                  leaseDuration: duration, version: version)
    }

    public func isExpired(at nowMillis: Int64) -> Bool { expiresAt <= nowMillis }

    public var description: String {
        "\(reference) on \(nodeId) v\(version) expires \(expiresAt) renew \(renewAt) (\(leaseDuration) ms)"
    }
}

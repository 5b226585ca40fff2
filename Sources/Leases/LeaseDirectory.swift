import OrbitCore
import Synchronization

/// Leases stored in any `StorageEngine`: a primary keyspace (reference → record) and a node index
/// (node → reference), changed together by the engine's atomic `write(_:)`.
/// Key and record layouts: `LeaseKeys`, `LeaseCodec`, docs/formats/lease-record.md.
///
/// ## Concurrency contract
///
/// Every method may be called from any thread at any time.
///
/// - **Writes to one reference are serialized.** `store`, `renew`, `remove`, the bulk operations and
///   the removals of `cleanupExpired` take the lock of the reference's stripe (one of `stripeCount`
///   mutexes, chosen by a hash of the primary key) around their read-modify-write of record and
///   index, and apply primary and index changes in one engine write batch. So the index holds
///   exactly one entry per lease, on the lease's current node, whatever the interleaving.
/// - **Bulk operations** lock every stripe they touch, in ascending order (no deadlock against each
///   other or against single operations, which hold one stripe) and apply one batch: all or nothing.
/// - **Reads take no directory lock.** `get` sees a whole record (one engine `get`). `listAll` and
///   `leases(ofType:)` are one engine scan, as consistent as the engine's scan is.
///   `listLeases(node:)` scans the node's index entries and then reads each lease: a lease removed
///   or moved away meanwhile is left out (every lease returned was on that node when it was read),
///   and one moved onto the node after the index scan is missed.
/// - **`cleanupExpired`** reads the clock once, finds candidates with an unlocked scan, then
///   re-checks each under its stripe lock before removing it, so a renewal that lands first wins.
///   It removes in batches of `cleanupBatchSize` leases; each batch is atomic, the whole sweep is not.
/// - **One directory per keyspace.** Locks live in this object: two directories over one engine, or
///   writers that go around the directory to keys starting with 0x4C or 0x4E, void the index
///   guarantee. Other prefixes are free for other users of the engine.
///
/// A stored record that fails its checksum or does not match its key makes the operation that
/// reads it throw `OrbitError(.corruption)`; nothing is silently skipped or overwritten.
public final class LeaseDirectory<E: StorageEngine>: Sendable {
    public let engine: E
    public let clock: any WallClock
    /// Leases removed per atomic batch by `cleanupExpired`.
    public let cleanupBatchSize: Int

    @usableFromInline let stripes: [LeaseStripe]
    @usableFromInline let stripeMask: Int

    /// - Parameters:
    ///   - clock: the time `cleanupExpired` and `renew` use.
    ///   - stripeCount: writer locks (a power of two).
    public init(engine: E, clock: any WallClock = SystemWallClock(), stripeCount: Int = 64,
                cleanupBatchSize: Int = 256) {
        precondition(stripeCount > 0 && stripeCount & (stripeCount - 1) == 0, "stripeCount must be a power of two")
        precondition(cleanupBatchSize > 0, "cleanupBatchSize must be positive")
        self.engine = engine
        self.clock = clock
        self.cleanupBatchSize = cleanupBatchSize
        self.stripes = (0..<stripeCount).map { _ in LeaseStripe() }
        self.stripeMask = stripeCount - 1
    }

    public var stripeCount: Int { stripes.count }

    // MARK: Single-lease operations

    /// Inserts or replaces the lease of `lease.reference`, as given (version included). Moving it to
    /// another node replaces its index entry in the same atomic write; storing it on the node it is
    /// already on writes the record alone.
    @inlinable
    public func store(_ lease: AddressableLease) throws {
        try LeaseKeys.withPrimaryKey(lease.reference) { pk in
            try withStripe(of: pk) { batch in
                let sameNode = try stageIndexUpdate(for: lease, primaryKey: pk, into: &batch)
                try LeaseCodec.withEncoded(lease) { record in
                    if sameNode {
                        try engine.put(pk, record)
                    } else {
                        batch.put(pk, record)
                        try engine.write(batch)
                    }
                }
            }
        }
    }

    /// The lease of `reference`, expired or not; nil when there is none.
    @inlinable
    public func get(_ reference: AddressableReference) throws -> AddressableLease? {
        try LeaseKeys.withPrimaryKey(reference) { pk in
            try engine.get(pk) { value in
                guard let value else { return nil }
                return try checkedView(value, primaryKey: pk).lease(value, reference: reference, node: nil)
            }
        }
    }

    /// Removes the lease of `reference` and its index entry. Returns whether there was one.
    @inlinable
    @discardableResult
    public func remove(_ reference: AddressableReference) throws -> Bool {
        try LeaseKeys.withPrimaryKey(reference) { pk in
            try withStripe(of: pk) { batch in
                let found = try stageRemoval(primaryKey: pk, into: &batch, ifExpiredAt: nil)
                if found { try engine.write(batch) }
                return found
            }
        }
    }

    /// Renews the lease of `reference`: `expiresAt = now + duration`, `renewAt = now + duration / 2`,
    /// `version + 1`, same node. `duration` defaults to the lease's own `leaseDuration`, `now` to the
    /// clock. Returns the renewed lease, or nil when there is none. An expired lease that
    /// `cleanupExpired` has not removed yet is renewed too (check `isExpired(at:)` on `get` first if
    /// that matters).
    @inlinable
    public func renew(_ reference: AddressableReference, duration: Int64? = nil, at now: Int64? = nil) throws -> AddressableLease? {
        if let duration, duration <= 0 {
            throw OrbitError(.invalidArgument, "lease duration \(duration) ms is not positive", at: "renew \(reference)")
        }
        let now = now ?? clock.nowMillis()
        return try LeaseKeys.withPrimaryKey(reference) { pk in
            try withStripe(of: pk) { _ -> AddressableLease? in
                let current: AddressableLease? = try engine.get(pk) { value in
                    guard let value else { return nil }
                    return try checkedView(value, primaryKey: pk).lease(value, reference: reference, node: nil)
                }
                guard var lease = current else { return nil }
                let d = duration ?? lease.leaseDuration
                guard d > 0 else {
                    throw OrbitError(.invalidArgument, "stored lease duration \(d) ms is not positive",
                                     at: "renew \(reference)", hint: "pass duration:")
                }
                let (expires, overflow) = now.addingReportingOverflow(d)
                guard !overflow else {
                    throw OrbitError(.invalidArgument, "now \(now) + duration \(d) overflows Int64", at: "renew \(reference)")
                }
                lease.expiresAt = expires
                lease.renewAt = now + d / 2
                lease.leaseDuration = d
                lease.version &+= 1
                try LeaseCodec.withEncoded(lease) { try engine.put(pk, $0) }
                return lease
            }
        }
    }

    // MARK: Queries

    /// The leases held by `node`, ordered by (addressableType, key). Scans only that node's index
    /// entries, then reads each lease.
    @inlinable
    public func listLeases(node: NodeId) throws -> [AddressableLease] {
        let bounds = LeaseKeys.nodeBounds(node)
        var keys = KeyList()
        try scan(bounds.start, bounds.end) { indexKey, _ in
            // The index key is 'N' · esc(node) · tail; the primary key is 'L' · tail.
            keys.append(prefix: LeaseKeys.primaryPrefix, UnsafeRawBufferPointer(rebasing: indexKey[bounds.start.count...]))
            return true
        }
        var out: [AddressableLease] = []
        out.reserveCapacity(keys.count)
        try keys.forEach { pk in
            let lease: AddressableLease? = try engine.get(pk) { value in
                guard let value else { return nil }  // removed since the index scan
                let view = try checkedView(value, primaryKey: pk)
                guard UnsafeRawBufferPointer(rebasing: value[view.node]).elementsEqual(node.value.utf8) else {
                    return nil  // moved to another node since the index scan
                }
                return try view.lease(value, reference: nil, node: node)
            }
            if let lease { out.append(lease) }
        }
        return out
    }

    /// Every lease, ordered by (addressableType, key).
    @inlinable
    public func listAll() throws -> [AddressableLease] {
        try scanLeases(LeaseKeys.primaryBounds.start, LeaseKeys.primaryBounds.end, limit: 0)
    }

    /// The leases of one addressable type, ordered by key: a range scan of that type's keys only.
    /// - Parameters:
    ///   - fromKey: start at this key (inclusive), for paging.
    ///   - limit: at most this many (0: no limit).
    @inlinable
    public func leases(ofType addressableType: String, from fromKey: String? = nil, limit: Int = 0) throws -> [AddressableLease] {
        let bounds = LeaseKeys.typeBounds(addressableType, from: fromKey)
        return try scanLeases(bounds.start, bounds.end, limit: limit)
    }

    @inlinable
    func scanLeases(_ start: [UInt8], _ end: [UInt8], limit: Int) throws -> [AddressableLease] {
        var out: [AddressableLease] = []
        try scan(start, end, limit: limit) { pk, value in
            out.append(try checkedView(value, primaryKey: pk).lease(value, reference: nil, node: nil))
            return true
        }
        return out
    }

    // MARK: Bulk operations

    /// Stores every lease in one atomic write (all or none). When a reference appears more than once,
    /// the last lease for it wins.
    @inlinable
    public func storeAll(_ leases: [AddressableLease]) throws {
        guard !leases.isEmpty else { return }
        var last: [AddressableReference: Int] = [:]
        last.reserveCapacity(leases.count)
        for (i, lease) in leases.enumerated() { last[lease.reference] = i }
        var keys = KeyList()
        var chosen: [Int] = []
        chosen.reserveCapacity(last.count)
        for (i, lease) in leases.enumerated() where last[lease.reference] == i {
            LeaseKeys.withPrimaryKey(lease.reference) { keys.append($0) }
            chosen.append(i)
        }
        var batch = WriteBatch()
        try withStripes(of: keys) {
            var i = 0
            try keys.forEach { pk in
                let lease = leases[chosen[i]]
                i += 1
                _ = try stageIndexUpdate(for: lease, primaryKey: pk, into: &batch)
                LeaseCodec.withEncoded(lease) { batch.put(pk, $0) }
            }
            try engine.write(batch)
        }
    }

    /// Removes the leases of every reference given (absent ones are skipped) in one atomic write.
    /// Returns how many there were.
    @inlinable
    @discardableResult
    public func removeAll(_ references: [AddressableReference]) throws -> Int {
        var keys = KeyList()
        var seen = Set<AddressableReference>()
        seen.reserveCapacity(references.count)
        for reference in references where seen.insert(reference).inserted {
            LeaseKeys.withPrimaryKey(reference) { keys.append($0) }
        }
        guard keys.count > 0 else { return 0 }
        var batch = WriteBatch()
        return try withStripes(of: keys) {
            var removed = 0
            try keys.forEach { pk in
                if try stageRemoval(primaryKey: pk, into: &batch, ifExpiredAt: nil) { removed += 1 }
            }
            if removed > 0 { try engine.write(batch) }
            return removed
        }
    }

    /// Removes every lease with `expiresAt <= clock.nowMillis()` (the clock is read once) and its index
    /// entry. Returns how many were removed.
    @inlinable
    @discardableResult
    public func cleanupExpired() throws -> Int {
        let now = clock.nowMillis()
        var candidates = KeyList()
        try scan(LeaseKeys.primaryBounds.start, LeaseKeys.primaryBounds.end) { pk, value in
            if try checkedView(value, primaryKey: pk).expiresAt <= now { candidates.append(pk) }
            return true
        }
        var removed = 0
        var batch = WriteBatch()
        var chunk = KeyList()
        var index = 0
        while index < candidates.count {
            chunk.removeAll()
            let upper = min(index + cleanupBatchSize, candidates.count)
            for i in index..<upper { candidates.withKey(at: i) { chunk.append($0) } }
            index = upper
            batch.removeAll()
            try withStripes(of: chunk) {
                var n = 0
                try chunk.forEach { pk in
                    if try stageRemoval(primaryKey: pk, into: &batch, ifExpiredAt: now) { n += 1 }
                }
                if n > 0 { try engine.write(batch) }
                removed += n
            }
        }
        return removed
    }

    // MARK: Checking

    /// Compares the node index with the primary records and describes every difference (an index
    /// entry missing for a lease, or one that points at no lease or at a lease on another node).
    /// Empty means consistent. Reads the whole keyspace; meant for tests, CrashLab and tools, on a
    /// quiescent directory.
    public func indexProblems() throws -> [String] {
        var expected = Set<[UInt8]>()
        try scan(LeaseKeys.primaryBounds.start, LeaseKeys.primaryBounds.end) { pk, value in
            let view = try checkedView(value, primaryKey: pk)
            LeaseKeys.withNodeIndexKey(node: UnsafeRawBufferPointer(rebasing: value[view.node]), primaryKey: pk) {
                _ = expected.insert([UInt8]($0))
            }
            return true
        }
        var problems: [String] = []
        var actual = Set<[UInt8]>()
        try scan(LeaseKeys.nodeIndexBounds.start, LeaseKeys.nodeIndexBounds.end) { key, value in
            let k = [UInt8](key)
            actual.insert(k)
            if !expected.contains(k) { problems.append("stray index entry \(Self.describeIndexKey(k))") }
            if !value.isEmpty { problems.append("index entry \(Self.describeIndexKey(k)) has a \(value.count)-byte value") }
            return true
        }
        for k in expected.subtracting(actual).sorted(by: { compareBytes($0, $1) < 0 }) {
            problems.append("missing index entry \(Self.describeIndexKey(k))")
        }
        return problems
    }

    static func describeIndexKey(_ key: [UInt8]) -> String {
        if let (node, ref) = try? LeaseKeys.decodeNodeIndexKey(key) { return "\(node) → \(ref)" }
        return describeBytes(key)
    }

    // MARK: Internals

    /// Reads the record under `primaryKey` and stages in `batch` the index changes that storing
    /// `lease` there needs. Returns true when the stored lease is already on `lease.nodeId` (the
    /// index needs no change).
    @inlinable
    func stageIndexUpdate(for lease: AddressableLease, primaryKey pk: UnsafeRawBufferPointer,
                          into batch: inout WriteBatch) throws -> Bool {
        let sameNode = try engine.get(pk) { old -> Bool in
            guard let old else { return false }
            let oldNode = UnsafeRawBufferPointer(rebasing: old[try checkedView(old, primaryKey: pk).node])
            if oldNode.elementsEqual(lease.nodeId.value.utf8) { return true }
            LeaseKeys.withNodeIndexKey(node: oldNode, primaryKey: pk) { batch.delete($0) }
            return false
        }
        if !sameNode {
            LeaseKeys.withNodeIndexKey(node: lease.nodeId.value.utf8, primaryKey: pk) {
                batch.put($0, UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
        return sameNode
    }

    /// Stages the removal of the lease under `primaryKey` and its index entry, if there is one (and,
    /// with `ifExpiredAt`, if it has expired by then). Returns whether it staged anything.
    @inlinable
    func stageRemoval(primaryKey pk: UnsafeRawBufferPointer, into batch: inout WriteBatch, ifExpiredAt now: Int64?) throws -> Bool {
        try engine.get(pk) { value -> Bool in
            guard let value else { return false }
            let view = try checkedView(value, primaryKey: pk)
            if let now, view.expiresAt > now { return false }
            LeaseKeys.withNodeIndexKey(node: UnsafeRawBufferPointer(rebasing: value[view.node]), primaryKey: pk) {
                batch.delete($0)
            }
            batch.delete(pk)
            return true
        }
    }

    /// Parses the record stored under `pk` and checks it is that key's record; errors name the key.
    @inlinable
    func checkedView(_ value: UnsafeRawBufferPointer, primaryKey pk: UnsafeRawBufferPointer) throws -> RecordView {
        do {
            let view = try RecordView(value)
            guard LeaseKeys.primaryKey(pk, matchesType: UnsafeRawBufferPointer(rebasing: value[view.type]),
                                       key: UnsafeRawBufferPointer(rebasing: value[view.key])) else {
                throw OrbitError(.corruption, "lease record holds another reference than the key it is stored under")
            }
            return view
        } catch var error as OrbitError {
            error.location = "lease key \(describeBytes(pk))" + (error.location.map { ", " + $0 } ?? "")
            throw error
        }
    }

    /// Scans [start, end) of the engine.
    @inlinable
    func scan(_ start: [UInt8], _ end: [UInt8], limit: Int = 0,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try start.withUnsafeBytes { s in
            try end.withUnsafeBytes { e in
                _ = try engine.scan(from: s, to: e, limit: limit, visit)
            }
        }
    }

    @inlinable
    func stripeIndex(_ pk: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in pk { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 32)) & stripeMask
    }

    /// Runs `body` under the lock of `pk`'s stripe, with that stripe's (emptied) batch.
    @inlinable
    func withStripe<R: Sendable>(of pk: UnsafeRawBufferPointer, _ body: (inout WriteBatch) throws -> R) throws -> R {
        try stripes[stripeIndex(pk)].batch.withLock { batch in
            batch.removeAll()
            return try body(&batch)
        }
    }

    /// Runs `body` holding the locks of every stripe the keys fall in, taken in ascending order.
    @inlinable
    func withStripes<R: Sendable>(of keys: KeyList, _ body: () throws -> R) throws -> R {
        var ids: [Int] = []
        ids.reserveCapacity(keys.count)
        keys.forEach { ids.append(stripeIndex($0)) }
        ids.sort()
        var unique: [Int] = []
        for id in ids where unique.last != id { unique.append(id) }
        return try lockStripes(unique[...], body)
    }

    @inlinable
    func lockStripes<R: Sendable>(_ ids: ArraySlice<Int>, _ body: () throws -> R) throws -> R {
        guard let first = ids.first else { return try body() }
        return try stripes[first].batch.withLock { _ in try lockStripes(ids.dropFirst(), body) }
    }
}

/// One writer lock, guarding the write batch its holder reuses (so single-lease writes allocate no
/// batch once warm).
@usableFromInline
final class LeaseStripe: Sendable {
    @usableFromInline let batch = Lock(WriteBatch())
    @usableFromInline init() {}
}

/// Keys packed into one buffer (no allocation per key).
@usableFromInline
struct KeyList {
    @usableFromInline var bytes: [UInt8] = []
    @usableFromInline var ends: [Int] = []

    @inlinable init() {}

    @inlinable var count: Int { ends.count }

    @inlinable mutating func append(_ key: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: key)
        ends.append(bytes.count)
    }

    @inlinable mutating func append(prefix: UInt8, _ rest: UnsafeRawBufferPointer) {
        bytes.append(prefix)
        bytes.append(contentsOf: rest)
        ends.append(bytes.count)
    }

    @inlinable mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    @inlinable func withKey<R>(at i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let lo = i == 0 ? 0 : ends[i - 1]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[lo..<ends[i]])) }
    }

    @inlinable func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { all in
            var lo = 0
            for hi in ends {
                try body(UnsafeRawBufferPointer(rebasing: all[lo..<hi]))
                lo = hi
            }
        }
    }
}

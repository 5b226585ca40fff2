import OrbitCore

/// What the I/O-error sweep wrote, and what each key may hold when read back: the oracle.
///
/// Every write (a put or a delete; a batch is one write per entry) gets an id, and a put's value
/// carries its id in its first 8 bytes (the rest is a pattern of the id), so a read maps back to
/// the write it came from, and a value no write made is caught as wrong.
struct WriteHistory {
    enum Status { case inFlight, acknowledged, inDoubt }

    struct Write {
        var key: Int
        var isPut: Bool
        var status: Status
    }

    /// What a read back may show.
    enum Rule {
        /// A live store, or one reopened after a process crash: every acknowledged write.
        case acknowledged
        /// A store reopened after a power loss: every write made durable (acknowledged under a
        /// syncing mode, or before a successful `sync()`).
        case durable
    }

    enum Finding: Equatable {
        /// The newest write the rule requires.
        case current
        /// Allowed, but older than the newest acknowledged write (an unsynced write was lost).
        case olderAllowed
        /// Older than a write the rule requires: an acknowledged (or synced) write is missing.
        case lost
        /// A key whose required write is a delete holds an older value.
        case resurrected
        /// A value no write to this key made.
        case wrong
    }

    private(set) var writes: [Write] = []
    private(set) var byKey: [[Int]]
    /// Acknowledged writes with an id below this survive a power loss.
    private(set) var durableUpTo = 0
    let valueSize: Int

    init(keys: Int, valueSize: Int) {
        byKey = Array(repeating: [], count: keys)
        self.valueSize = max(8, valueSize)
    }

    var keyCount: Int { byKey.count }

    static func key(_ k: Int) -> [UInt8] { Array("key\(1_000_000 + k)".utf8) }

    /// The index `key(_:)` was made from (nil: not such a key).
    static func index(ofKey key: UnsafeRawBufferPointer) -> Int? {
        guard key.count > 3, key[0] == 0x6B, key[1] == 0x65, key[2] == 0x79 else { return nil }
        var n = 0
        for c in key.dropFirst(3) {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            n = n * 10 + Int(c - 0x30)
        }
        return n >= 1_000_000 ? n - 1_000_000 : nil
    }

    func value(_ id: Int) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: valueSize)
        var x = UInt64(id)
        for i in 0..<8 { v[i] = UInt8(truncatingIfNeeded: x); x >>= 8 }
        for i in 8..<valueSize { v[i] = UInt8(truncatingIfNeeded: id &* 31 &+ i) }
        return v
    }

    /// The write a value came from, if it is well formed.
    func writeID(of value: [UInt8]) -> Int? {
        guard value.count == valueSize else { return nil }
        var x: UInt64 = 0
        for i in (0..<8).reversed() { x = x << 8 | UInt64(value[i]) }
        guard x < UInt64(writes.count), self.value(Int(x)) == value else { return nil }
        return Int(x)
    }

    mutating func begin(key: Int, isPut: Bool) -> Int {
        writes.append(Write(key: key, isPut: isPut, status: .inFlight))
        byKey[key].append(writes.count - 1)
        return writes.count - 1
    }

    mutating func finish(_ ids: [Int], acknowledged: Bool, durable: Bool) {
        for id in ids { writes[id].status = acknowledged ? .acknowledged : .inDoubt }
        if acknowledged && durable { durableUpTo = writes.count }
    }

    /// A successful `sync()`: every acknowledged write so far is durable.
    mutating func synced() { durableUpTo = writes.count }

    var acknowledgedCount: Int { writes.count { $0.status == .acknowledged } }
    var durableCount: Int { writes[..<durableUpTo].count { $0.status == .acknowledged } }

    /// Checks what a read of key `k` returned against `rule`.
    func check(_ k: Int, _ found: [UInt8]?, _ rule: Rule) -> Finding {
        let ids = byKey[k]
        let required = ids.lastIndex { id in
            writes[id].status == .acknowledged && (rule == .acknowledged || id < durableUpTo)
        }
        let newestAcknowledged = ids.lastIndex { writes[$0].status == .acknowledged }
        let allowedFrom = required ?? 0
        let requiredIsPut = required.map { writes[ids[$0]].isPut } ?? false
        guard let found else {
            // Absent: allowed when nothing is required, the required write is a delete, or a later
            // delete (acknowledged or in doubt) may have landed.
            if !requiredIsPut || ids[(required.map { $0 + 1 } ?? 0)...].contains(where: { !writes[$0].isPut }) {
                return newestAcknowledged.map { writes[ids[$0]].isPut } == true && (required ?? -1) < newestAcknowledged!
                    ? .olderAllowed : .current
            }
            return .lost
        }
        guard let id = writeID(of: found), let position = ids.firstIndex(of: id), writes[id].isPut else { return .wrong }
        if required == nil || position >= allowedFrom {
            return newestAcknowledged.map { position < $0 } == true ? .olderAllowed : .current
        }
        return requiredIsPut ? .lost : .resurrected
    }
}

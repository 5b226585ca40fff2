/// The prefix rule for one store across crash cycles: after a crash, the recovered state must equal
/// the acknowledged history applied up to some point `p` — each operation (a batch included) all or
/// nothing, the operation in flight at the crash in or out — with `p` at or past every operation
/// the engine had made durable. Nothing deleted comes back, no value is served under the wrong key.
///
/// Keys are indices into a fixed key space; a state is one version per key (0 = absent), versions
/// being the sweep's unique, increasing write numbers (`VersionedValueCodec`).
///
/// Usage per cycle: `begin` an operation, `acknowledge` it when the engine returns, `markSynced`
/// when a completed sync (or a syncing acknowledgement) covers everything acknowledged so far;
/// after the crash, `verify` the recovered state, then `rebase` onto it to continue.
public struct HistoryOracle: Sendable {
    /// One write of an operation: key index, version (0 = delete).
    public struct Write: Sendable, Hashable {
        public var key: Int
        public var version: UInt64
        public init(key: Int, version: UInt64) { self.key = key; self.version = version }
    }

    /// What a recovered state showed.
    public struct Verdict: Sendable {
        /// The largest prefix the state equals (counting the in-flight operation as the last one),
        /// nil when it equals no prefix at all.
        public var prefix: Int?
        public var acknowledged: Int
        public var synced: Int
        /// Acknowledged operations covered by a sync that the state does not hold.
        public var lostSynced: Int
        /// Acknowledged, unsynced operations the state does not hold (allowed).
        public var lostUnsynced: Int
        /// Keys present whose durable history ends in a delete.
        public var resurrected: Int
        /// Keys whose value is not one this key was ever given (damaged or another key's).
        public var wrongValues: Int
        public var inFlightApplied: Bool
        public var ok: Bool
        /// What broke, key by key (a few), for the record's detail column.
        public var problems: [String]
    }

    public let keyCount: Int
    /// The state the current cycle started from.
    public private(set) var base: [UInt64]
    /// Acknowledged operations of this cycle, in order.
    public private(set) var history: [[Write]] = []
    /// The operation started and not acknowledged (it failed: the crash), if any.
    public private(set) var inFlight: [Write]? = nil
    /// How many of `history` a completed sync covers.
    public private(set) var synced = 0

    public init(keyCount: Int) {
        self.keyCount = keyCount
        base = [UInt64](repeating: 0, count: keyCount)
        current = base
    }

    public mutating func begin(_ op: [Write]) {
        precondition(inFlight == nil, "an operation is already in flight")
        inFlight = op
    }

    public mutating func acknowledge() {
        guard let op = inFlight else { preconditionFailure("nothing in flight") }
        history.append(op)
        for w in op { current[w.key] = w.version }
        inFlight = nil
    }

    /// The version each key holds after every acknowledged operation (0: absent).
    public private(set) var current: [UInt64]

    /// Every acknowledged operation so far is durable.
    public mutating func markSynced() { synced = history.count }

    /// The state after the first `p` acknowledged operations (p = count + 1: with the in-flight one).
    public func state(at p: Int) -> [UInt64] {
        var s = base
        for (i, op) in operations.enumerated() where i < p { for w in op { s[w.key] = w.version } }
        return s
    }

    private var operations: [[Write]] { inFlight.map { history + [$0] } ?? history }

    /// Checks `recovered` (version per key, 0 absent; `wrong` lists keys whose value did not decode as
    /// a value written for that key) against the prefix rule.
    public func verify(_ recovered: [UInt64], wrong: Set<Int> = []) -> Verdict {
        precondition(recovered.count == keyCount)
        let ops = operations
        let maxP = ops.count
        // Per key, the intervals of p where its state equals the recovered one; a difference array
        // counts for each p how many written keys agree, so the feasible prefixes are those where all do.
        var writes: [Int: [(op: Int, version: UInt64)]] = [:]
        for (i, op) in ops.enumerated() { for w in op { writes[w.key, default: []].append((i, w.version)) } }
        var diff = [Int](repeating: 0, count: maxP + 2)
        var problems: [String] = []
        var wrongValues = 0
        var unwrittenMismatch = false
        var keyFeasible: [Int: [(Int, Int)]] = [:]
        for k in 0..<keyCount {
            if wrong.contains(k) { wrongValues += 1; continue }
            guard let ws = writes[k] else {
                if recovered[k] != base[k] {
                    unwrittenMismatch = true
                    if problems.count < 4 { problems.append("key \(k): v\(recovered[k]) but untouched this cycle at v\(base[k])") }
                    if recovered[k] != 0 && !everHeld(k, recovered[k]) { wrongValues += 1 }
                }
                continue
            }
            // Segment j covers p in [lo, hi] with state `value`.
            var intervals: [(Int, Int)] = []
            var lo = 0
            var value = base[k]
            for w in ws {
                if value == recovered[k] { intervals.append((lo, w.op)) }
                lo = w.op + 1
                value = w.version
            }
            if value == recovered[k] { intervals.append((lo, maxP)) }
            keyFeasible[k] = intervals
            for (a, b) in intervals { diff[a] += 1; diff[b + 1] -= 1 }
        }
        var prefix: Int? = nil
        if !unwrittenMismatch && wrongValues == 0 {
            var run = 0
            let need = writes.count
            for p in 0...maxP {
                run += diff[p]
                if run == need { prefix = p }
            }
        }

        let acknowledged = history.count
        var v = Verdict(prefix: prefix, acknowledged: acknowledged, synced: synced, lostSynced: 0, lostUnsynced: 0,
                        resurrected: 0, wrongValues: wrongValues, inFlightApplied: false, ok: false, problems: problems)
        if let p = prefix, p >= synced {
            v.ok = true
            v.inFlightApplied = inFlight != nil && p == maxP
            v.lostUnsynced = max(0, acknowledged - p)
            return v
        }
        // Broken: say which keys, against the state at the synced point.
        let durable = state(at: synced)
        for k in 0..<keyCount where !wrong.contains(k) {
            let feasibleAfterSync = (keyFeasible[k] ?? (recovered[k] == base[k] ? [(0, maxP)] : [])).contains { $0.1 >= synced }
            if feasibleAfterSync { continue }
            if recovered[k] != 0 && durable[k] == 0 && everHeld(k, recovered[k]) {
                v.resurrected += 1
                if v.problems.count < 6 { v.problems.append("key \(k): deleted (synced) but v\(recovered[k]) came back") }
            } else if recovered[k] != 0 && !everHeld(k, recovered[k]) {
                v.wrongValues += 1
                if v.problems.count < 6 { v.problems.append("key \(k): v\(recovered[k]) was never written to it") }
            } else {
                v.lostSynced += 1
                if v.problems.count < 6 { v.problems.append("key \(k): synced v\(durable[k]), recovered v\(recovered[k])") }
            }
        }
        if let p = prefix {
            v.lostSynced = max(v.lostSynced, synced - p)
            v.problems.append("state is the prefix of \(p) operations, \(synced) were synced")
        } else if v.problems.isEmpty || (v.lostSynced == 0 && v.resurrected == 0 && v.wrongValues == 0) {
            v.problems.append("keys agree one by one but with no single prefix (a later operation kept, an earlier synced one lost)")
        }
        v.lostUnsynced = max(0, acknowledged - max(prefix ?? 0, synced))
        return v
    }

    /// Whether key `k` held `version` at some point of this cycle (or at its start).
    private func everHeld(_ k: Int, _ version: UInt64) -> Bool {
        if base[k] == version { return true }
        return operations.contains { op in op.contains { $0.key == k && $0.version == version } }
    }

    /// Starts the next cycle from `recovered` (what the store now holds).
    public mutating func rebase(onto recovered: [UInt64]) {
        precondition(recovered.count == keyCount)
        base = recovered
        current = recovered
        history = []
        inFlight = nil
        synced = 0
    }
}

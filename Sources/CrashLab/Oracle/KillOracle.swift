/// What the store must hold after a crash, from what the worker acknowledged before it.
///
/// It keeps, per record of the key space, the last acknowledged state (a version or absent) and
/// whether that acknowledgement came after a sync. After a crash it checks a recovered state against
/// it: every acknowledged write present with its last acknowledged value, or with the value of an
/// operation still in flight at the kill (an in-flight batch all or nothing); no deleted key back.
/// Then it adopts the recovered state, so the next cycle continues from what the store really holds.
public struct KillOracle: Sendable {
    /// A record's state: absent, or holding the value written by operation `version`.
    public enum State: Sendable, Hashable, CustomStringConvertible {
        case absent
        case value(version: Int)
        /// A value that no write of this record ever had (wrong key, wrong bytes).
        case foreign

        public var description: String {
            switch self {
            case .absent: "absent"
            case .value(let v): "v\(v)"
            case .foreign: "a value never written to it"
            }
        }
    }

    struct Entry: Sendable {
        var state: State = .absent
        /// The acknowledged op that set `state` (-1: the initial state, or adopted after a crash).
        var op: Int = -1
        var synced = true
    }

    /// The outcome of one verification.
    public struct Verification: Sendable, Hashable {
        /// Acknowledged writes missing (absent, or an older value: a stale read) whose ack came after a sync.
        public var lostSynced = 0
        /// ... whose ack came before any sync (allowed after a power loss, not after a process kill).
        public var lostUnsynced = 0
        /// Keys an acknowledged delete removed that came back.
        public var resurrected = 0
        /// Values no write of that key ever had.
        public var wrong = 0
        /// In-flight batches recovered in part.
        public var tornBatches = 0
        /// In-flight operations whose effect is in the recovered store.
        public var inFlightRecovered = 0
        /// Acknowledged operations of the cycle with a lost write.
        public var lostOps = 0
        /// The first few problems, for crash.csv's detail column.
        public var problems: [String] = []

        public var isClean: Bool { lostSynced == 0 && lostUnsynced == 0 && resurrected == 0 && wrong == 0 && tornBatches == 0 }
    }

    public let recordCount: Int
    var entries: [Entry]
    /// Ops begun in the current cycle, by index.
    var begun: [Int: KillOp] = [:]
    var acknowledged: [Int] = []
    public private(set) var ackedSynced = 0

    public init(recordCount: Int) {
        self.recordCount = recordCount
        entries = Array(repeating: Entry(), count: recordCount)
    }

    /// The expected (last acknowledged) state of a record.
    public func expected(_ record: Int) -> State { entries[record].state }

    public var acknowledgedCount: Int { acknowledged.count }

    /// The worker announced an op (before issuing it).
    public mutating func begin(_ op: KillOp) { begun[op.index] = op }

    /// The worker acknowledged op `index` (it returned). Unknown indices are ignored (returns false).
    @discardableResult
    public mutating func acknowledge(_ index: Int, synced: Bool) -> Bool {
        guard let op = begun.removeValue(forKey: index) else { return false }
        for e in op.entries where e.record < recordCount {
            entries[e.record] = Entry(state: e.put ? .value(version: op.index) : .absent, op: op.index, synced: synced)
        }
        acknowledged.append(index)
        if synced { ackedSynced += 1 }
        return true
    }

    /// Ops begun and not acknowledged: in flight at the kill.
    public var inFlight: [KillOp] { begun.values.sorted { $0.index < $1.index } }

    /// Checks the recovered state (`recovered[record]`), adopts it, and starts a new cycle.
    public mutating func verifyAndAdopt(_ recovered: [State]) -> Verification {
        precondition(recovered.count == recordCount)
        var v = Verification()
        let flying = inFlight
        // The state each in-flight op would leave per record.
        var flyingStates: [Int: [(op: Int, state: State)]] = [:]
        for op in flying {
            for e in op.entries where e.record < recordCount {
                flyingStates[e.record, default: []].append((op.index, e.put ? .value(version: op.index) : .absent))
            }
        }
        var lostOps = Set<Int>()
        var recoveredFlying = Set<Int>()
        for r in 0..<recordCount {
            let e = entries[r]
            let g = recovered[r]
            if g == e.state { continue }
            if let f = flyingStates[r], let hit = f.first(where: { $0.state == g }) {
                recoveredFlying.insert(hit.op)
                continue
            }
            func note(_ s: String) { if v.problems.count < 5 { v.problems.append(s) } }
            switch (e.state, g) {
            case (_, .foreign):
                v.wrong += 1
                note("record \(r): \(g) (expected \(e.state))")
            case (.value(let want), .absent), (.value(let want), .value(_)):
                if case .value(let got) = g, got > want {
                    v.wrong += 1
                    note("record \(r): v\(got) newer than the last acknowledged v\(want) and not in flight")
                } else {
                    if e.synced { v.lostSynced += 1 } else { v.lostUnsynced += 1 }
                    if e.op >= 0 { lostOps.insert(e.op) }
                    note("record \(r): \(g == .absent ? "missing" : "stale \(g)"), acknowledged v\(want)\(e.synced ? " (synced)" : " (not synced)")")
                }
            case (.absent, .value(let got)):
                if got < e.op || e.op < 0 {
                    v.resurrected += 1
                    note("record \(r): deleted by op \(e.op) but v\(got) came back")
                } else {
                    v.wrong += 1
                    note("record \(r): v\(got) never acknowledged and not in flight")
                }
            default:
                v.wrong += 1
                note("record \(r): \(g) (expected \(e.state))")
            }
        }
        // An in-flight batch is all or nothing.
        for op in flying where op.isBatch && recoveredFlying.contains(op.index) {
            let applied = op.entries.filter { e in
                e.record < recordCount && recovered[e.record] == (e.put ? State.value(version: op.index) : .absent)
            }.count
            if applied != op.entries.count {
                v.tornBatches += 1
                if v.problems.count < 5 { v.problems.append("batch op \(op.index): \(applied) of \(op.entries.count) entries recovered") }
            }
        }
        v.inFlightRecovered = recoveredFlying.count
        v.lostOps = lostOps.count
        // Adopt what the store holds: the next cycle continues from it.
        for r in 0..<recordCount where recovered[r] != entries[r].state {
            entries[r] = Entry(state: recovered[r], op: -1, synced: true)
        }
        begun = [:]
        acknowledged = []
        ackedSynced = 0
        return v
    }
}

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
        /// When the acknowledgement came (MonotonicClock ns; 0: not recorded, or adopted).
        var ackedAt: UInt64 = 0
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
        /// Acknowledged batches found applied in part (`acknowledgedMayBeLost`): an entry holds the
        /// batch's value while another holds an older one.
        public var tornAcknowledgedBatches = 0
        /// Acknowledged batches none of whose entries survived (`acknowledgedMayBeLost`): not applied, not torn.
        public var lostBatches = 0
        /// The earliest acknowledgement time (MonotonicClock ns) of a lost write, if any lost one had one.
        public var oldestLostAckedAt: UInt64?
        /// The first few problems, for crash.csv's detail column.
        public var problems: [String] = []

        public var isClean: Bool {
            lostSynced == 0 && lostUnsynced == 0 && resurrected == 0 && wrong == 0 && tornBatches == 0 && tornAcknowledgedBatches == 0
        }
    }

    public let recordCount: Int
    var entries: [Entry]
    /// Ops begun in the current cycle, by index.
    var begun: [Int: KillOp] = [:]
    var acknowledged: [Int] = []
    /// The batches acknowledged in the current cycle.
    var acknowledgedBatches: [KillOp] = []
    /// Per record, the indices of this cycle's ops (acknowledged or begun) that delete it.
    var deletesThisCycle: [Int: [Int]] = [:]
    /// Per record, this cycle's acknowledged writes of it in order (op, put or delete, ack time): when
    /// several were lost, the oldest lost one is the first after what was recovered.
    var acksThisCycle: [Int: [(op: Int, put: Bool, at: UInt64)]] = [:]
    public private(set) var ackedSynced = 0

    public init(recordCount: Int) {
        self.recordCount = recordCount
        entries = Array(repeating: Entry(), count: recordCount)
    }

    /// The expected (last acknowledged) state of a record.
    public func expected(_ record: Int) -> State { entries[record].state }

    public var acknowledgedCount: Int { acknowledged.count }

    /// The worker announced an op (before issuing it).
    public mutating func begin(_ op: KillOp) {
        begun[op.index] = op
        for e in op.entries where !e.put { deletesThisCycle[e.record, default: []].append(op.index) }
    }

    /// The worker acknowledged op `index` (it returned). Unknown indices are ignored (returns false).
    @discardableResult
    public mutating func acknowledge(_ index: Int, synced: Bool, at nanos: UInt64 = 0) -> Bool {
        guard let op = begun.removeValue(forKey: index) else { return false }
        for e in op.entries where e.record < recordCount {
            entries[e.record] = Entry(state: e.put ? .value(version: op.index) : .absent, op: op.index, synced: synced, ackedAt: nanos)
            acksThisCycle[e.record, default: []].append((op.index, e.put, nanos))
        }
        acknowledged.append(index)
        if op.isBatch { acknowledgedBatches.append(op) }
        if synced { ackedSynced += 1 }
        return true
    }

    /// Ops begun and not acknowledged: in flight at the kill.
    public var inFlight: [KillOp] { begun.values.sorted { $0.index < $1.index } }

    /// Checks the recovered state (`recovered[record]`), adopts it, and starts a new cycle.
    ///
    /// `acknowledgedMayBeLost`: the crash may lose acknowledged writes that were not synced (a server
    /// killed under a mode that replies before it syncs). Then a lost unsynced delete is counted as
    /// lost (`lostUnsynced`), not as a resurrection, and every acknowledged batch is checked to be all
    /// or nothing as well: one with an entry holding the batch's value and another holding an older
    /// one is torn; one none of whose entries survived is "not applied" (`lostBatches`), not torn.
    public mutating func verifyAndAdopt(_ recovered: [State], acknowledgedMayBeLost: Bool = false) -> Verification {
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
        /// Record `r`'s lost acknowledged writes: this cycle's acks of it after the recovered state
        /// (its version; for an absent record the last acknowledged delete before the last ack).
        func noteLostAck(_ r: Int, _ e: Entry, recovered g: State) {
            var floor = -1
            if case .value(let got) = g { floor = got } else if let d = acksThisCycle[r]?.last(where: { !$0.put && $0.op < e.op }) { floor = d.op }
            let lost = (acksThisCycle[r] ?? []).filter { $0.op > floor }
            for a in lost { lostOps.insert(a.op) }
            if let first = lost.first(where: { $0.at > 0 }) {
                v.oldestLostAckedAt = min(v.oldestLostAckedAt ?? .max, first.at)
            } else if e.ackedAt > 0 {
                v.oldestLostAckedAt = min(v.oldestLostAckedAt ?? .max, e.ackedAt)
            }
        }
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
                    noteLostAck(r, e, recovered: g)
                    note("record \(r): \(g == .absent ? "missing" : "stale \(g)"), acknowledged v\(want)\(e.synced ? " (synced)" : " (not synced)")")
                }
            case (.absent, .value(let got)):
                if acknowledgedMayBeLost, !e.synced, e.op >= 0, got < e.op {
                    // The delete was acknowledged before a sync and lost with the crash: the older value is back.
                    v.lostUnsynced += 1
                    lostOps.insert(e.op)
                    noteLostAck(r, e, recovered: g)
                    note("record \(r): v\(got) back, its delete by op \(e.op) lost (not synced)")
                } else if got < e.op || e.op < 0 {
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
        // The newest in-flight op per record: an entry of an in-flight batch that a later op wrote
        // again (acknowledged, or in flight) no longer shows whether the batch applied. A crashed
        // process's in-flight batch is its writer's last; a writer that goes on after a failed call
        // (node-kill) writes its records again.
        var newestFlying: [Int: Int] = [:]
        for op in flying { for e in op.entries where e.record < recordCount { newestFlying[e.record] = max(newestFlying[e.record] ?? -1, op.index) } }
        func observable(_ e: KillOp.Entry, of op: KillOp) -> Bool {
            e.record < recordCount && entries[e.record].op < op.index && (newestFlying[e.record] ?? -1) <= op.index
        }
        // An in-flight batch is all or nothing.
        for op in flying where op.isBatch && recoveredFlying.contains(op.index) {
            if acknowledgedMayBeLost {
                // An absent record no longer shows that a delete of the batch applied: an earlier
                // acknowledged put of it may have been lost instead. Only a put holding the batch's
                // value is evidence that it applied; evidence that an entry did not is a put without
                // that value or a deleted record holding one (no later op touches them: the batch is
                // its writer's last).
                var applied = 0, notApplied = 0
                for e in op.entries where observable(e, of: op) {
                    let g = recovered[e.record]
                    if e.put {
                        if g == .value(version: op.index) { applied += 1 } else { notApplied += 1 }
                    } else if g != .absent {
                        notApplied += 1
                    }
                }
                if applied > 0 && notApplied > 0 {
                    v.tornBatches += 1
                    if v.problems.count < 5 {
                        v.problems.append("in-flight batch op \(op.index): \(applied) puts recovered, \(notApplied) entries not")
                    }
                }
                continue
            }
            let seen = op.entries.filter { observable($0, of: op) }
            let applied = seen.filter { e in recovered[e.record] == (e.put ? State.value(version: op.index) : .absent) }.count
            if applied != seen.count {
                v.tornBatches += 1
                if v.problems.count < 5 {
                    v.problems.append("batch op \(op.index): \(applied) of \(seen.count) entries recovered"
                                      + (seen.count < op.entries.count ? " (\(op.entries.count - seen.count) written again since)" : ""))
                }
            }
        }
        if acknowledgedMayBeLost {
            for op in acknowledgedBatches {
                var survived = 0, lost = 0
                for e in op.entries where e.record < recordCount {
                    switch recovered[e.record] {
                    case .value(let got) where got == op.index:
                        if e.put { survived += 1 }
                    case .value(let got) where got < op.index:
                        lost += 1  // older than the batch: neither it nor a later write of the record survived
                    case .absent where e.put:
                        // Absent is the batch lost unless a later op of this cycle deleted the record.
                        if !(deletesThisCycle[e.record] ?? []).contains(where: { $0 > op.index }) { lost += 1 }
                    default:
                        break  // a later write's state: says nothing about this batch
                    }
                }
                if survived > 0 && lost > 0 {
                    v.tornAcknowledgedBatches += 1
                    if v.problems.count < 5 {
                        v.problems.append("acknowledged batch op \(op.index): \(survived) entries hold its values, \(lost) an older state")
                    }
                } else if survived == 0 && lost > 0 {
                    v.lostBatches += 1
                }
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
        acknowledgedBatches = []
        deletesThisCycle = [:]
        acksThisCycle = [:]
        ackedSynced = 0
        return v
    }
}

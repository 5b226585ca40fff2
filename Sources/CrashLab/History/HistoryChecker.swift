/// A recorded concurrent history of one store, and its checker: per-key linearizability of gets
/// against puts and deletes, and whether each scan is a snapshot of one moment.
///
/// Every write has a unique id (a put's value carries it; a delete has one too), so a read maps to
/// exactly one write — or, for "absent", to the initial state or one of the key's deletes. Times are
/// monotonic nanoseconds: `invoked` just before the call, `responded` just after it returned.
///
/// The rule (sound: it flags nothing a linearizable store could do). A write w takes effect at some
/// moment of [w.invoked, w.responded]. It is *definitely superseded* at time t when a write w' of the
/// same key began after w ended (w'.invoked > w.responded, so w' took effect after w) and w' had
/// taken effect by t: w'.responded <= t, or a read that returned w' had ended by t. So w can be the
/// key's value only in the window [w.invoked, end(w)), end(w) being the earliest such t. A get is
/// consistent when the window of what it returned meets [invoked, responded]; a scan when one moment
/// of [invoked, responded] lies in the windows of every key of its range (the windows of "absent" are
/// those of the initial state and of every delete). Writes that failed would never end (none fail in
/// this method: a failing call is reported as a broken run).
public struct RecordedHistory: Sendable {
    public struct Write: Sendable {
        public var id: UInt64
        public var key: Int
        public var isDelete: Bool
        public var invoked: UInt64
        public var responded: UInt64
    }

    public struct Read: Sendable {
        public var key: Int
        /// The write id it returned; 0: absent; nil: a value no write of this key made.
        public var observed: UInt64?
        public var invoked: UInt64
        public var responded: UInt64
    }

    public struct Scan: Sendable {
        /// Keys [lower, upper) of the key space.
        public var lower: Int
        public var upper: Int
        /// Per key of the range (index key - lower): the write id seen (0 absent, nil wrong).
        public var observed: [UInt64?]
        public var invoked: UInt64
        public var responded: UInt64
        /// A key outside the range, twice, or out of order (the scan itself misbehaved).
        public var malformed: String?
    }

    public var keyCount: Int
    public var writes: [Write] = []
    public var reads: [Read] = []
    public var scans: [Scan] = []

    public init(keyCount: Int) { self.keyCount = keyCount }

    /// One violation, for the record's detail.
    public struct Violation: Sendable, CustomStringConvertible {
        public var description: String
    }

    typealias Window = (lo: UInt64, hi: UInt64)  // [lo, hi)

    /// Checks every read and scan; returns the violations (empty: the history is consistent).
    public func check(limit: Int = 20) -> (violations: Int, first: [Violation]) {
        let t0 = min(writes.map(\.invoked).min() ?? 0, reads.map(\.invoked).min() ?? 0, scans.map(\.invoked).min() ?? 0)
        func rel(_ t: UInt64) -> String { t == .max ? "∞" : "\((t &- t0) / 1000)µs" }
        // Per key: its writes and, per write id, when some read had seen it (it had taken effect).
        var byKey = [[Write]](repeating: [], count: keyCount)
        var byID: [UInt64: Write] = [:]
        for w in writes { byKey[w.key].append(w); byID[w.id] = w }
        var seenBy: [UInt64: UInt64] = [:]
        for r in reads { if let id = r.observed, id != 0 { seenBy[id] = min(seenBy[id] ?? .max, r.responded) } }
        for s in scans { for o in s.observed { if let id = o, id != 0 { seenBy[id] = min(seenBy[id] ?? .max, s.responded) } } }

        // end(w) per write, and the initial state's end, per key.
        var end: [UInt64: UInt64] = [:]
        // Which write superseded it, and whether a read (rather than its own response) showed it.
        var cause: [UInt64: (id: UInt64, seen: Bool)] = [:]
        var initialEnd = [UInt64](repeating: .max, count: keyCount)
        var initialCause: [Int: (id: UInt64, seen: Bool)] = [:]
        for k in 0..<keyCount {
            let ws = byKey[k].sorted { $0.invoked < $1.invoked }
            // Suffix minimum of the moment each write had surely taken effect, and its write.
            var suffix = [UInt64](repeating: .max, count: ws.count + 1)
            var who = [(id: UInt64, seen: Bool)?](repeating: nil, count: ws.count + 1)
            for i in stride(from: ws.count - 1, through: 0, by: -1) {
                let seen = seenBy[ws[i].id] ?? .max
                let t = min(ws[i].responded, seen)
                if t < suffix[i + 1] { suffix[i] = t; who[i] = (ws[i].id, seen < ws[i].responded) } else { suffix[i] = suffix[i + 1]; who[i] = who[i + 1] }
            }
            initialEnd[k] = suffix[0]
            initialCause[k] = who[0]
            for w in ws {
                // First write that began after w ended.
                var lo = 0, hi = ws.count
                while lo < hi { let m = (lo + hi) / 2; if ws[m].invoked > w.responded { hi = m } else { lo = m + 1 } }
                end[w.id] = suffix[lo]
                cause[w.id] = who[lo]
            }
        }
        // Why the value a read returned was stale: the write that had superseded it by then.
        func staleBecause(_ observed: UInt64?, key k: Int, before t: UInt64) -> String {
            guard let id = observed else { return "" }
            let c: (id: UInt64, seen: Bool)?
            if id == 0 {
                // Absent: the initial state's and every delete's window had closed by t; name the
                // one that closed last.
                var best: (end: UInt64, cause: (id: UInt64, seen: Bool)?) = (initialEnd[k], initialCause[k])
                for w in byKey[k] where w.isDelete {
                    if let e = end[w.id], e <= t, e >= best.end || best.end > t { best = (e, cause[w.id]) }
                }
                c = best.cause
            } else { c = cause[id] }
            guard let c, let w = byID[c.id] else { return "" }
            return "; superseded by \(w.isDelete ? "delete" : "write") \(w.id) [\(rel(w.invoked)), \(rel(w.responded))]"
                + (c.seen ? ", which a read that ended at \(rel(seenBy[w.id]!)) had already returned" : "")
        }
        func windows(key k: Int, observed: UInt64?) -> [Window]? {
            guard let id = observed else { return nil }
            if id != 0 {
                guard let w = byID[id], w.key == k, !w.isDelete else { return nil }
                return [(w.invoked, sat(end[id]!))]
            }
            var out: [Window] = [(0, sat(initialEnd[k]))]
            for w in byKey[k] where w.isDelete { out.append((w.invoked, sat(end[w.id]!))) }
            return merge(out)
        }

        var count = 0
        var first: [Violation] = []
        func flag(_ s: @autoclosure () -> String) {
            count += 1
            if first.count < limit { first.append(Violation(description: s())) }
        }
        for r in reads {
            guard let ws = windows(key: r.key, observed: r.observed) else {
                flag("get key \(r.key) at [\(rel(r.invoked)), \(rel(r.responded))]: a value no write of this key made"); continue
            }
            if intersect(ws, [(r.invoked, r.responded &+ 1)]).isEmpty {
                flag("get key \(r.key) at [\(rel(r.invoked)), \(rel(r.responded))] returned "
                     + describe(r.observed, byID, rel) + staleBecause(r.observed, key: r.key, before: r.invoked))
            }
        }
        for s in scans {
            if let m = s.malformed { flag("scan [\(s.lower), \(s.upper)) at [\(rel(s.invoked)), \(rel(s.responded))]: \(m)"); continue }
            var feasible: [Window] = [(s.invoked, s.responded &+ 1)]
            var culprit: String? = nil
            for (i, o) in s.observed.enumerated() {
                let k = s.lower + i
                guard let ws = windows(key: k, observed: o) else { culprit = "key \(k): a value no write of this key made"; feasible = []; break }
                let next = intersect(feasible, ws)
                if next.isEmpty {
                    culprit = "key \(k) returned " + describe(o, byID, rel) + staleBecause(o, key: k, before: s.responded)
                    feasible = []
                    break
                }
                feasible = next
            }
            if feasible.isEmpty {
                flag("scan [\(s.lower), \(s.upper)) at [\(rel(s.invoked)), \(rel(s.responded))] is no single moment's state: \(culprit ?? "")")
            }
        }
        return (count, first)
    }

    private func describe(_ id: UInt64?, _ byID: [UInt64: Write], _ rel: (UInt64) -> String) -> String {
        guard let id else { return "garbage" }
        if id == 0 { return "absent" }
        guard let w = byID[id] else { return "unknown write \(id)" }
        return "write \(id) [\(rel(w.invoked)), \(rel(w.responded))]"
    }
}

/// One past `t`, saturating: windows are half-open, and a tie of two clock readings is resolved in
/// the store's favour (the order of two calls that read the same nanosecond is unknown).
@inline(__always) func sat(_ t: UInt64) -> UInt64 { t == .max ? .max : t + 1 }

/// Sorted, disjoint, half-open windows.
func merge(_ ws: [(lo: UInt64, hi: UInt64)]) -> [(lo: UInt64, hi: UInt64)] {
    let s = ws.filter { $0.lo < $0.hi }.sorted { $0.lo < $1.lo }
    var out: [(lo: UInt64, hi: UInt64)] = []
    for w in s {
        if let last = out.last, w.lo <= last.hi { out[out.count - 1].hi = max(last.hi, w.hi) } else { out.append(w) }
    }
    return out
}

func intersect(_ a: [(lo: UInt64, hi: UInt64)], _ b: [(lo: UInt64, hi: UInt64)]) -> [(lo: UInt64, hi: UInt64)] {
    var out: [(lo: UInt64, hi: UInt64)] = []
    var i = 0, j = 0
    while i < a.count && j < b.count {
        let lo = max(a[i].lo, b[j].lo), hi = min(a[i].hi, b[j].hi)
        if lo < hi { out.append((lo, hi)) }
        if a[i].hi < b[j].hi { i += 1 } else { j += 1 }
    }
    return out
}

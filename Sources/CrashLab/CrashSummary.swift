import OrbitCore
import Runner
import Foundation

/// The summary of a crash run: one row per engine × durability × method, from the crash records.
public struct CrashSummaryRow: Sendable, Hashable {
    public var engine: String
    public var durability: String
    public var method: String
    public var cycles = 0
    public var acknowledged = 0
    public var synced = 0
    public var recovered = 0
    public var lostSynced = 0
    public var lostUnsynced = 0
    public var resurrected = 0
    public var recoveryP50Ms = 0.0
    public var recoveryMaxMs = 0.0
    /// Median clean reopen (a store closed cleanly) for comparison, ms (nil when the method has none).
    public var cleanReopenP50Ms: Double?
    /// The engine's promise for the mode (what survives), from `durabilityPromise(for:)`.
    public var promise: String
    public var broken = 0

    public var held: Bool { broken == 0 }
    public var verdict: String { held ? "held" : "BROKEN (\(broken) of \(cycles))" }

    /// Groups records in first-seen order.
    public static func rows(_ records: [CrashRecord]) -> [CrashSummaryRow] {
        var order: [String] = []
        var groups: [String: [CrashRecord]] = [:]
        for r in records {
            let k = "\(r.engine)|\(r.durability)|\(r.method.rawValue)"
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(r)
        }
        return order.map { k in
            let rs = groups[k]!
            let first = rs[0]
            let mode = DurabilityMode(parsing: first.durability) ?? .none
            var row = CrashSummaryRow(engine: first.engine, durability: first.durability, method: first.method.rawValue,
                                      promise: Engines.durabilityPromise(first.engine, mode).survives.rawValue)
            row.cycles = rs.count
            for r in rs {
                row.acknowledged += r.opsAcknowledged
                row.synced += r.opsSynced
                row.recovered += r.opsRecovered
                row.lostSynced += r.lostSynced
                row.lostUnsynced += r.lostUnsynced
                row.resurrected += r.resurrected
                if r.verdict == .broken { row.broken += 1 }
            }
            let times = rs.map(\.recoveryMs).sorted()
            row.recoveryP50Ms = median(times)
            row.recoveryMaxMs = times.last ?? 0
            let clean = rs.compactMap { r -> Double? in
                guard let range = r.detail.range(of: "clean_reopen_ms=") else { return nil }
                let v = Double(r.detail[range.upperBound...].prefix { $0 != ";" })
                return v.flatMap { $0 >= 0 ? $0 : nil }
            }.sorted()
            row.cleanReopenP50Ms = clean.isEmpty ? nil : median(clean)
            return row
        }
    }

    static func median(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    public static let columns = ["engine", "durability", "method", "cycles", "acknowledged", "synced", "recovered", "lost_synced",
                                 "lost_unsynced", "resurrected", "recovery_p50_ms", "recovery_max_ms", "clean_reopen_p50_ms",
                                 "promise", "verdict"]

    public var cells: [String] {
        [engine, durability, method, String(cycles), String(acknowledged), String(synced), String(recovered), String(lostSynced),
         String(lostUnsynced), String(resurrected), formatDouble(recoveryP50Ms, decimals: 2), formatDouble(recoveryMaxMs, decimals: 2),
         cleanReopenP50Ms.map { formatDouble($0, decimals: 2) } ?? "-", promise, verdict]
    }

    /// The summary table (aligned columns), as printed at the end of a crash run and in crash-summary.txt.
    public static func table(_ rows: [CrashSummaryRow]) -> String {
        let all = [columns] + rows.map(\.cells)
        var widths = Array(repeating: 0, count: columns.count)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for (n, r) in all.enumerated() {
            out += r.enumerated().map { i, c in
                i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
            if n == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return out
    }
}

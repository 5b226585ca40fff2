public import OrbitCore

/// One operation of the kill worker, as the worker announces it on its pipe before issuing it:
/// a put, a delete, or an atomic batch of puts and deletes of distinct keys. Every put writes a
/// versioned value that names its key and version (the op's global index), so the verifier can
/// tell which write a recovered value came from.
public struct KillOp: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var record: Int
        /// false: a delete.
        public var put: Bool
        public init(record: Int, put: Bool) {
            self.record = record
            self.put = put
        }
    }

    /// Global operation number (unique over all cycles of a sweep): the version of the values it writes.
    public var index: Int
    public var entries: [Entry]
    /// Issued as one `write(WriteBatch)` (all or nothing), even with one entry.
    public var isBatch: Bool

    public init(index: Int, entries: [Entry], isBatch: Bool) {
        self.index = index
        self.entries = entries
        self.isBatch = isBatch
    }

    /// A value is "k=<record>;v=<version>;" padded with '.' to the value size.
    public static let minimumValueSize = 40

    public static func key(_ record: Int, size: Int) -> [UInt8] {
        let digits = Array(String(record).utf8)
        return [UInt8](repeating: UInt8(ascii: "0"), count: max(0, size - digits.count)) + digits
    }

    /// The record whose key (`key(_:size:)`) `bytes` is exactly: nil for any other key.
    public static func record(ofKey bytes: UnsafeRawBufferPointer, size: Int) -> Int? {
        guard bytes.count == size, size > 0 else { return nil }
        var r = 0
        for b in bytes {
            guard b >= 0x30, b <= 0x39 else { return nil }
            let (times10, o1) = r.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int(b - 0x30))
            guard !o1, !o2 else { return nil }
            r = next
        }
        return key(r, size: size).elementsEqual(bytes) ? r : nil
    }

    public static func value(record: Int, version: Int, size: Int) -> [UInt8] {
        var v = Array("k=\(record);v=\(version);".utf8)
        if v.count < size { v += [UInt8](repeating: UInt8(ascii: "."), count: size - v.count) }
        return v
    }

    /// The version a stored value says it has, if it is exactly the value `value(record:version:size:)`
    /// makes for this record (nil: not a value this record was ever written with).
    public static func version(of bytes: UnsafeRawBufferPointer, record: Int, size: Int) -> Int? {
        let prefix = Array("k=\(record);v=".utf8)
        guard bytes.count >= prefix.count else { return nil }
        for (i, b) in prefix.enumerated() where bytes[i] != b { return nil }
        var i = prefix.count
        var v = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, digits < 19 {
            v = v * 10 + Int(bytes[i] - 0x30)
            i += 1
            digits += 1
        }
        guard digits > 0 else { return nil }
        let expected = value(record: record, version: v, size: size)
        guard expected.count == bytes.count, expected.elementsEqual(bytes) else { return nil }
        return v
    }

    // MARK: - The pipe protocol (one line per message, ASCII)

    /// "B <index> <p|d|w> <+rec|-rec>[,...]": about to issue the op.
    public var beginLine: String {
        "B \(index) \(isBatch ? "w" : (entries[0].put ? "p" : "d")) "
            + entries.map { ($0.put ? "+" : "-") + String($0.record) }.joined(separator: ",") + "\n"
    }

    /// Parses a begin line (without its newline).
    public static func parseBegin(_ line: Substring) -> KillOp? {
        let parts = line.split(separator: " ")
        guard parts.count == 4, parts[0] == "B", let index = Int(parts[1]) else { return nil }
        var entries: [Entry] = []
        for e in parts[3].split(separator: ",") {
            guard let sign = e.first, sign == "+" || sign == "-", let r = Int(e.dropFirst()) else { return nil }
            entries.append(Entry(record: r, put: sign == "+"))
        }
        guard !entries.isEmpty else { return nil }
        return KillOp(index: index, entries: entries, isBatch: parts[2] == "w")
    }

    /// "A <index> <S|U>": the op returned; S: acknowledged after a sync, U: not synced.
    public static func ackLine(_ index: Int, synced: Bool) -> String { "A \(index) \(synced ? "S" : "U")\n" }

    public static func parseAck(_ line: Substring) -> (index: Int, synced: Bool)? {
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "A", let index = Int(parts[1]), parts[2] == "S" || parts[2] == "U" else { return nil }
        return (index, parts[2] == "S")
    }

    /// The worker's op generator: seeded, so a sweep replays from its seed.
    public static func generate(index: Int, plan: CrashPlan, rng: inout SeededRNG) -> KillOp {
        if plan.batchFraction > 0, Double(rng.next() >> 11) / Double(1 << 53) < plan.batchFraction {
            var entries: [Entry] = []
            var seen = Set<Int>()
            let n = min(plan.batchSize, plan.recordCount)
            while entries.count < n {
                let r = Int(rng.next() % UInt64(plan.recordCount))
                guard seen.insert(r).inserted else { continue }
                entries.append(Entry(record: r, put: Double(rng.next() >> 11) / Double(1 << 53) >= plan.deleteShare))
            }
            return KillOp(index: index, entries: entries, isBatch: true)
        }
        let r = Int(rng.next() % UInt64(plan.recordCount))
        let put = Double(rng.next() >> 11) / Double(1 << 53) >= plan.deleteShare
        return KillOp(index: index, entries: [Entry(record: r, put: put)], isBatch: false)
    }
}

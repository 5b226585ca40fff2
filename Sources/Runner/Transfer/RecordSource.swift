public import OrbitCore

/// A pull-based, ordered stream of entries: an export file (`ExportReader`) or a store read in pages
/// (`StoreCursor`), so `validate` walks two of them side by side with bounded memory.
public protocol RecordSource: AnyObject {
    /// Moves to the next entry; false at the end.
    func next() throws -> Bool
    /// Lends the current entry's key and value.
    func withRecord<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R
}

extension ExportReader: RecordSource {}

/// Reads a store in key order, `pageSize` entries per scan, resuming after the last key seen: a
/// store's entries as a pull stream with one page in memory.
public final class StoreCursor<E: StorageEngine>: RecordSource {
    private let engine: E
    private let pageSize: Int
    private var buffer: [UInt8] = []
    private var entries: [(key: Range<Int>, value: Range<Int>)] = []
    private var index = -1
    private var lastKey: [UInt8] = []
    private var started = false
    private var exhausted = false

    public init(_ engine: E, pageSize: Int = 512) {
        self.engine = engine
        self.pageSize = pageSize
    }

    public func next() throws -> Bool {
        index += 1
        if index < entries.count { return true }
        guard !exhausted else { return false }
        if index > 0 { lastKey = Array(buffer[entries[entries.count - 1].key]) }
        buffer.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        index = 0
        let resume = started
        started = true
        // Scan from the last key (inclusive) and skip it: the one resumable form every engine has.
        let want = pageSize + (resume ? 1 : 0)
        let visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool = { k, v in
            if resume, self.entries.isEmpty, self.lastKey.withUnsafeBytes({ compareBytes($0, k) }) == 0, !self.skipped {
                self.skipped = true
                return true
            }
            let ks = self.buffer.count
            self.buffer.append(contentsOf: k)
            let vs = self.buffer.count
            self.buffer.append(contentsOf: v)
            self.entries.append((ks..<vs, vs..<self.buffer.count))
            return true
        }
        skipped = false
        let seen: Int
        if resume {
            seen = try lastKey.withUnsafeBytes { try engine.scan(from: $0, to: nil, limit: want, visit) }
        } else {
            seen = try engine.scan(from: nil, to: nil, limit: want, visit)
        }
        if seen < want { exhausted = true }
        return !entries.isEmpty
    }

    private var skipped = false

    public func withRecord<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        let e = entries[index]
        return try buffer.withUnsafeBytes { p in
            try body(UnsafeRawBufferPointer(rebasing: p[e.key]), UnsafeRawBufferPointer(rebasing: p[e.value]))
        }
    }
}

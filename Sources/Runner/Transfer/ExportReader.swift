public import OrbitCore

/// Reads an export stream (`ExportFormat`) one record at a time, verifying as it goes: the header's
/// checksum, each chunk's CRC before any of its records is handed out, strictly ascending keys, and
/// the trailer's count, size and digest. Memory holds one chunk. Every damage is an error naming the
/// file and the offset (`ExportFormat.damaged`; code `.corruption` unless the caller chose another).
public final class ExportReader {
    public let path: String
    public let header: ExportFormat.Header
    public let fileSize: Int64
    /// Where the next chunk (or the trailer) starts.
    public private(set) var offset: Int64
    /// The trailer's account, once `next()` has returned false.
    public private(set) var summary: ExportFormat.Summary?
    public private(set) var records: UInt64 = 0

    private let file: POSIXFileSystem.File
    private let code: OrbitError.Code
    private var payload: [UInt8] = []
    private var payloadOffset: Int64 = 0
    private var position = 0
    private var chunkLeft: UInt32 = 0
    private var keyRange = 0..<0
    private var valueRange = 0..<0
    private var previousKey: [UInt8] = []
    private var payloadBytes: UInt64 = 0
    private var digest: UInt32 = 0

    /// Opens `path` read-only and verifies its header. `code` is the code of every damage error
    /// (`import` makes it `.invalidArgument`: a damaged input is bad input, exit status 2).
    public init(path: String, code: OrbitError.Code = .corruption) throws {
        self.path = path
        self.code = code
        let fs = POSIXFileSystem()
        do {
            file = try fs.open(path, .read)
        } catch let e as OrbitError {
            throw OrbitError(.invalidArgument, "cannot open the export file", at: path, hint: "give a file `orbit-bench export` wrote", cause: e.cause)
        }
        fileSize = try file.size()
        func fail(_ at: Int64, _ what: String) -> OrbitError {
            var e = ExportFormat.damaged(path, at, what)
            e.code = code
            return e
        }
        let fixed = ExportFormat.headerFixed
        guard fileSize >= Int64(fixed) else {
            if fileSize >= Int64(ExportFormat.magic.count), try file.read(count: ExportFormat.magic.count, at: 0) != ExportFormat.magic {
                throw fail(0, "not an orbit-bench export file (no ORBXPORT magic)")
            }
            throw fail(fileSize, "truncated: the file ends inside the header (\(fileSize) bytes)")
        }
        let head = try file.read(count: fixed, at: 0)
        guard Array(head[0..<8]) == ExportFormat.magic else { throw fail(0, "not an orbit-bench export file (no ORBXPORT magic)") }
        let (version, textLength) = head.withUnsafeBytes {
            (ExportFormat.load(UInt32.self, $0, 8), Int(ExportFormat.load(UInt32.self, $0, 12)))
        }
        guard version == ExportFormat.version else {
            throw fail(8, "unsupported export format version \(version) (this build reads version \(ExportFormat.version))")
        }
        guard textLength <= ExportFormat.maxHeaderText else { throw fail(12, "header text length \(textLength) is larger than \(ExportFormat.maxHeaderText)") }
        let end = Int64(fixed + textLength + 4)
        guard fileSize >= end else { throw fail(fileSize, "truncated: the file ends inside the header (\(fileSize) bytes)") }
        let all = try file.read(count: fixed + textLength + 4, at: 0)
        let stored = all.withUnsafeBytes { ExportFormat.load(UInt32.self, $0, fixed + textLength) }
        let crc = all.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<fixed + textLength])) }
        guard CRC32C.unmask(stored) == crc else { throw fail(Int64(fixed + textLength), "header checksum mismatch") }
        var fields: [String: String] = [:]
        for line in String(decoding: all[fixed..<fixed + textLength], as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let engine = fields["source_engine"], !engine.isEmpty else { throw fail(Int64(fixed), "the header names no source_engine") }
        header = ExportFormat.Header(sourceEngine: engine, sourceVersion: fields["source_version"] ?? "")
        offset = end
    }

    deinit { try? file.close() }

    private func fail(_ at: Int64, _ what: String) -> OrbitError {
        var e = ExportFormat.damaged(path, at, what)
        e.code = code
        return e
    }

    /// Moves to the next record; false at the end of the stream, after the trailer has been verified.
    public func next() throws -> Bool {
        while chunkLeft == 0 {
            if summary != nil { return false }
            try readFrame()
        }
        let recordOffset = payloadOffset + Int64(position)
        keyRange = try field(recordOffset)
        valueRange = try field(recordOffset)
        chunkLeft -= 1
        if chunkLeft == 0, position != payload.count {
            throw fail(payloadOffset + Int64(position), "the chunk's records end before its payload (\(payload.count - position) bytes left)")
        }
        let order = payload.withUnsafeBytes { p in
            previousKey.withUnsafeBytes { compareBytes($0, UnsafeRawBufferPointer(rebasing: p[keyRange])) }
        }
        if records > 0, order >= 0 { throw fail(recordOffset, "keys out of order (record \(records + 1) is not after the one before it)") }
        previousKey.removeAll(keepingCapacity: true)
        previousKey.append(contentsOf: payload[keyRange])
        records += 1
        return true
    }

    /// Lends the current record's key and value to `body`.
    public func withRecord<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try payload.withUnsafeBytes { p in
            try body(UnsafeRawBufferPointer(rebasing: p[keyRange]), UnsafeRawBufferPointer(rebasing: p[valueRange]))
        }
    }

    /// The current record's key and value, copied (for messages and tests).
    public var key: [UInt8] { Array(payload[keyRange]) }
    public var value: [UInt8] { Array(payload[valueRange]) }

    /// Reads every remaining record and returns the verified trailer.
    @discardableResult
    public func verifyToEnd(_ each: ((UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> ExportFormat.Summary {
        while try next() { if let each { try withRecord(each) } }
        return summary!
    }

    private func field(_ recordOffset: Int64) throws -> Range<Int> {
        var length: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < payload.count else { throw fail(recordOffset, "a record runs past the end of its chunk") }
            let b = payload[position]
            position += 1
            guard shift < 35 else { throw fail(recordOffset, "a record's length is not a valid varint") }
            length |= UInt64(b & 0x7f) << shift
            if b < 0x80 { break }
            shift += 7
        }
        guard length <= UInt64(payload.count - position) else { throw fail(recordOffset, "a record runs past the end of its chunk") }
        let r = position..<position + Int(length)
        position += Int(length)
        return r
    }

    private func readFrame() throws {
        let at = offset
        guard at < fileSize else {
            throw fail(at, "truncated: the file ends after \(records) records with no trailer")
        }
        let tag = try file.read(count: 1, at: at)[0]
        if tag == ExportFormat.trailerTag { return try readTrailer(at) }
        guard tag == ExportFormat.chunkTag else { throw fail(at, "unknown frame tag 0x\(String(tag, radix: 16)) (expected a chunk or the trailer)") }
        guard fileSize - at >= Int64(ExportFormat.chunkFixed) else { throw fail(fileSize, "truncated: the file ends inside a chunk header") }
        let frame = try file.read(count: ExportFormat.chunkFixed, at: at)
        let (count, length) = frame.withUnsafeBytes { (ExportFormat.load(UInt32.self, $0, 1), Int(ExportFormat.load(UInt32.self, $0, 5))) }
        guard count > 0, length <= ExportFormat.maxChunkPayload, UInt64(length) >= 2 * UInt64(count) else {
            throw fail(at, "implausible chunk header (\(count) records in \(length) bytes)")
        }
        let end = at + Int64(ExportFormat.chunkFixed) + Int64(length) + 4
        guard end <= fileSize else { throw fail(fileSize, "truncated: the file ends inside the chunk at offset \(at)") }
        payload.removeAll(keepingCapacity: true)
        payload.append(contentsOf: repeatElement(0, count: length + 4))
        try payload.withUnsafeMutableBytes { try file.readExactly(into: $0, at: at + Int64(ExportFormat.chunkFixed)) }
        let stored = payload.withUnsafeBytes { ExportFormat.load(UInt32.self, $0, length) }
        payload.removeLast(4)
        var crc = frame.withUnsafeBytes { CRC32C.update(0, $0) }
        crc = payload.withUnsafeBytes { CRC32C.update(crc, $0) }
        guard CRC32C.unmask(stored) == crc else { throw fail(at, "chunk checksum mismatch (the chunk at offset \(at), after \(records) records)") }
        digest = payload.withUnsafeBytes { CRC32C.update(digest, $0) }
        payloadBytes += UInt64(length)
        payloadOffset = at + Int64(ExportFormat.chunkFixed)
        position = 0
        chunkLeft = count
        offset = end
    }

    private func readTrailer(_ at: Int64) throws {
        guard fileSize - at >= Int64(ExportFormat.trailerSize) else { throw fail(fileSize, "truncated: the file ends inside the trailer") }
        let t = try file.read(count: ExportFormat.trailerSize, at: at)
        let (count, bytes, dig, stored) = t.withUnsafeBytes {
            (ExportFormat.load(UInt64.self, $0, 1), ExportFormat.load(UInt64.self, $0, 9), ExportFormat.load(UInt32.self, $0, 17),
             ExportFormat.load(UInt32.self, $0, 21))
        }
        let crc = t.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<21])) }
        guard CRC32C.unmask(stored) == crc else { throw fail(at, "trailer checksum mismatch") }
        guard count == records else { throw fail(at, "the trailer counts \(count) records, the file holds \(records)") }
        guard bytes == payloadBytes, dig == digest else { throw fail(at, "the trailer's digest does not match the records (a chunk is missing, repeated or moved)") }
        let end = at + Int64(ExportFormat.trailerSize)
        guard end == fileSize else { throw fail(end, "\(fileSize - end) bytes after the trailer") }
        offset = end
        summary = ExportFormat.Summary(records: count, payloadBytes: bytes, digest: dig)
    }
}

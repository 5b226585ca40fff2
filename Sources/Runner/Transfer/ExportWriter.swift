public import OrbitCore

/// Writes an export stream (`ExportFormat`) to a file: records appended in ascending key order are
/// gathered into one reusable chunk buffer and written when it reaches `ExportFormat.chunkTarget`,
/// so memory stays bounded whatever the store's size.
public final class ExportWriter {
    private let file: POSIXFileSystem.File
    public let path: String
    private var chunk: [UInt8] = []
    private var frame: [UInt8] = []
    private var chunkRecords: UInt32 = 0
    private var offset: Int64 = 0
    private var previousKey: [UInt8] = []
    public private(set) var records: UInt64 = 0
    private var payloadBytes: UInt64 = 0
    private var digest: UInt32 = 0

    /// Creates `path` (which must not exist) and writes the header.
    public init(path: String, header: ExportFormat.Header) throws {
        self.path = path
        file = try POSIXFileSystem().open(path, .createNew)
        chunk.reserveCapacity(ExportFormat.chunkTarget + 1024)
        try put(ExportFormat.headerBytes(header))
    }

    /// The bytes written so far (for the progress line).
    public var bytesWritten: Int64 { offset + Int64(chunk.count) }

    private func put(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try file.write($0, at: offset) }
        offset += Int64(bytes.count)
    }

    /// Appends one entry; keys must come in strictly ascending order (an engine's scan order): a key
    /// that does not is an error (`.engine`: the engine's scan broke its contract), and nothing is kept.
    public func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        if records > 0, previousKey.withUnsafeBytes({ compareBytes($0, key) }) >= 0 {
            throw OrbitError(.engine, "the store's scan returned a key that is not after the one before it (entry \(records + 1))",
                             at: path, hint: "the export is abandoned; inspect the store")
        }
        previousKey.removeAll(keepingCapacity: true)
        previousKey.append(contentsOf: key)
        ExportFormat.appendVarint(key.count, to: &chunk)
        chunk.append(contentsOf: key)
        ExportFormat.appendVarint(value.count, to: &chunk)
        chunk.append(contentsOf: value)
        chunkRecords += 1
        records += 1
        if chunk.count >= ExportFormat.chunkTarget { try flushChunk() }
    }

    private func flushChunk() throws {
        guard chunkRecords > 0 else { return }
        frame.removeAll(keepingCapacity: true)
        frame.append(ExportFormat.chunkTag)
        ExportFormat.append(chunkRecords, to: &frame)
        ExportFormat.append(UInt32(chunk.count), to: &frame)
        var crc = frame.withUnsafeBytes { CRC32C.update(0, $0) }
        crc = chunk.withUnsafeBytes { CRC32C.update(crc, $0) }
        digest = chunk.withUnsafeBytes { CRC32C.update(digest, $0) }
        payloadBytes += UInt64(chunk.count)
        try put(frame)
        try put(chunk)
        frame.removeAll(keepingCapacity: true)
        ExportFormat.append(CRC32C.mask(crc), to: &frame)
        try put(frame)
        chunk.removeAll(keepingCapacity: true)
        chunkRecords = 0
    }

    /// Writes the last chunk and the trailer, syncs and closes the file. Returns the trailer's summary.
    @discardableResult
    public func finish() throws -> ExportFormat.Summary {
        try flushChunk()
        var t: [UInt8] = [ExportFormat.trailerTag]
        ExportFormat.append(records, to: &t)
        ExportFormat.append(payloadBytes, to: &t)
        ExportFormat.append(digest, to: &t)
        ExportFormat.append(CRC32C.mask(CRC32C.checksum(t)), to: &t)
        try put(t)
        try file.fsync()
        try file.close()
        return ExportFormat.Summary(records: records, payloadBytes: payloadBytes, digest: digest)
    }

    /// Closes the file without a trailer (after a failure; the caller removes the file it created).
    public func abandon() { try? file.close() }
}

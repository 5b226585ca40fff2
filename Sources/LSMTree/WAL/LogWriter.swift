import OrbitCore
import Synchronization

/// Appends logical records to a log file (docs/formats/lsm-log.md), fragmenting them over 32 KiB
/// blocks. Each `addRecord` is one `append` call, so a record is written with one pwrite.
///
/// Not thread-safe: the engine calls it under its write lock. Durability is the caller's: `sync()`.
final class LogWriter<File: FileHandleProtocol>: @unchecked Sendable {
    let file: File
    /// Offset in the current block where the next physical record goes.
    private var blockOffset: Int
    /// Bytes written to the file so far (the logical end).
    private(set) var size: Int64
    private var scratch: [UInt8] = []
    /// Bytes appended (written by `addRecord`), and bytes a completed `sync` covers: a sync may run
    /// on another thread than the appends (group commit, the periodic task).
    private let appended: Atomic<Int64>
    private let syncedBytes: Atomic<Int64>

    /// Starts a new, empty log in `file`, writing the file header. A WAL (`number` given: the
    /// file's number) is format version 3, its header checksum covering that number; a manifest
    /// (`number` nil) is version 1.
    init(newFile file: File, magic: UInt64, number: UInt64? = nil) throws {
        precondition((magic == LogFormat.walMagic) == (number != nil), "a WAL names its number, a manifest does not")
        self.file = file
        var header: [UInt8] = []
        putFixed64(&header, magic)
        putFixed32(&header, number != nil ? LogFormat.walVersion : LogFormat.version)
        let crc = header.withUnsafeBytes { LogFormat.headerChecksum($0, number: number) }
        putFixed32(&header, crc)
        try file.append(header)
        blockOffset = LogFormat.fileHeaderSize
        size = Int64(LogFormat.fileHeaderSize)
        appended = Atomic(size)
        syncedBytes = Atomic(size)
    }

    /// Appends one logical record.
    func addRecord(_ payload: UnsafeRawBufferPointer) throws {
        scratch.removeAll(keepingCapacity: true)
        var left = payload.count
        var pos = 0
        var begin = true
        repeat {
            let room = LogFormat.blockSize - blockOffset
            if room < LogFormat.headerSize {
                // Too small for a header: pad the block with zeros.
                for _ in 0..<room { scratch.append(0) }
                blockOffset = 0
                continue
            }
            let avail = room - LogFormat.headerSize
            let n = min(avail, left)
            let end = n == left
            let type: LogFormat.RecordType = begin && end ? .full : begin ? .first : end ? .last : .middle
            let fragment = UnsafeRawBufferPointer(rebasing: payload[pos..<(pos + n)])
            putFixed32(&scratch, recordChecksum(n, type.rawValue, fragment))
            scratch.append(UInt8(truncatingIfNeeded: n)); scratch.append(UInt8(truncatingIfNeeded: n >> 8))
            scratch.append(type.rawValue)
            scratch.append(contentsOf: fragment)
            blockOffset += LogFormat.headerSize + n
            pos += n
            left -= n
            begin = false
        } while left > 0
        try scratch.withUnsafeBytes { _ = try file.append($0) }
        size += Int64(scratch.count)
        appended.store(size, ordering: .releasing)
    }

    func addRecord(_ payload: [UInt8]) throws { try payload.withUnsafeBytes { try addRecord($0) } }

    /// fdatasync: everything appended before the call is durable when it returns.
    func sync() throws {
        let upTo = appended.load(ordering: .acquiring)
        try file.fdatasync()
        var cur = syncedBytes.load(ordering: .relaxed)
        while cur < upTo {
            let (ok, orig) = syncedBytes.compareExchange(expected: cur, desired: upTo, ordering: .acquiringAndReleasing)
            if ok { break }
            cur = orig
        }
    }

    /// The log offset a completed sync covers (the file header counts as synced: a new log is
    /// synced before its first record). WAL records carry it, so recovery can tell a torn unsynced
    /// tail from damage to data that had been synced (docs/formats/lsm-log.md, "Recovery").
    var syncedSize: Int64 { syncedBytes.load(ordering: .acquiring) }
}

/// The checksum of a physical record: masked CRC32C over length (2, LE), type (1) and payload.
@inline(__always) func recordChecksum(_ length: Int, _ type: UInt8, _ fragment: UnsafeRawBufferPointer) -> UInt32 {
    let header = (UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8), type)
    let crc = withUnsafeBytes(of: header) { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<3])) }
    return CRC32C.mask(CRC32C.update(crc, fragment))
}

import Synchronization

/// What a file system has moved: bytes and calls, as one consistent-enough snapshot.
///
/// Each field is read atomically but not together with the others, so a snapshot taken while
/// I/O is running may be a few calls apart between fields; take it when the work is done for
/// exact figures.
public struct FileIOStatistics: Sendable, Hashable {
    /// Bytes returned by reads.
    public var bytesRead: UInt64 = 0
    /// Bytes accepted by writes and appends (counted per system call, so a write that fails part
    /// way counts the part that was written).
    public var bytesWritten: UInt64 = 0
    /// Read system calls that returned data or end of file.
    public var readCalls: UInt64 = 0
    /// Write system calls that wrote at least one byte.
    public var writeCalls: UInt64 = 0
    /// Successful fsync and fdatasync calls on files.
    public var fileSyncs: UInt64 = 0
    /// Successful fsync calls on directories.
    public var directorySyncs: UInt64 = 0

    public init() {}

    /// Every sync, of files and of directories.
    public var syncs: UInt64 { fileSyncs + directorySyncs }

    /// The I/O between `earlier` and `self`.
    public func subtracting(_ earlier: FileIOStatistics) -> FileIOStatistics {
        var d = FileIOStatistics()
        d.bytesRead = bytesRead &- earlier.bytesRead
        d.bytesWritten = bytesWritten &- earlier.bytesWritten
        d.readCalls = readCalls &- earlier.readCalls
        d.writeCalls = writeCalls &- earlier.writeCalls
        d.fileSyncs = fileSyncs &- earlier.fileSyncs
        d.directorySyncs = directorySyncs &- earlier.directorySyncs
        return d
    }
}

/// Lock-free counters behind `FileIOStatistics`: one set per file system, and one for the process.
///
/// Relaxed atomics: the counters order nothing, they only sum. Callers also count the calling
/// thread's bytes through `ThreadIO`, which is what attributes I/O to one timed operation.
public final class FileIOCounters: Sendable {
    /// Every byte and call of every `POSIXFileSystem` in the process.
    public static let process = FileIOCounters()

    private let bytesRead = Atomic<UInt64>(0)
    private let bytesWritten = Atomic<UInt64>(0)
    private let readCalls = Atomic<UInt64>(0)
    private let writeCalls = Atomic<UInt64>(0)
    private let fileSyncs = Atomic<UInt64>(0)
    private let directorySyncs = Atomic<UInt64>(0)

    public init() {}

    @inline(__always) public func countRead(_ bytes: Int) {
        bytesRead.wrappingAdd(UInt64(bytes), ordering: .relaxed)
        readCalls.wrappingAdd(1, ordering: .relaxed)
    }

    @inline(__always) public func countWrite(_ bytes: Int) {
        bytesWritten.wrappingAdd(UInt64(bytes), ordering: .relaxed)
        writeCalls.wrappingAdd(1, ordering: .relaxed)
    }

    @inline(__always) public func countFileSync() { fileSyncs.wrappingAdd(1, ordering: .relaxed) }
    @inline(__always) public func countDirectorySync() { directorySyncs.wrappingAdd(1, ordering: .relaxed) }

    public func snapshot() -> FileIOStatistics {
        var s = FileIOStatistics()
        s.bytesRead = bytesRead.load(ordering: .relaxed)
        s.bytesWritten = bytesWritten.load(ordering: .relaxed)
        s.readCalls = readCalls.load(ordering: .relaxed)
        s.writeCalls = writeCalls.load(ordering: .relaxed)
        s.fileSyncs = fileSyncs.load(ordering: .relaxed)
        s.directorySyncs = directorySyncs.load(ordering: .relaxed)
        return s
    }
}

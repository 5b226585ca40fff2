import OrbitCore

/// A test file system that wraps the real one and changes only some calls (a conformer supplies
/// `open` and its file type; everything else is forwarded to `base` unless the conformer
/// implements it). For hooks around real I/O — holding a writer inside its sync, counting what a
/// sync covered — where `FaultInjectingFileSystem`'s in-memory model is not what a test needs.
public protocol ForwardingFileSystem: FileSystem {
    var base: POSIXFileSystem { get }
}

extension ForwardingFileSystem {
    public func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    public func remove(_ path: String) throws { try base.remove(path) }
    public func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
    public func list(directory path: String) throws -> [String] { try base.list(directory: path) }
    public func createDirectory(_ path: String, intermediates: Bool) throws { try base.createDirectory(path, intermediates: intermediates) }
    public func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    public func exists(_ path: String) throws -> Bool { try base.exists(path) }
    public func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    public func ioStatistics() -> FileIOStatistics { base.ioStatistics() }
}

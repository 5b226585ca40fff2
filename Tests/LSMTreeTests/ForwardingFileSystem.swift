import OrbitCore

/// A test file system that wraps the real one and changes only some calls: the directory calls
/// are forwarded to `base` unless the conformer implements them.
protocol ForwardingFileSystem: FileSystem {
    var base: POSIXFileSystem { get }
}

extension ForwardingFileSystem {
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
    func list(directory path: String) throws -> [String] { try base.list(directory: path) }
    func createDirectory(_ path: String, intermediates: Bool) throws { try base.createDirectory(path, intermediates: intermediates) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func exists(_ path: String) throws -> Bool { try base.exists(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func ioStatistics() -> FileIOStatistics { base.ioStatistics() }
}

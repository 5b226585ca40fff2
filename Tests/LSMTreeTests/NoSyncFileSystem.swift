import OrbitCore

/// The real file system with every sync turned into a no-op: for the long randomized test, which
/// checks logic (recovery on reopen after a clean close), not durability, and would otherwise spend
/// its time in fdatasync. Shows the engine running on another `FileSystem`.
final class NoSyncFileSystem: FileSystem {
    let base = POSIXFileSystem()
    final class File: FileHandleProtocol {
        let f: POSIXFile
        init(_ f: POSIXFile) { self.f = f }
        var path: String { f.path }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try f.read(into: buffer, at: offset) }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try f.write(bytes, at: offset) }
        func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 { try f.append(bytes) }
        func fsync() throws {}
        func fdatasync() throws {}
        func truncate(to size: Int64) throws { try f.truncate(to: size) }
        func size() throws -> Int64 { try f.size() }
        func close() throws { try f.close() }
    }
    func open(_ path: String, _ mode: OpenMode) throws -> File { File(try base.open(path, mode)) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
    func list(directory path: String) throws -> [String] { try base.list(directory: path) }
    func createDirectory(_ path: String, intermediates: Bool) throws { try base.createDirectory(path, intermediates: intermediates) }
    func syncDirectory(_ path: String) throws {}
    func exists(_ path: String) throws -> Bool { try base.exists(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func ioStatistics() -> FileIOStatistics { base.ioStatistics() }
}

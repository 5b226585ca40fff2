import CowBTree
import OrbitCore
import OrbitTestSupport
import Synchronization

/// Writes every file of `directory` on a `FaultInjectingFileSystem` (typically a power-loss copy)
/// into `destination` on the real file system, with an empty `cow.lock` as a real open leaves:
/// for checks that need real files (`CowInspector`, `CowEngine`, flock).
func materialize(_ fs: FaultInjectingFileSystem, _ directory: String, into destination: String) throws {
    let real = POSIXFileSystem()
    if try !real.exists(destination) { try real.createDirectory(destination, intermediates: true) }
    for name in try fs.list(directory: directory) {
        let path = joinPath(directory, name)
        if (try? fs.list(directory: path)) != nil {
            try materialize(fs, path, into: joinPath(destination, name))
            continue
        }
        let f = try real.open(joinPath(destination, name), .truncate)
        let bytes = try fs.readFile(path)
        try bytes.withUnsafeBytes { _ = try f.append($0) }
        try f.fsync()
        try f.close()
    }
    let lock = joinPath(destination, CowEngine.lockFileName)
    if try !real.exists(lock) { try real.open(lock, .truncate).close() }
}

/// The real file system with a hook called before every fdatasync (a test holds a writer inside
/// its sync). Nothing else is changed or simulated.
final class SyncHookFileSystem: ForwardingFileSystem, @unchecked Sendable {
    let base = POSIXFileSystem()
    /// Called with the file's path before each fdatasync.
    let beforeFdatasync = Lock<(@Sendable (String) -> Void)?>(nil)

    final class File: FileHandleProtocol, @unchecked Sendable {
        let inner: POSIXFile
        unowned let fs: SyncHookFileSystem
        init(_ inner: POSIXFile, _ fs: SyncHookFileSystem) { self.inner = inner; self.fs = fs }
        var path: String { inner.path }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try inner.read(into: buffer, at: offset) }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try inner.write(bytes, at: offset) }
        func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 { try inner.append(bytes) }
        func fsync() throws { try inner.fsync() }
        func fdatasync() throws {
            if let hook = fs.beforeFdatasync.withLock({ $0 }) { hook(path) }
            try inner.fdatasync()
        }
        func truncate(to size: Int64) throws { try inner.truncate(to: size) }
        func size() throws -> Int64 { try inner.size() }
        func close() throws { try inner.close() }
    }

    func open(_ path: String, _ mode: OpenMode) throws -> File { File(try base.open(path, mode), self) }
}

import OrbitCore
import Synchronization

/// A test file system over the real one that can simulate a power loss: it keeps, per file, the
/// pre-image of every byte range written since the file's last sync, and `powerLoss()` puts those
/// pre-images back (newest first) and restores the synced size: every unsynced write is lost.
/// `arm(point, hit:)` makes the `hit`-th arrival at crash point `point` throw, as a crash would.
final class PowerLossFileSystem: FileSystem, @unchecked Sendable {
    let real = POSIXFileSystem()
    let state = Lock<State>(State())

    struct State {
        var undo: [String: [(offset: Int64, bytes: [UInt8])]] = [:]
        var syncedSize: [String: Int64] = [:]
        var armed: String? = nil
        var hitsLeft = 0
        var crashed = false
    }

    struct Crash: Error {}

    /// Called before every fdatasync with the file's path (tests hold a writer inside its sync).
    let beforeFdatasync = Lock<(@Sendable (String) -> Void)?>(nil)

    func arm(_ point: String, hit: Int) {
        state.withLock { $0.armed = point; $0.hitsLeft = hit; $0.crashed = false }
    }

    var crashed: Bool { state.withLock { $0.crashed } }

    func crashPoint(_ name: StaticString) throws {
        try state.withLock { s in
            guard !s.crashed, let armed = s.armed, armed == "\(name)" else { return }
            s.hitsLeft -= 1
            if s.hitsLeft <= 0 { s.crashed = true; throw Crash() }
        }
    }

    /// Loses every write not followed by a sync of its file.
    func powerLoss() throws {
        let s = state.withLock { s in let copy = s; s.undo = [:]; return copy }
        for (path, entries) in s.undo {
            let f = try real.open(path, .readWrite)
            for e in entries.reversed() { try f.write(e.bytes, at: e.offset) }
            if let size = s.syncedSize[path] { try f.truncate(to: size) }
            try f.fsync()
            try f.close()
        }
    }

    func open(_ path: String, _ mode: OpenMode) throws -> CrashFile {
        let f = try real.open(path, mode)
        let size = try f.size()
        state.withLock { if $0.syncedSize[path] == nil { $0.syncedSize[path] = size } }
        return CrashFile(f, self)
    }
    func rename(_ source: String, to destination: String) throws { try real.rename(source, to: destination) }
    func remove(_ path: String) throws { try real.remove(path) }
    func removeDirectory(_ path: String) throws { try real.removeDirectory(path) }
    func list(directory path: String) throws -> [String] { try real.list(directory: path) }
    func createDirectory(_ path: String, intermediates: Bool) throws { try real.createDirectory(path, intermediates: intermediates) }
    func syncDirectory(_ path: String) throws { try real.syncDirectory(path) }
    func exists(_ path: String) throws -> Bool { try real.exists(path) }
    func fileSize(_ path: String) throws -> Int64 { try real.fileSize(path) }
    func ioStatistics() -> FileIOStatistics { real.ioStatistics() }
}

final class CrashFile: FileHandleProtocol, @unchecked Sendable {
    let inner: POSIXFile
    unowned let fs: PowerLossFileSystem
    init(_ inner: POSIXFile, _ fs: PowerLossFileSystem) { self.inner = inner; self.fs = fs }
    var path: String { inner.path }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try inner.read(into: buffer, at: offset) }

    private func remember(_ count: Int, at offset: Int64) throws {
        let old = try inner.read(count: count, at: offset)
        fs.state.withLock { $0.undo[path, default: []].append((offset, old)) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try remember(bytes.count, at: offset)
        try inner.write(bytes, at: offset)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
        let end = try inner.size()
        try remember(bytes.count, at: end)
        return try inner.append(bytes)
    }

    private func synced() throws {
        let size = try inner.size()
        fs.state.withLock { $0.undo[path] = nil; $0.syncedSize[path] = size }
    }

    func fsync() throws { try inner.fsync(); try synced() }
    func fdatasync() throws {
        if let hook = fs.beforeFdatasync.withLock({ $0 }) { hook(path) }
        try inner.fdatasync(); try synced()
    }
    func truncate(to size: Int64) throws {
        let current = try inner.size()
        if size < current { try remember(Int(current - size), at: size) }
        try inner.truncate(to: size)
    }
    func size() throws -> Int64 { try inner.size() }
    func close() throws { try inner.close() }
}

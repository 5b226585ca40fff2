import OrbitCore
import Synchronization

/// The open file handles of tables, bounded (`lsm.max_open_files`, as RocksDB's `max_open_files`):
/// an LRU of at most `capacity` handles, keyed by table number. A table's reader keeps its index
/// and filter in memory and borrows a handle from here only to read a block, so a store of any
/// number of tables needs at most `capacity` descriptors for them (before: one per live table and
/// per unlinked table an old version still held, for the life of the engine, so about 1,000
/// tables hit the default RLIMIT_NOFILE and flushes, compactions and reopens failed with EMFILE).
///
/// A handle in use (pinned by `withFile`) is never closed; when every cached handle is pinned the
/// cache holds more than `capacity` until they are returned (at most one per concurrent reader).
/// Tables are unlinked only once no version names them (`TableFile`'s retirement), so a handle
/// closed here can always be opened again by path.
///
/// Thread-safe: one mutex; files are opened and closed outside it.
final class TableCache<File: FileHandleProtocol>: @unchecked Sendable {
    private struct Entry {
        var file: File
        var pins: Int
        var prev: UInt64?
        var next: UInt64?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var head: UInt64?  // most recent
        var tail: UInt64?  // least recent
    }

    let capacity: Int
    private let openFile: @Sendable (String) throws -> File
    private let state = Lock(State())
    /// Most handles open at once (tests check the bound).
    let peakOpen = Atomic<Int>(0)
    let opens = Atomic<UInt64>(0)

    init(capacity: Int, open: @escaping @Sendable (String) throws -> File) {
        self.capacity = max(1, capacity)
        openFile = open
    }

    var openCount: Int { state.withLock { $0.entries.count } }

    /// Calls `body` with an open handle of table `number` at `path`, opening it if needed.
    @inline(__always)
    func withFile<R>(_ number: UInt64, path: String, _ body: (File) throws -> R) throws -> R {
        let file = try pin(number, path: path)
        defer { unpin(number) }
        return try body(file)
    }

    private func pin(_ number: UInt64, path: String) throws -> File {
        let cached: File? = state.withLock { s in
            guard var e = s.entries[number] else { return nil }
            e.pins += 1
            s.entries[number] = e
            Self.unlink(&s, number)
            Self.pushFront(&s, number)
            return e.file
        }
        if let cached { return cached }
        let opened = try openFile(path)
        opens.wrappingAdd(1, ordering: .relaxed)
        var toClose: [File] = []
        let file: File = state.withLock { s in
            if var e = s.entries[number] {
                // Another reader opened it meanwhile: use that one.
                toClose.append(opened)
                e.pins += 1
                s.entries[number] = e
                return e.file
            }
            s.entries[number] = Entry(file: opened, pins: 1, prev: nil, next: nil)
            Self.pushFront(&s, number)
            toClose += Self.shrink(&s, capacity)
            let n = s.entries.count
            if n > peakOpen.load(ordering: .relaxed) { peakOpen.store(n, ordering: .relaxed) }
            return opened
        }
        for f in toClose { try? f.close() }
        return file
    }

    private func unpin(_ number: UInt64) {
        let toClose: [File] = state.withLock { s in
            if var e = s.entries[number] { e.pins -= 1; s.entries[number] = e }
            return s.entries.count > capacity ? Self.shrink(&s, capacity) : []
        }
        for f in toClose { try? f.close() }
    }

    /// Closes the handle of a table that is being removed (it must not be in use).
    func evict(_ number: UInt64) {
        let f: File? = state.withLock { s in
            guard let e = s.entries[number], e.pins == 0 else { return nil }
            Self.unlink(&s, number)
            s.entries[number] = nil
            return e.file
        }
        try? f?.close()
    }

    /// Closes every handle not in use (at close).
    func closeAll() {
        let files: [File] = state.withLock { s in Self.shrink(&s, 0) }
        for f in files { try? f.close() }
    }

    /// Drops least recently used unpinned handles until at most `limit` remain (or only pinned ones).
    private static func shrink(_ s: inout State, _ limit: Int) -> [File] {
        var out: [File] = []
        var cursor = s.tail
        while s.entries.count > limit, let n = cursor {
            let e = s.entries[n]!
            cursor = e.prev
            guard e.pins == 0 else { continue }
            unlink(&s, n)
            s.entries[n] = nil
            out.append(e.file)
        }
        return out
    }

    private static func unlink(_ s: inout State, _ n: UInt64) {
        guard let e = s.entries[n] else { return }
        if let p = e.prev { s.entries[p]!.next = e.next } else if s.head == n { s.head = e.next }
        if let x = e.next { s.entries[x]!.prev = e.prev } else if s.tail == n { s.tail = e.prev }
        s.entries[n]!.prev = nil
        s.entries[n]!.next = nil
    }

    private static func pushFront(_ s: inout State, _ n: UInt64) {
        s.entries[n]!.prev = nil
        s.entries[n]!.next = s.head
        if let h = s.head { s.entries[h]!.prev = n }
        s.head = n
        if s.tail == nil { s.tail = n }
    }
}

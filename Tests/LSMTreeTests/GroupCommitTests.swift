import Foundation
import LSMTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// The real file system, recording per file how many bytes a completed fdatasync made durable and,
/// per thread, where that thread's last append ended: a writer's put must not return before a sync
/// that covers its WAL record has returned.
final class SyncTrackingFileSystem: ForwardingFileSystem {
    let base = POSIXFileSystem()
    /// Path → bytes made durable by a completed fdatasync/fsync (the size when the sync began).
    let synced = Lock<[String: Int64]>([:])
    /// Thread → (path, end offset) of its last append.
    let lastAppend = Lock<[UInt: (String, Int64)]>([:])
    let syncCount = Atomic<Int>(0)

    final class File: FileHandleProtocol {
        let f: POSIXFile
        unowned let owner: SyncTrackingFileSystem
        init(_ f: POSIXFile, _ owner: SyncTrackingFileSystem) { self.f = f; self.owner = owner }
        var path: String { f.path }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try f.read(into: buffer, at: offset) }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try f.write(bytes, at: offset) }
        func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
            let at = try f.append(bytes)
            let me = UInt(pthread_self())
            let p = f.path
            owner.lastAppend.withLock { $0[me] = (p, at + Int64(bytes.count)) }
            return at
        }
        private func synced(_ body: () throws -> Void) throws {
            let size = try f.size()
            try body()
            owner.syncCount.wrappingAdd(1, ordering: .relaxed)
            let p = f.path
            owner.synced.withLock { $0[p] = max($0[p] ?? 0, size) }
        }
        func fsync() throws { try synced { try f.fsync() } }
        func fdatasync() throws { try synced { try f.fdatasync() } }
        func truncate(to size: Int64) throws { try f.truncate(to: size) }
        func size() throws -> Int64 { try f.size() }
        func close() throws { try f.close() }
    }
    func open(_ path: String, _ mode: OpenMode) throws -> File { File(try base.open(path, mode), self) }
}

/// Runs `body(i)` on `n` threads at once and waits for all; rethrows the first error.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let failure = Lock<(any Error)?>(nil)
    let done = DispatchGroup()
    for i in 0..<n {
        done.enter()
        let t = Thread {
            do { try body(i) } catch { failure.withLock { if $0 == nil { $0 = error } } }
            done.leave()
        }
        t.start()
    }
    done.wait()
    if let e = failure.withLock({ $0 }) { throw e }
}

@Suite("LSM group commit") struct GroupCommitTests {
    /// Every put under `group` (and `every-write`) returns only after a completed fdatasync covers
    /// the end of its WAL record; the writes are all there after reopening.
    @Test(arguments: [DurabilityMode.group, .everyWrite])
    func eachWriterIsAcknowledgedAfterTheSyncCoveringIt(_ mode: DurabilityMode) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-group") { dir in
            let fs = SyncTrackingFileSystem()
            let writers = 4, perWriter = 150
            let e = try LSMTree(fs: fs, directory: dir, durability: mode)
            let uncovered = Atomic<Int>(0)
            try onThreads(writers) { w in
                for i in 0..<perWriter {
                    try e.put(Array("w\(w)-\(i)".utf8), [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 100))
                    let me = UInt(pthread_self())
                    let (path, end) = fs.lastAppend.withLock { $0[me]! }
                    let durable = fs.synced.withLock { $0[path] ?? 0 }
                    if durable < end { uncovered.wrappingAdd(1, ordering: .relaxed) }
                }
            }
            let early = uncovered.load(ordering: .relaxed)
            #expect(early == 0, "\(mode): \(early) puts returned before a sync covered them")
            let stats = try e.stats()
            let syncs = stats.extra.first { $0.name == "wal_group_syncs" }?.value ?? 0
            print("[lsm group commit] \(mode): \(writers * perWriter) writes, \(fs.syncCount.load(ordering: .relaxed)) syncs (group syncs \(syncs))")
            try e.close()
            let r = try LSMTree(fs: POSIXFileSystem(), directory: dir)
            for w in 0..<writers {
                for i in 0..<perWriter { #expect(try r.get(Array("w\(w)-\(i)".utf8)) != nil, "w\(w)-\(i) lost") }
            }
            try r.close()
        }
    }

    /// A lone writer in `group` mode syncs once per write: it never waits for company that is not
    /// coming (no commit delay), and it is never acknowledged early.
    @Test func loneGroupWriterSyncsEveryWrite() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-group1") { dir in
            let fs = SyncTrackingFileSystem()
            let e = try LSMTree(fs: fs, directory: dir, durability: .group)
            let before = fs.syncCount.load(ordering: .relaxed)
            for i in 0..<100 {
                try e.put(Array("k\(i)".utf8), [UInt8](repeating: 1, count: 10))
                let (path, end) = fs.lastAppend.withLock { $0[UInt(pthread_self())]! }
                let durable = fs.synced.withLock { $0[path] ?? 0 }
                #expect(durable >= end)
            }
            let syncs = fs.syncCount.load(ordering: .relaxed) - before
            #expect(syncs == 100)
            try e.close()
        }
    }
}

import LSMTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// The real file system, failing at one armed crash point: the engine's work stops there as if the
/// process died (the thrown error stops the background thread). What was written before stays, as
/// after a process crash; power-loss (dropping unsynced data) needs CrashLab's fault injector.
final class CrashingFileSystem: FileSystem {
    let base = POSIXFileSystem()
    let armed: String
    let fired = Atomic<Bool>(false)
    init(armed: String) { self.armed = armed }
    func crashPoint(_ name: StaticString) throws {
        if "\(name)" == armed && !fired.exchange(true, ordering: .relaxed) {
            throw OrbitError(.io, "simulated crash at \(name)")
        }
    }
    func open(_ path: String, _ mode: OpenMode) throws -> POSIXFile { try base.open(path, mode) }
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

@Suite("LSM crash points") struct CrashPointTests {
    static let points = [
        "lsm.flush.after-table-sync", "lsm.flush.after-directory-sync", "lsm.flush.after-manifest-sync",
        "lsm.flush.after-log-remove", "lsm.compaction.after-tables-sync", "lsm.compaction.after-directory-sync",
        "lsm.compaction.after-manifest-sync", "lsm.compaction.after-input-remove",
    ]

    @Test(arguments: points) func crashDuringFlushOrCompactionKeepsSyncedWrites(_ point: String) throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-crash") { dir in
            var o = LSMOptions()
            o.memtableSizeBytesOverride = 16 << 10
            o.compactionThreshold = 2
            let crashing = CrashingFileSystem(armed: point)
            let e = try LSMTree(fs: crashing, directory: dir, options: o, durability: .everyWrite)
            var acknowledged = 0
            // Enough synced writes for several flushes and a level-0 compaction; the armed point
            // stops background work, after which writes stall and fail: stop at the first failure.
            for i in 0..<3000 {
                do { try e.put(Array("key-\(i)".utf8), [UInt8](repeating: UInt8(i & 0xff), count: 40)) } catch { break }
                acknowledged = i + 1
                if i % 400 == 399 { try? e.flush() }
            }
            try? e.close()
            let fired = crashing.fired.load(ordering: .relaxed)
            #expect(fired, "\(point) was never reached")
            #expect(acknowledged > 100, "\(point): too few writes before the crash")
            let r = try LSMTree(fs: POSIXFileSystem(), directory: dir, options: o)
            for i in 0..<acknowledged {
                try #require(try r.get(Array("key-\(i)".utf8)) == [UInt8](repeating: UInt8(i & 0xff), count: 40),
                             "\(point): synced write key-\(i) lost")
            }
            try r.close()
            let report = LSMInspector.inspect(fs: POSIXFileSystem(), directory: dir)
            #expect(report.ok, "\(point): \(report.problems)")
        }
    }
}

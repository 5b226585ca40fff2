#if canImport(Glibc)
import Glibc
#endif
import LSMTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// The real file system, holding the compaction thread at one crash point until released.
final class HoldingFileSystem: ForwardingFileSystem {
    let base = POSIXFileSystem()
    let point: String
    let held = Atomic<Bool>(false)
    let released = Atomic<Bool>(false)
    init(holdingAt point: String) { self.point = point }
    func crashPoint(_ name: StaticString) throws {
        guard "\(name)" == point, !released.load(ordering: .acquiring) else { return }
        held.store(true, ordering: .releasing)
        while !released.load(ordering: .acquiring) { usleep(1000) }
    }
    func open(_ path: String, _ mode: OpenMode) throws -> POSIXFile { try base.open(path, mode) }
}

/// Waits (polling) until `condition` holds; false after `seconds`. Only a guard against hanging
/// the suite: the tests assert what happened, not how fast.
func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicSeconds() + seconds
    while monotonicSeconds() < deadline {
        if try condition() { return true }
        usleep(2000)
    }
    return try condition()
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

@Suite("LSM background work") struct BackgroundWorkTests {
    static func extra(_ s: StorageStats, _ name: String) -> Double { s.extra.first { $0.name == name }?.value ?? -1 }

    /// Flushes go on while a compaction is in progress: memtables do not pile up behind it.
    @Test func flushesProceedWhileACompactionRuns() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-bg") { dir in
            var o = LSMOptions()
            o.memtableSizeBytesOverride = 64 << 10
            o.compactionThreshold = 2
            let fs = HoldingFileSystem(holdingAt: "lsm.compaction.after-tables-sync")
            let e = try LSMTree(fs: fs, directory: dir, options: o)
            final class Counter: @unchecked Sendable { var n = 0 }
            let written = Counter()
            @Sendable func batch() throws {
                for _ in 0..<300 {
                    let n = written.n
                    try e.put(Array("key-\(100_000 + n)".utf8), [UInt8](repeating: UInt8(n & 0xff), count: 60))
                    written.n = n + 1
                }
                try e.flush()
            }
            try batch(); try batch()  // two level-0 tables: a compaction starts, and is held
            let held = eventually(60) { fs.held.load(ordering: .acquiring) }
            #expect(held, "the compaction never reached its crash point")
            let before = Self.extra(try e.stats(), "flushes")
            // On another thread (joined): if flushes waited for the compaction, this would stall.
            try onThreads(1) { _ in
                for _ in 0..<3 { try batch() }
            }
            let n = written.n
            let s = try e.stats()
            #expect(Self.extra(s, "flushes") >= before + 3, "flushes waited for the compaction")
            #expect(Self.extra(s, "level0_files") >= 3)
            #expect(Self.extra(s, "compactions") == 0)
            fs.released.store(true, ordering: .releasing)
            try e.compactUntilSettled()
            #expect(Self.extra(try e.stats(), "compactions") >= 1)
            for i in 0..<n {
                try #require(try e.get(Array("key-\(100_000 + i)".utf8)) == [UInt8](repeating: UInt8(i & 0xff), count: 60))
            }
            try e.close()
        }
    }

    /// average_key_size and average_value_size come from the bytes of the puts, in memtables and in
    /// tables, and survive a reopen.
    @Test func averageKeyAndValueSizes() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-avg") { dir in
            let e = try LSMTree(fs: POSIXFileSystem(), directory: dir)
            for i in 0..<1000 { try e.put(Array("key-\(100_000_000_000 + i)".utf8), [UInt8](repeating: 3, count: 100)) }
            var s = try e.stats()
            #expect(s.averageKeySize == 16 && s.averageValueSize == 100, "memtable: \(s.averageKeySize) \(s.averageValueSize)")
            try e.flush()
            s = try e.stats()
            #expect(s.averageKeySize == 16 && s.averageValueSize == 100, "table: \(s.averageKeySize) \(s.averageValueSize)")
            try e.close()
            let r = try LSMTree(fs: POSIXFileSystem(), directory: dir)
            s = try r.stats()
            #expect(s.averageKeySize == 16 && s.averageValueSize == 100, "reopened: \(s.averageKeySize) \(s.averageValueSize)")
            try r.close()
        }
    }
}

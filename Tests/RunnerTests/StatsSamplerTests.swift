#if canImport(Glibc)
import Glibc
#endif
@testable import LSMTree
import OrbitCore
import OrbitTestSupport
@testable import Runner
import Synchronization
import Testing

/// Issue 15 item 5: stats never wait for a writer, and a stalled engine still yields a stats row
/// each interval.
@Suite struct StatsSamplerTests {
    /// lsm with 2 KiB memtables and its flushes and compactions held: the writer stalls on the full
    /// memtable queue and cannot go on until they are released. While it is stalled, the runner's
    /// sampler keeps producing rows (at least 5), and they show the stall's memtables.
    @Test func aStalledEngineStillYieldsStatsRows() throws {
        try withTemporaryDirectory { dir in
            var o = LSMOptions()
            o.memtableSizeBytesOverride = 2048
            let t = try LSMTree(fs: POSIXFileSystem(), directory: dir + "/db", options: o)
            t.state.withLock { t.backgroundPaused = true }
            let writerDone = Atomic<Bool>(false)
            let value = [UInt8](repeating: 7, count: 100)
            let writer = try OrbitThread(name: "stalled-writer") {
                for i in 0..<400 { try? t.put(Array("key-\(100_000 + i)".utf8), value) }
                writerDone.store(true, ordering: .releasing)
            }
            // The writer is stalled once the immutable queue is full (flushes are held).
            var polls = 0
            while t.state.withLock({ t.imms.count }) < o.maxMemtables - 1 && polls < 3000 { usleep(10_000); polls += 1 }
            usleep(20_000)
            let sampler = StatsSampler(start: MeterClock.shared.nanoseconds(), stats: { try t.stats() }, heapBytes: { 0 })
            try sampler.startSampling(intervalNanos: 10_000_000)
            polls = 0
            while sampler.rows.count < 5 && polls < 6000 { usleep(10_000); polls += 1 }
            let rows = sampler.rows.count
            let stillStalled = !writerDone.load(ordering: .acquiring)
            sampler.stop()
            t.state.withLock { t.backgroundPaused = false; t.state.broadcast() }
            writer.join()
            #expect(stillStalled, "the writer finished: the test did not stall it")
            #expect(rows >= 5, "only \(rows) stats rows while the writer was stalled")
            #expect(sampler.errors.isEmpty)
            let immutables = sampler.rows.last?.stats.extra.first { $0.name == "immutable_memtables" }?.value
            #expect(immutables == Double(o.maxMemtables - 1))
            #expect(t.stalls.load(ordering: .relaxed) >= 1)
            try t.close()
        }
    }
}

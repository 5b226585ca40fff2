import Foundation
import OrbitCore
@testable import RocksDBEngine
import Testing

/// RocksDB-specific tests: options really applied, durability refusals, snapshots (including a
/// restore interrupted after its commit point), reopen, `ldb` interoperability, close.
@Suite("RocksDB engine")
struct RocksDBEngineTests {
    /// A unique directory under the system temp directory, removed when the test ends.
    final class TempDir {
        let url: URL
        var path: String { url.path }
        init() {
            url = FileManager.default.temporaryDirectory
                .appendingPathComponent("orbit-rocksdb-test-\(UUID().uuidString)", isDirectory: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    static func open(_ dir: TempDir, _ options: RocksDBOptions = RocksDBOptions(),
                     _ durability: DurabilityMode = .none) throws -> RocksDBEngine {
        try RocksDBEngine(path: dir.path, options: options, durability: durability)
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func optionsFile(_ engine: RocksDBEngine) throws -> String {
        let file = try #require(engine.optionsFilePath())
        return try String(contentsOfFile: file, encoding: .utf8)
    }

    static func extra(_ stats: StorageStats, _ name: String) -> Double? {
        stats.extra.first { $0.name == name }?.value
    }

    // MARK: Options

    @Test func knobsAreReadFromSettings() throws {
        var settings = Settings(knobs: CoreKnobs.all + RocksDBOptions.knobs)
        try settings.applyEnvironment([
            "ORBIT_ROCKSDB_BLOCK_CACHE_MB": "32", "ORBIT_ROCKSDB_WRITE_BUFFER_MB": "8",
            "ORBIT_ROCKSDB_MAX_BACKGROUND_JOBS": "3", "ORBIT_ROCKSDB_COMPRESSION": "true",
            "ORBIT_ROCKSDB_BLOOM_BITS_PER_KEY": "7", "ORBIT_ROCKSDB_WAL": "false",
            "ORBIT_ROCKSDB_MAX_OPEN_FILES": "100", "ORBIT_ROCKSDB_STATISTICS": "true",
            "ORBIT_ROCKSDB_COUNT_READ_BYTES": "true",
        ])
        let o = RocksDBOptions(settings: settings)
        #expect(o.blockCacheMB == 32 && o.writeBufferMB == 8 && o.maxBackgroundJobs == 3)
        #expect(o.compression && o.bloomBitsPerKey == 7 && !o.wal && o.maxOpenFiles == 100)
        #expect(o.statistics && o.countReadBytes)
        // Defaults match the struct's.
        #expect(RocksDBOptions(settings: Settings(knobs: RocksDBOptions.knobs)) == RocksDBOptions())
        for knob in RocksDBOptions.knobs {
            #expect(knob.name.hasPrefix("rocksdb."))
            #expect(knob.jsonSection == "rocksdb_config")
            #expect(knob.environment == "ORBIT_ROCKSDB_" + knob.jsonKey.uppercased())
        }
        var bad = Settings(knobs: RocksDBOptions.knobs)
        #expect(throws: OrbitError.self) { try bad.set("rocksdb.max_background_jobs", text: "65", from: .flag("--set")) }
    }

    @Test func optionsAreAppliedToRocksDB() throws {
        let dir = TempDir()
        var o = RocksDBOptions()
        o.blockCacheMB = 32
        o.writeBufferMB = 8
        o.maxBackgroundJobs = 3
        o.compression = true
        o.bloomBitsPerKey = 7
        o.maxOpenFiles = 100
        o.statistics = true
        let engine = try Self.open(dir, o)
        defer { try? engine.close() }
        let text = try Self.optionsFile(engine)
        #expect(text.contains("write_buffer_size=8388608"))
        #expect(text.contains("max_background_jobs=3"))
        #expect(text.contains("max_open_files=100"))
        #expect(text.contains("  compression=kLZ4Compression"))
        // The C API's filter policy is a wrapper that does not write its bits into the OPTIONS file.
        #expect(text.contains("filter_policy=bloomfilter"))
        #expect(text.contains("no_block_cache=false"))

        for i in 0..<2000 { try engine.put(Self.bytes("key\(i)"), [UInt8](repeating: UInt8(i & 0xff), count: 100)) }
        try engine.sync()
        // Flush to an SST by snapshotting (a checkpoint flushes the memtable), then read through the cache.
        try engine.createSnapshot(named: "s")
        for i in 0..<2000 { _ = try engine.get(Self.bytes("key\(i)")) }
        // The SST's filter has about 7 bits per key.
        let props = RocksDBEngine.parseTableProperties(try #require(try engine.property("rocksdb.aggregated-table-properties")))
        let filterBits = try #require(props["filter block size"]) * 8 / (try #require(props["# entries"]))
        #expect(filterBits > 6 && filterBits < 9, "filter bits per key \(filterBits)")
        #expect(props["# data blocks"] ?? 0 > 0)
        let s = try engine.stats()
        #expect(Self.extra(s, "rocksdb.block_cache_capacity") == Double(32 << 20))
        #expect(s.cacheHitRate != nil)          // statistics on
        #expect(s.writeAmplification != nil)
        #expect(s.totalKeysIsEstimate)
        #expect(s.totalKeys > 1000)
        #expect(s.averageValueSize == 100)
        #expect(s.memoryUsageBytes > 0 && s.diskUsageBytes > 0)
    }

    @Test func defaultsAndNoCacheNoFilter() throws {
        let dir = TempDir()
        var o = RocksDBOptions()
        o.blockCacheMB = 0
        o.bloomBitsPerKey = 0
        let engine = try Self.open(dir, o)
        defer { try? engine.close() }
        let text = try Self.optionsFile(engine)
        #expect(text.contains("no_block_cache=true"))
        #expect(text.contains("filter_policy=nullptr"))
        #expect(text.contains("  compression=kNoCompression"))
        #expect(text.contains("write_buffer_size=67108864"))
        for i in 0..<100 { try engine.put(Self.bytes("key\(i)"), Self.bytes("value")) }
        try engine.createSnapshot(named: "flush")
        let props = RocksDBEngine.parseTableProperties(try #require(try engine.property("rocksdb.aggregated-table-properties")))
        #expect(props["filter block size"] == 0)
        let s = try engine.stats()
        #expect(s.cacheHitRate == nil && s.writeAmplification == nil)   // statistics off: unknown, not 0
        #expect(Self.extra(s, "rocksdb.block_cache_capacity") == 0)
    }

    @Test func walOffSkipsTheLog() throws {
        let dir = TempDir()
        var o = RocksDBOptions()
        o.wal = false
        let engine = try Self.open(dir, o)
        let before = ThreadIO.current().bytesWritten
        try engine.put(Self.bytes("k"), Self.bytes("v"))
        #expect(ThreadIO.current().bytesWritten == before)
        try engine.close()
        // close() flushed the memtable: the write survived without a WAL.
        let again = try Self.open(dir, o)
        defer { try? again.close() }
        #expect(try again.get(Self.bytes("k")) == Self.bytes("v"))
        #expect(!again.durabilityPromise.note.isEmpty)
    }

    // MARK: Durability

    @Test(arguments: [DurabilityMode.everyWrite, .group, .periodic(milliseconds: 50)])
    func walOffWithSyncingDurabilityIsRefused(mode: DurabilityMode) throws {
        let dir = TempDir()
        var o = RocksDBOptions()
        o.wal = false
        let error = #expect(throws: OrbitError.self) { _ = try Self.open(dir, o, mode) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.description.contains("rocksdb.wal") == true)
        #expect(error?.description.contains("durability") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/CURRENT"))
    }

    @Test func maxOpenFilesBelowRocksDBMinimumIsRefused() throws {
        var o = RocksDBOptions()
        o.maxOpenFiles = 5
        let error = #expect(throws: OrbitError.self) { try o.check(durability: .none) }
        #expect(error?.description.contains("rocksdb.max_open_files") == true)
    }

    @Test func promisesPerMode() {
        #expect(RocksDBEngine.durabilityPromise(for: .none).survives == .processCrash)
        #expect(RocksDBEngine.durabilityPromise(for: .everyWrite).survives == .powerLoss)
        #expect(RocksDBEngine.durabilityPromise(for: .group).survives == .powerLoss)
        #expect(RocksDBEngine.durabilityPromise(for: .periodic(milliseconds: 10)).survives == .powerLossBoundedWindow)
    }

    @Test(arguments: [DurabilityMode.none, .everyWrite, .group, .periodic(milliseconds: 5)])
    func everyModeWritesAndReopens(mode: DurabilityMode) throws {
        let dir = TempDir()
        let engine = try Self.open(dir, RocksDBOptions(), mode)
        for i in 0..<50 { try engine.put(Self.bytes("k\(i)"), Self.bytes("v\(i)")) }
        if case .periodic = mode {
            // A background sync happens eventually; poll (up to 30 s on a loaded machine) instead of
            // assuming it happened within some period.
            var syncs = 0.0
            for _ in 0..<3000 {
                syncs = try #require(Self.extra(try engine.stats(), "rocksdb.periodic_wal_syncs"))
                if syncs >= 1 { break }
                usleep(10_000)
            }
            #expect(syncs >= 1)
        }
        try engine.close()
        let again = try Self.open(dir, RocksDBOptions(), mode)
        defer { try? again.close() }
        #expect(try again.get(Self.bytes("k49")) == Self.bytes("v49"))
        #expect(again.durability == mode)
    }

    @Test func periodicCloseDoesNotWaitForThePeriod() throws {
        let dir = TempDir()
        let engine = try Self.open(dir, RocksDBOptions(), .periodic(milliseconds: 60_000))
        try engine.put(Self.bytes("a"), Self.bytes("b"))
        let t0 = MonotonicClock.nanoseconds()
        try engine.close()
        #expect(MonotonicClock.nanoseconds() - t0 < 5_000_000_000)
    }

    // MARK: Operations

    @Test func putGetDeleteBatchScan() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        defer { try? engine.close() }
        try engine.put([], Self.bytes("empty-key"))
        try engine.put(Self.bytes("a"), [])
        #expect(try engine.get([]) == Self.bytes("empty-key"))
        #expect(try engine.get(Self.bytes("a")) == [])
        #expect(try engine.get(Self.bytes("zz")) == nil)

        var batch = WriteBatch()
        for c in ["b", "c", "d", "e"] { batch.put(Self.bytes(c), Self.bytes(c.uppercased())) }
        batch.delete(Self.bytes("a"))
        try engine.write(batch)
        try engine.write(WriteBatch())
        #expect(try engine.get(Self.bytes("a")) == nil)

        #expect(try engine.scan(from: nil, to: nil).map(\.key) == [[], Self.bytes("b"), Self.bytes("c"), Self.bytes("d"), Self.bytes("e")])
        #expect(try engine.scan(from: Self.bytes("c"), to: Self.bytes("e")).map(\.value) == [Self.bytes("C"), Self.bytes("D")])
        #expect(try engine.scan(from: Self.bytes("b"), to: nil, limit: 2).count == 2)
        #expect(try engine.scan(from: nil, to: []).isEmpty)          // empty upper bound: nothing is below it
        #expect(try engine.scan(from: Self.bytes("d"), to: Self.bytes("c")).isEmpty)
        var seen = 0
        let n = try engine.scan(from: nil, to: nil, limit: 0) { _, _ in seen += 1; return seen < 3 }
        #expect(n == 3)

        try engine.delete(Self.bytes("b"))
        try engine.delete(Self.bytes("never-there"))
        #expect(try engine.get(Self.bytes("b")) == nil)
    }

    @Test func writesCountWALBytes() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        defer { try? engine.close() }
        let key = [UInt8](repeating: 1, count: 16), value = [UInt8](repeating: 2, count: 100)
        let before = ThreadIO.current().bytesWritten
        try engine.put(key, value)
        // 12 header + 1 tag + 1 + 16 + 1 + 100 + 7 record header: what db_bench's WAL grows by per op.
        #expect(ThreadIO.current().bytesWritten - before == 138)
        let walBefore = try #require(Self.extra(try engine.stats(), "rocksdb.wal_files_size"))
        for _ in 0..<100 { try engine.put(key, value) }
        let walAfter = try #require(Self.extra(try engine.stats(), "rocksdb.wal_files_size"))
        #expect(walAfter - walBefore == 100 * 138)
    }

    @Test func readsCountSSTBytes() throws {
        let dir = TempDir()
        var o = RocksDBOptions()
        o.blockCacheMB = 0          // every read goes to the file
        o.countReadBytes = true
        let engine = try Self.open(dir, o)
        defer { try? engine.close() }
        for i in 0..<1000 { try engine.put(Self.bytes("key\(i)"), [UInt8](repeating: 7, count: 100)) }
        try engine.createSnapshot(named: "flush")   // flushes the memtable to an SST
        let before = ThreadIO.current().bytesRead
        #expect(try engine.get(Self.bytes("key500")) != nil)
        let afterGet = ThreadIO.current().bytesRead
        #expect(afterGet > before)
        #expect(try engine.scan(from: Self.bytes("key1"), to: Self.bytes("key2"), limit: 5).count == 5)
        #expect(ThreadIO.current().bytesRead > afterGet)
        // Writes on the same thread switch counting off again and still work.
        try engine.put(Self.bytes("w"), Self.bytes("x"))
        #expect(try engine.get(Self.bytes("w")) == Self.bytes("x"))

        // Without the knob, reads report nothing.
        o.countReadBytes = false
        let dir2 = TempDir()
        let quiet = try Self.open(dir2, o)
        defer { try? quiet.close() }
        for i in 0..<100 { try quiet.put(Self.bytes("key\(i)"), [UInt8](repeating: 7, count: 100)) }
        try quiet.createSnapshot(named: "flush")
        let b2 = ThreadIO.current().bytesRead
        #expect(try quiet.get(Self.bytes("key50")) != nil)
        #expect(ThreadIO.current().bytesRead == b2)
    }

    @Test func reopenKeepsData() throws {
        let dir = TempDir()
        do {
            let engine = try Self.open(dir)
            for i in 0..<1000 { try engine.put(Self.bytes(String(format: "k%05d", i)), Self.bytes("v\(i)")) }
            try engine.delete(Self.bytes("k00007"))
            try engine.close()
        }
        let engine = try Self.open(dir)
        defer { try? engine.close() }
        #expect(try engine.get(Self.bytes("k00999")) == Self.bytes("v999"))
        #expect(try engine.get(Self.bytes("k00007")) == nil)
        #expect(try engine.scan(from: nil, to: nil).count == 999)
    }

    // MARK: Snapshots

    @Test func snapshotCreateListRestoreDrop() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        defer { try? engine.close() }
        try engine.put(Self.bytes("a"), Self.bytes("1"))
        try engine.createSnapshot(named: "one")
        #expect(throws: OrbitError.self) { try engine.createSnapshot(named: "one") }
        #expect(throws: OrbitError.self) { try engine.createSnapshot(named: "../evil") }
        try engine.put(Self.bytes("a"), Self.bytes("2"))
        try engine.put(Self.bytes("b"), Self.bytes("2"))
        try engine.createSnapshot(named: "two.tmp")
        try engine.put(Self.bytes("c"), Self.bytes("3"))
        #expect(try engine.listSnapshots() == ["one", "two.tmp"])

        try engine.restoreSnapshot(named: "one")
        #expect(try engine.get(Self.bytes("a")) == Self.bytes("1"))
        #expect(try engine.get(Self.bytes("b")) == nil)
        #expect(try engine.get(Self.bytes("c")) == nil)
        // The restored store takes writes and the other snapshot is intact.
        try engine.put(Self.bytes("d"), Self.bytes("4"))
        try engine.restoreSnapshot(named: "two.tmp")
        #expect(try engine.get(Self.bytes("a")) == Self.bytes("2"))
        #expect(try engine.get(Self.bytes("d")) == nil)

        try engine.dropSnapshot(named: "one")
        #expect(try engine.listSnapshots() == ["two.tmp"])
        let missing = #expect(throws: OrbitError.self) { try engine.dropSnapshot(named: "one") }
        #expect(missing?.code == .notFound)
        let missingRestore = #expect(throws: OrbitError.self) { try engine.restoreSnapshot(named: "one") }
        #expect(missingRestore?.code == .notFound)
        #expect(try engine.get(Self.bytes("a")) == Self.bytes("2"))   // a failed restore leaves the store open
        // No staging left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: engine.snapshotDirectory) == ["two.tmp"])
    }

    @Test func snapshotIsAnOpenableRocksDBDirectory() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        try engine.put(Self.bytes("x"), Self.bytes("y"))
        try engine.createSnapshot(named: "s")
        let snapDir = engine.snapshotDirectory + "/s"
        try engine.close()
        let copy = try RocksDBEngine(path: snapDir, options: RocksDBOptions(), durability: .none)
        defer { try? copy.close() }
        #expect(try copy.get(Self.bytes("x")) == Self.bytes("y"))
    }

    @Test func restoreInterruptedAfterCommitIsFinishedAtOpen() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        try engine.put(Self.bytes("a"), Self.bytes("old"))
        try engine.createSnapshot(named: "snap")
        try engine.put(Self.bytes("a"), Self.bytes("new"))
        try engine.put(Self.bytes("b"), Self.bytes("new"))
        try engine.close()
        // Simulate a crash right after the journal was written (steps 1-2 done, 3-4 not).
        #expect(try RocksDBEngine.stageAndCommitRestore(path: dir.path, snapshot: "snap"))
        // ... and halfway through step 3: CURRENT already gone.
        try FileManager.default.removeItem(atPath: dir.path + "/CURRENT")
        let again = try Self.open(dir)
        defer { try? again.close() }
        #expect(try again.get(Self.bytes("a")) == Self.bytes("old"))
        #expect(try again.get(Self.bytes("b")) == nil)
        #expect(try again.listSnapshots() == ["snap"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: again.snapshotDirectory) == ["snap"])
    }

    @Test func interruptedCreateAndDropLeftoversAreCleaned() throws {
        let dir = TempDir()
        let engine = try Self.open(dir)
        try engine.createSnapshot(named: "keep")
        try engine.close()
        let root = dir.path + "/orbit-snapshots"
        for junk in ["half+creating", "half+creating.tmp", "old+dropping", "+restore"] {
            try FileManager.default.createDirectory(atPath: root + "/" + junk, withIntermediateDirectories: true)
        }
        let again = try Self.open(dir)
        defer { try? again.close() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["keep"])
    }

    // MARK: Interoperability, close, version

    @Test func ldbReadsTheStore() throws {
        let ldb = "/usr/bin/ldb"
        guard FileManager.default.isExecutableFile(atPath: ldb) else { return }   // rocksdb-tools not installed
        let dir = TempDir()
        let engine = try Self.open(dir)
        for i in 0..<10 { try engine.put(Self.bytes("orbit-key-\(i)"), Self.bytes("value-\(i)")) }
        try engine.createSnapshot(named: "s")   // ldb must ignore orbit-snapshots/
        try engine.close()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ldb)
        process.arguments = ["--db=\(dir.path)", "scan"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "ldb said: \(text)")
        for i in 0..<10 { #expect(text.contains("orbit-key-\(i) : value-\(i)")) }
    }

    @Test func useAfterCloseThrowsClosed() throws {
        let dir = TempDir()
        let engine = try Self.open(dir, RocksDBOptions(), .periodic(milliseconds: 10))
        try engine.put(Self.bytes("k"), Self.bytes("v"))
        try engine.close()
        func isClosed(_ body: () throws -> Void) {
            let e = #expect(throws: OrbitError.self) { try body() }
            #expect(e?.code == .closed)
        }
        isClosed { try engine.put(Self.bytes("k"), Self.bytes("v")) }
        isClosed { _ = try engine.get(Self.bytes("k")) }
        isClosed { try engine.delete(Self.bytes("k")) }
        isClosed { try engine.write(WriteBatch()) }
        isClosed { _ = try engine.scan(from: nil, to: nil) }
        isClosed { try engine.sync() }
        isClosed { _ = try engine.stats() }
        isClosed { try engine.createSnapshot(named: "x") }
        isClosed { _ = try engine.listSnapshots() }
        isClosed { try engine.restoreSnapshot(named: "x") }
        isClosed { try engine.dropSnapshot(named: "x") }
        isClosed { try engine.close() }
        // The handle was released: the directory can be opened again (RocksDB's LOCK is free).
        let again = try Self.open(dir)
        try again.close()
    }

    @Test func concurrentWritersReadersAndClose() throws {
        let dir = TempDir()
        let engine = try Self.open(dir, RocksDBOptions(), .group)
        let threads = 4, perThread = 100
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                try? engine.put(Self.bytes("t\(t)-\(i)"), Self.bytes("v\(i)"))
                _ = try? engine.get(Self.bytes("t\(t)-\(i / 2)"))
            }
        }
        #expect(try engine.scan(from: nil, to: nil).count == threads * perThread)
        // Close while operations run: each either completes or throws .closed, nothing crashes.
        DispatchQueue.concurrentPerform(iterations: threads + 1) { t in
            if t == threads { usleep(2_000); try? engine.close(); return }
            for i in 0..<1_000 {
                do { try engine.put(Self.bytes("late\(t)-\(i)"), Self.bytes("v")) }
                catch let e as OrbitError { #expect(e.code == .closed); return }
                catch { Issue.record("unexpected \(error)"); return }
            }
        }
        #expect(throws: OrbitError.self) { try engine.sync() }
    }

    @Test func libraryVersionMatchesTheOptionsFile() throws {
        let v = RocksDBEngine.libraryVersion()
        #expect(v.split(separator: ".").count == 3, "got \(v)")
        #expect(RocksDBEngine.versionFromScratchStore() == v)
        let dir = TempDir()
        let engine = try Self.open(dir)
        defer { try? engine.close() }
        #expect(try Self.optionsFile(engine).contains("rocksdb_version=\(v)"))
    }
}

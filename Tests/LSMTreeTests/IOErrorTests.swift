import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Injected I/O errors (FaultInjectingFileSystem): regression tests for what the I/O-error sweep
/// (CrashLab IOErrorSweep) found.
@Suite struct IOErrorTests {
    func fileSystem(seed: UInt64 = 3) throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: seed)
        try fs.createDirectory("/db", intermediates: true)
        fs.makeEverythingDurable()
        return fs
    }

    func key(_ i: Int) -> [UInt8] { Array("key\(1000 + i)".utf8) }
    func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i & 0xff), count: 150) }

    /// Found under `none`: an ENOSPC on a WAL append left part of a record in the log and later
    /// writes were acknowledged after it; the reopen then stopped at (or refused) the damaged
    /// record, losing them. Now the store refuses writes (and syncs) after a failed append.
    @Test(arguments: [DurabilityMode.none, .everyWrite, .group, .periodic(milliseconds: 50)])
    func aFailedWALAppendMakesTheStoreReadOnly(_ durability: DurabilityMode) throws {
        let fs = try fileSystem()
        let t = try LSMTree(fs: fs, directory: "/db", durability: durability)
        try t.put(key(1), value(1))
        try t.sync()
        fs.inject(Fault(.noSpace, on: .append, pathSuffix: ".log"))
        let e = try #require(throws: OrbitError.self) { try t.put(self.key(2), self.value(2)) }
        #expect(e.hasErrno(.noSpace) && e.location?.hasSuffix(".log @ offset \(e.location!.split(separator: " ").last!)") == true, "\(e)")
        // The fault is gone, but the log may end in a partial record: no write may follow it.
        let later = try #require(throws: OrbitError.self) { try t.put(self.key(3), self.value(3)) }
        #expect(later.hasErrno(.noSpace) && later.message.contains("read-only") && later.message.contains("reopen"), "\(later)")
        #expect(throws: OrbitError.self) { try t.delete(self.key(1)) }
        #expect(throws: OrbitError.self) { try t.sync() }
        #expect(try t.get(key(1)) == value(1))  // still readable
        #expect(try t.get(key(3)) == nil)
        _ = try? t.close()

        let reopened = try LSMTree(fs: fs, directory: "/db", durability: durability)
        #expect(try reopened.get(key(1)) == value(1))
        #expect(try reopened.get(key(3)) == nil)
        try reopened.put(key(4), value(4))
        #expect(try reopened.get(key(4)) == value(4))
        try reopened.close()
    }

    /// Found under `none` and `periodic`: `sync()` synced only the current WAL, not the one of a
    /// sealed memtable still waiting for its flush, so writes acknowledged and then "synced" were
    /// lost at a power loss. A memtable switch now syncs the WAL it seals, in every mode.
    @Test(arguments: [DurabilityMode.none, .periodic(milliseconds: 10_000)])
    func syncCoversTheWALOfASealedMemtable(_ durability: DurabilityMode) throws {
        let fs = try fileSystem()
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 2048
        let t = try LSMTree(fs: fs, directory: "/db", options: o, durability: durability)
        // Flushes fail, so the sealed memtable's WAL stays live.
        fs.inject(Fault(.ioError, on: .open, pathSuffix: ".sst", count: nil))
        for i in 0..<18 { try t.put(key(i), value(i)) }
        let logs = try fs.list(directory: "/db").filter { $0.hasSuffix(".log") }
        #expect(logs.count == 2, "one memtable sealed: \(logs)")
        try t.sync()

        var rng = SeededRNG(seed: 5)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        _ = try? t.close()
        let reopened = try LSMTree(fs: lost, directory: "/db", options: o, durability: durability)
        for i in 0..<18 { #expect(try reopened.get(key(i)) == value(i), "key \(i) lost after sync() and a power loss") }
        try reopened.close()
    }

    /// A failed flush stops background work and surfaces: in stats, and as the error of close()
    /// and of writes once the memtable is full; nothing acknowledged is lost.
    @Test func aFailedFlushSurfacesAndLosesNothing() throws {
        let fs = try fileSystem()
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 2048
        let t = try LSMTree(fs: fs, directory: "/db", options: o, durability: .everyWrite)
        fs.inject(Fault(.noSpace, on: .write, pathSuffix: ".sst"))
        fs.inject(Fault(.noSpace, on: .append, pathSuffix: ".sst"))
        for i in 0..<14 { try t.put(key(i), value(i)) }
        #expect(throws: OrbitError.self) { try t.flush() }
        let extra = try t.stats().extra
        #expect(extra.first { $0.name == "background_failed" }?.value == 1, "\(extra)")
        #expect(extra.first { $0.name == "read_only" }?.value == 0)
        for i in 0..<14 { #expect(try t.get(key(i)) == value(i)) }
        let e = try #require(throws: OrbitError.self) { try t.close() }
        #expect(e.hasErrno(.noSpace), "\(e)")

        fs.clearFaults()
        let reopened = try LSMTree(fs: fs, directory: "/db", options: o, durability: .everyWrite)
        for i in 0..<14 { #expect(try reopened.get(key(i)) == value(i)) }
        try reopened.close()
    }
}

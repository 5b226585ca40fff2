@testable import LSMTree
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
}

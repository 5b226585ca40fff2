@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Found by the I/O-error sweep after the merge (10 of 10,000 probes): a manifest append or sync
/// failed, the flush and compaction threads went on appending edits behind the damaged (or, after a
/// failed sync, possibly dropped) record, and the next open called the manifest corrupt.
@Suite struct ManifestWriteFailureTests {
    func store() throws -> (FaultInjectingFileSystem, Manifest<FaultInjectingFileSystem>) {
        let fs = FaultInjectingFileSystem(seed: 9)
        try fs.createDirectory("/db", intermediates: true)
        var first = VersionEdit()
        first.logNumber = 1
        first.lastSequence = 0
        first.nextFileNumber = 4
        let m = try Manifest(fs: fs, directory: "/db", number: 3, snapshot: first)
        fs.makeEverythingDurable()
        return (fs, m)
    }

    func edit(_ seq: UInt64) -> VersionEdit {
        var e = VersionEdit()
        e.lastSequence = seq
        return e
    }

    @Test(arguments: [FileOperation.append, .fdatasync])
    func aFailedManifestWriteStopsEveryLaterEdit(_ operation: FileOperation) throws {
        let (fs, m) = try store()
        try m.append(edit(10))
        fs.inject(Fault(.ioError, on: operation, pathSuffix: "MANIFEST-000003"))
        #expect(throws: OrbitError.self) { try m.append(self.edit(20)) }
        // The fault fired once and is gone; the manifest still refuses: a later edit would follow damage.
        let later = try #require(throws: OrbitError.self) { try m.append(self.edit(30)) }
        #expect(later.message.contains("earlier manifest write failed") && later.hint?.contains("reopen") == true, "\(later)")
        m.close()

        // As the process left it, and after a power loss: the manifest opens, with edit 10 at least.
        var rng = SeededRNG(seed: 4)
        for state in [fs, fs.powerLoss(.dropUnsynced, rng: &rng)] {
            let r = try Manifest<FaultInjectingFileSystem>.recover(fs: state, directory: "/db", levels: 7)
            #expect(r.lastSequence >= 10 && r.lastSequence <= 20, "\(r.lastSequence)")
        }
    }
}

@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Power loss on `FaultInjectingFileSystem`: what `sync()` made durable survives whatever the
/// engine does afterwards without syncing (regressions found by the power-loss sweep).
@Suite("cow power loss") struct CowPowerLossTests {
    static let dir = "/store"

    static func freshFS() throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory(dir, intermediates: true)
        try fs.syncDirectory("/")
        return fs
    }

    static func options() -> CowOptions {
        var o = CowOptions()
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.snapshotInterval = 10
        return o
    }

    static func value(_ i: Int, _ round: Int) -> [UInt8] { Array("value-\(i)-round-\(round)-".utf8) + [UInt8](repeating: UInt8(i & 0xff), count: 60) }

    /// Under `none`, `sync()` fdatasyncs the WAL segments, but a segment made since the last
    /// directory sync had no durable name: the power loss took the whole file with it.
    @Test func syncUnderNoneMakesNewSegmentNamesDurable() throws {
        let fs = try Self.freshFS()
        let e = try CowBTree(path: Self.dir, options: Self.options(), durability: .none, fileSystem: fs)
        for i in 0..<30 { try e.put(Array("k\(i)".utf8), Self.value(i, 0)) }
        try e.sync()
        fs.crash()
        try? e.close()
        var rng = SeededRNG(seed: 1)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        let r = try CowBTree(path: Self.dir, options: Self.options(), durability: .none, fileSystem: lost)
        for i in 0..<30 { #expect(try r.get(Array("k\(i)".utf8)) == Self.value(i, 0), "k\(i) lost: \(lost.powerLossDescription ?? "")") }
        try r.close()
    }

    /// Under `none`, checkpoints did not sync: one after a `sync()` recycled the WAL segments the
    /// synced commits were in and reused the old tree's pages, while its own meta page and pages
    /// were not durable — a power loss lost synced commits, or left a store that did not open.
    @Test(arguments: 0..<16) func checkpointsAfterASyncKeepWhatItMadeDurable(_ seed: Int) throws {
        let fs = try Self.freshFS()
        let e = try CowBTree(path: Self.dir, options: Self.options(), durability: .none, fileSystem: fs)
        for i in 0..<40 { try e.put(Array("k\(i)".utf8), Self.value(i, 0)) }
        try e.sync()
        // Unsynced: enough commits for several checkpoints, segment switches and recycling.
        for round in 1...4 { for i in 0..<40 where (i + round) % 3 != 0 { try e.put(Array("k\(i)".utf8), Self.value(i, round)) } }
        fs.crash()
        try? e.close()
        var rng = SeededRNG(seed: UInt64(seed))
        let lost = fs.powerLoss(PowerLossMode.powerLossModes[seed % 4], rng: &rng)
        let r = try CowBTree(path: Self.dir, options: Self.options(), durability: .none, fileSystem: lost)
        for i in 0..<40 {
            let got = try r.get(Array("k\(i)".utf8))
            let possible = (0...4).map { Self.value(i, $0) }
            #expect(got.map { possible.contains($0) } == true, "seed \(seed): k\(i) is \(got.map { String(decoding: $0, as: UTF8.self) } ?? "absent"): \(lost.powerLossDescription ?? "")")
        }
        try r.close()
    }

    /// A segment whose header a crash lost while a record after it survived: the next open could not
    /// see the lost header's sequence number and gave a new lap the same one, in the same file, so
    /// the stale record (an unsynced write the recovery before had already dropped) came back.
    /// (The header of the segment a meta page names is synced before that meta page is written, so
    /// the lost header is one a `none` writer switched to after it; cow-wal.md.)
    @Test func staleRecordsBehindALostHeaderNeverReplay() throws {
        let fs = try Self.freshFS()
        var o = Self.options()
        o.snapshotInterval = 0
        let k = Array("k".utf8)
        var e = try CowBTree(path: Self.dir, options: o, durability: .none, fileSystem: fs)
        try e.put(k, Self.value(1, 0))
        try e.close()  // checkpointed: k is durable in the pages
        e = try CowBTree(path: Self.dir, options: o, durability: .none, fileSystem: fs)
        let filler = [UInt8](repeating: 7, count: 1500)
        for i in 0..<100 { try e.put(Array("filler-\(i)".utf8), filler) }   // switches segments
        try e.delete(k)  // an unsynced record in the newest segment
        fs.crash()
        try? e.close()
        var rng = SeededRNG(seed: 7)
        let lost = fs.powerLoss(.processCrash, rng: &rng)
        // The power loss took the newest segment's header (never synced) but kept the record after it.
        var newest: (name: String, seq: UInt64)? = nil
        for name in try lost.list(directory: Self.dir) where name.hasPrefix("cow.wal.") {
            let bytes = try lost.readFile(joinPath(Self.dir, name))
            if case .segment(let h)? = try? WALFormat.decodeHeader(Array(bytes.prefix(32)), path: name), h.seq > (newest?.seq ?? 0) {
                newest = (name, h.seq)
            }
        }
        let name = try #require(newest?.name)
        do {
            let f = try lost.open(joinPath(Self.dir, name), .readWrite)
            try f.write([UInt8](repeating: 0, count: 32), at: 0)
            try f.fsync()
            try f.close()
        }
        let r = try CowBTree(path: Self.dir, options: o, durability: .none, fileSystem: lost)
        #expect(try r.get(k) == Self.value(1, 0))  // the delete was lost: k is back at its synced value
        // A new lap starts (its header written, nothing else), and the process dies.
        lost.crash()
        try? r.close()
        let again = lost.powerLoss(.processCrash, rng: &rng)
        let r2 = try CowBTree(path: Self.dir, options: o, durability: .none, fileSystem: again)
        #expect(try r2.get(k) == Self.value(1, 0), "the stale delete of an earlier lap was replayed")
        try r2.close()
    }
}

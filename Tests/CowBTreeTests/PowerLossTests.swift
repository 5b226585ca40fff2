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
}

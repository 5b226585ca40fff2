@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Issue 14, crash lab `file-damage` on cow: the newest WAL segment of a store copied while the
/// engine held it (here: the state a process crash leaves) deleted, truncated, torn or replaced by
/// an earlier generation opened with acknowledged writes lost and deleted keys back. The store's
/// durable state names the segments that must exist (the meta page's segment file, a syncing
/// writer's switch records, a header's size class), so each such damage is now corruption naming
/// the file, and the refused open changes no byte (cow-wal.md, "Which segments must exist").
@Suite("cow WAL segment chain") struct CowSegmentChainTests {
    static let dir = "/store"

    static func options() -> CowOptions {
        var o = CowOptions()
        o.pageSize = 512
        o.walSegmentSize = 65_536
        o.walBufferSize = 4096
        o.snapshotInterval = 0
        o.checkpointBytes = 64 << 20   // no checkpoint but the ones at open and close
        return o
    }

    static func k(_ i: Int) -> [UInt8] { Array("key-\(1000 + i)".utf8) }
    static func v(_ i: Int, _ round: Int) -> [UInt8] { Array("value-\(i)-round-\(round)-".utf8) + [UInt8](repeating: UInt8(i & 0xff), count: 1500) }

    /// A store after two sessions: the first puts 40 keys and closes; the second overwrites them,
    /// deletes every fifth and puts `extra` more (enough to switch segments when `switches`), and
    /// dies (process crash: every written byte kept). Returns the crashed state and the WAL files
    /// as the first session left them (the earlier generation).
    static func crashedStore(_ mode: DurabilityMode, switches: Bool) throws -> (FaultInjectingFileSystem, earlier: [String: [UInt8]]) {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory(dir, intermediates: true)
        try fs.syncDirectory("/")
        var e = try CowBTree(path: dir, options: options(), durability: mode, fileSystem: fs)
        for i in 0..<40 { try e.put(k(i), v(i, 0)) }
        try e.close()
        var earlier: [String: [UInt8]] = [:]
        for name in try fs.list(directory: dir) where name.hasPrefix("cow.wal.") { earlier[name] = try fs.readFile(joinPath(dir, name)) }
        e = try CowBTree(path: dir, options: options(), durability: mode, fileSystem: fs)
        for i in 0..<40 { if i % 5 == 0 { try e.delete(k(i)) } else { try e.put(k(i), v(i, 1)) } }
        for i in 40..<(switches ? 130 : 45) { try e.put(k(i), v(i, 1)) }
        fs.crash()
        try? e.close()
        var rng = SeededRNG(seed: 14)
        return (fs.powerLoss(.processCrash, rng: &rng), earlier)
    }

    /// The segment files with a valid header, newest (highest sequence number) first.
    static func segments(_ fs: FaultInjectingFileSystem) throws -> [(name: String, header: WALFormat.SegmentHeader)] {
        var out: [(String, WALFormat.SegmentHeader)] = []
        for name in try fs.list(directory: dir) where name.hasPrefix("cow.wal.") {
            let bytes = try fs.readFile(joinPath(dir, name))
            if case .segment(let h)? = try? WALFormat.decodeHeader(Array(bytes.prefix(32)), path: name) { out.append((name, h)) }
        }
        return out.sorted { $0.1.seq > $1.1.seq }
    }

    static func damage(_ fs: FaultInjectingFileSystem, _ name: String, _ how: String, earlier: [String: [UInt8]]) throws {
        let p = joinPath(dir, name)
        var bytes = try fs.readFile(p)
        switch how {
        case "delete": try fs.remove(p); return
        case "truncate-0": bytes = []
        case "truncate-16": bytes = Array(bytes.prefix(16))
        case "truncate-half": bytes = Array(bytes.prefix(bytes.count / 2))
        case "torn-header": for i in 12..<16 { bytes[i] ^= 0xFF }
        case "earlier-generation": bytes = try #require(earlier[name] ?? earlier.values.first { $0.count > 32 })
        default: Issue.record("unknown damage \(how)")
        }
        let f = try fs.open(p, .readWrite)
        try f.truncate(to: 0)
        try f.write(bytes, at: 0)
        try f.fsync()
        try f.close()
    }

    static func image(_ fs: FaultInjectingFileSystem) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try fs.list(directory: dir) where name != "cow.lock" { out[name] = try fs.readFile(joinPath(dir, name)) }
        return out
    }

    /// The damaged newest segment is refused as corruption naming it, before anything is written.
    static func expectRefused(_ fs: FaultInjectingFileSystem, _ mode: DurabilityMode, naming name: String, _ what: String) throws {
        let before = try image(fs)
        let e = try #require(throws: OrbitError.self, "\(what): the open succeeded") {
            _ = try CowBTree(path: dir, options: options(), durability: mode, fileSystem: fs)
        }
        #expect(e.code == .corruption, "\(what): \(e)")
        #expect("\(e)".contains(name), "\(what): the error does not name \(name): \(e)")
        #expect(try image(fs) == before, "\(what): the refused open changed the store")
    }

    static let damages = ["delete", "truncate-0", "truncate-16", "torn-header", "earlier-generation", "truncate-half"]

    /// The newest segment is the one the meta page names (the open's checkpoint named it; no switch
    /// since): every damage is detected, in every mode (`none` syncs the named header at the
    /// checkpoint; truncate-half only where segments are pre-sized).
    @Test(arguments: [DurabilityMode.everyWrite, .none], damages)
    func aDamagedSegmentTheMetaPageNamesIsCorruption(_ mode: DurabilityMode, _ how: String) throws {
        if mode == .none && how == "truncate-half" { return }   // not pre-sized: indistinguishable from a lost tail
        let (fs, earlier) = try Self.crashedStore(mode, switches: false)
        let segs = try Self.segments(fs)
        let newest = try #require(segs.first)
        try Self.damage(fs, newest.name, how, earlier: earlier)
        try Self.expectRefused(fs, mode, naming: newest.name, "\(mode) \(how) of \(newest.name) (segment \(newest.header.seq))")
    }

    /// The newest segment follows a switch: the switch record at the end of the one before names it.
    @Test(arguments: [DurabilityMode.everyWrite, .group], damages)
    func aDamagedSegmentASwitchRecordNamesIsCorruption(_ mode: DurabilityMode, _ how: String) throws {
        let (fs, earlier) = try Self.crashedStore(mode, switches: true)
        let segs = try Self.segments(fs)
        #expect(segs.count >= 3, "the second session switched segments: \(segs.map(\.name))")
        let newest = try #require(segs.first)
        try Self.damage(fs, newest.name, how, earlier: earlier)
        try Self.expectRefused(fs, mode, naming: newest.name, "\(mode) \(how) of \(newest.name) (segment \(newest.header.seq))")
    }

    /// Undamaged, the same states open with every acknowledged write (the checks reject nothing a
    /// process crash leaves).
    @Test(arguments: [DurabilityMode.everyWrite, .none], [false, true])
    func anUndamagedCrashedStoreOpensWhole(_ mode: DurabilityMode, _ switches: Bool) throws {
        let (fs, _) = try Self.crashedStore(mode, switches: switches)
        let r = try CowBTree(path: Self.dir, options: Self.options(), durability: mode, fileSystem: fs)
        for i in 0..<(switches ? 130 : 45) { #expect(try r.get(Self.k(i)) == (i < 40 && i % 5 == 0 ? nil : Self.v(i, 1)), "key \(i)") }
        try r.close()
    }

    /// A `none` writer syncs nothing at a switch: a power loss may keep the switch record and lose
    /// the header it names. That is a lost tail (what `sync()` covered survives), not corruption.
    @Test func aNoneWritersSwitchRecordWithoutItsSegmentIsALostTail() throws {
        let (fs, _) = try Self.crashedStore(.none, switches: true)
        let newest = try #require(try Self.segments(fs).first)
        try Self.damage(fs, newest.name, "torn-header", earlier: [:])
        let r = try CowBTree(path: Self.dir, options: Self.options(), durability: .none, fileSystem: fs)
        for i in 1..<40 where i % 5 != 0 { #expect(try r.get(Self.k(i)) == Self.v(i, 1), "key \(i)") }
        try r.close()
    }

    /// A syncing writer's switch is durable before the new segment gets records: the new header is
    /// synced before the switch record is written, so a power loss at any point of the switch
    /// leaves a store that opens with every acknowledged write.
    @Test(arguments: 0..<4) func aPowerLossDuringSwitchesLosesNothingAcknowledged(_ seed: Int) throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory(Self.dir, intermediates: true)
        try fs.syncDirectory("/")
        let mode: DurabilityMode = seed % 2 == 0 ? .everyWrite : .group
        let e = try CowBTree(path: Self.dir, options: Self.options(), durability: mode, fileSystem: fs)
        var acked = 0
        for i in 0..<(80 + 7 * seed) { try e.put(Self.k(i), Self.v(i, 0)); acked = i + 1 }
        fs.crash()
        try? e.close()
        var rng = SeededRNG(seed: UInt64(seed))
        let lost = fs.powerLoss(PowerLossMode.powerLossModes[seed % 4], rng: &rng)
        let r = try CowBTree(path: Self.dir, options: Self.options(), durability: mode, fileSystem: lost)
        for i in 0..<acked { #expect(try r.get(Self.k(i)) == Self.v(i, 0), "seed \(seed): key \(i): \(lost.powerLossDescription ?? "")") }
        try r.close()
    }

    /// Header versions: 4 carries the size class; 3 (no size class) and 2 (no mode) are read.
    @Test func segmentHeaderVersions() throws {
        let v4 = WALFormat.segmentHeader(.init(seq: 9, prevTxid: 4, mode: .everyWrite, sizeClass: 16))
        #expect(try WALFormat.decodeHeader(v4, path: "x") == .segment(.init(seq: 9, prevTxid: 4, mode: .everyWrite, sizeClass: 16)))
        let v3 = WALFormat.segmentHeader(.init(seq: 9, prevTxid: 4, mode: .group, version: 3))
        #expect(v3[8] == 3 && v3[11] == 0)
        #expect(try WALFormat.decodeHeader(v3, path: "x") == .segment(.init(seq: 9, prevTxid: 4, mode: .group, version: 3)))
        #expect(WALFormat.sizeClass(preparedSize: 65_536) == 16 && WALFormat.sizeClass(preparedSize: 100_000) == 16)
        #expect(WALFormat.sizeClass(preparedSize: 0) == 0)
        let sw = WALFormat.switchRecord(seq: 5, next: 6, nextSlot: 3)
        let bytes = [UInt8](repeating: 0, count: 40) + sw
        #expect(WALFormat.switchRecord(bytes, at: 40, seq: 5) == .init(nextSeq: 6, nextSlot: 3))
        #expect(WALFormat.switchRecord(bytes, at: 40, seq: 4) == nil)
        #expect(WALFormat.records(segment: Array(bytes.prefix(32)) + sw, seq: 5).isEmpty, "a switch record is not a commit")
    }

    /// The meta page's segment slot (offset 120) round-trips; 0 there (older builds) names none.
    @Test func metaPageNamesTheSegmentFile() throws {
        var m = MetaPage(pageSize: 512, maxKeysPerNode: 0)
        m.walSeq = 12
        m.walSlot = 3
        #expect(try MetaPage.decode(m.encode()).get().walSlot == 3)
        m.walSlot = nil
        let b = m.encode()
        #expect(b[120..<128].allSatisfy { $0 == 0 })
        #expect(try MetaPage.decode(b).get().walSlot == nil)
    }
}

@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// `LSMStoreLayout`: the regions CrashLab's corruption sweep names (its results use them, so the
/// names and their checksum coverage are pinned here), and that the checksum the layout claims is
/// real: a flipped byte in any checksummed region is refused by the engine's own readers.
@Suite("lsm store layout") struct LSMStoreLayoutTests {
    /// Every region a store's files may show, with its checksum coverage (as the corruption sweep
    /// has always named them).
    static let regions: [String: [String: Bool]] = [
        "wal": ["file-header": true, "record-header": true, "record-payload": true, "last-record-header": true,
                "last-record-payload": true, "block-padding": false, "tail": false, "unused": false, "unparsed": true],
        "manifest": ["file-header": true, "record-header": true, "record-payload": true, "block-padding": false,
                     "tail": false, "unused": false, "unparsed": true],
        "sstable": ["footer": true, "filter-block": true, "filter-block-trailer": true, "index-block": true,
                    "index-block-trailer": true, "data-block": true, "data-block-trailer": true],
        "current": ["manifest-name": false],
        "lock": ["lock": false],
    ]
    /// The regions every such store shows.
    static let required: [String: Set<String>] = [
        "wal": ["file-header", "record-header", "record-payload", "last-record-header", "last-record-payload"],
        "manifest": ["file-header", "record-header", "record-payload"],
        "sstable": ["footer", "filter-block", "filter-block-trailer", "index-block", "index-block-trailer", "data-block", "data-block-trailer"],
        "current": ["manifest-name"],
    ]

    /// A closed store on an in-memory file system: tables in several levels, a manifest, CURRENT, and a
    /// WAL whose records include one spanning three blocks (first, middle and last fragments).
    func store(seed: UInt64) throws -> [(path: String, bytes: [UInt8])] {
        let fs = FaultInjectingFileSystem(seed: seed)
        try fs.createDirectory("/db", intermediates: true)
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 16 << 10
        o.sstableBlockSizeKB = 1
        o.compactionThreshold = 2
        o.levelSizeMultiplier = 2
        var rng = SeededRNG(seed: seed)
        func key(_ i: UInt64) -> [UInt8] { Array("key\(100_000 + i)".utf8) }
        do {
            let t = try LSMTree(fs: fs, directory: "/db", options: o, durability: .everyWrite)
            for i in 0..<1200 { try t.put(key(UInt64(i)), rng.bytes(100)) }
            try t.compactUntilSettled()
            try t.close()
        }
        let t = try LSMTree(fs: fs, directory: "/db", options: o, durability: .everyWrite)
        for _ in 0..<40 { try t.put(key(rng.below(1200)), rng.bytes(100)) }
        try t.put(key(7), rng.bytes(70_000))
        for _ in 0..<5 { try t.put(key(rng.below(1200)), rng.bytes(100)) }
        try t.close()
        return try fs.list(directory: "/db").filter { $0 != "snapshots" }.map { ($0, try fs.readFile("/db/" + $0)) }
    }

    @Test func regionsAndCoverageAreTheSweepsNames() throws {
        let seed = TestSeed.pick("lsm store layout names", default: 0x5_7A7E)
        var seen: [String: Set<String>] = [:]
        for f in try store(seed: seed) {
            let l = try #require(LSMStoreLayout.fileLayout(relativePath: f.path, bytes: f.bytes))
            #expect(l.fileType == LSMStoreLayout.fileKind(relativePath: f.path))
            #expect(l.size == Int64(f.bytes.count))
            let check = FileLayoutChecks.problems(l, known: Self.regions)
            #expect(check.problems.isEmpty, "\(check.problems)")
            seen[l.fileType, default: []].formUnion(check.regions)
        }
        for (type, regions) in Self.required { #expect(regions.isSubset(of: seen[type] ?? []), "\(type): \(seen[type] ?? [])") }
    }

    /// Every checksummed region, sampled (up to 6 segments of each region of each file and 20 offsets
    /// of a checksummed default region, one seeded bit each): the engine's reader refuses the file or
    /// drops the record.
    @Test func everyChecksummedRegionFailsTheChecksumWhenFlipped() throws {
        let seed = TestSeed.pick("lsm store layout flips", default: 0xF11F)
        var rng = SeededRNG(seed: seed)
        var flips: [String: Int] = [:]
        for f in try store(seed: seed) {
            let l = try #require(LSMStoreLayout.fileLayout(relativePath: f.path, bytes: f.bytes))
            guard l.fileType == "wal" || l.fileType == "manifest" || l.fileType == "sstable" else { continue }
            let pristine = try check(l.fileType, f.path, f.bytes)
            #expect(pristine != nil, "\(f.path): the pristine file reads")
            for at in FileLayoutChecks.checksummedOffsets(l, perRegion: 6, defaultSamples: 20, &rng) {
                let region = l.classify(Int64(at)).region
                var damaged = f.bytes
                damaged[at] ^= UInt8(1) << UInt8(rng.below(8))
                let after = try check(l.fileType, f.path, damaged)
                #expect(after != pristine, "seed \(seed): \(f.path) @ \(at) (\(region)) flipped, and the engine read it as before")
                flips[region, default: 0] += 1
            }
        }
        print("lsm flips per region: \(flips.sorted { $0.key < $1.key })")
        #expect(flips["data-block"] ?? 0 > 0 && flips["last-record-payload"] ?? 0 > 0 && flips["footer"] ?? 0 > 0)
    }

    /// What the engine's reader makes of a file: a summary of what it read, nil when it refused it.
    func check(_ type: String, _ name: String, _ bytes: [UInt8]) throws -> String? {
        let fs = FaultInjectingFileSystem(seed: 1)
        try fs.createDirectory("/t", intermediates: true)
        let path = "/t/" + name
        let h = try fs.open(path, .truncate)
        try h.write(bytes, at: 0)
        try h.close()
        do {
            if type == "sstable" {
                let tables = TableCache<FaultInjectingFileSystem.File>(capacity: 4) { try fs.open($0, .read) }
                let reader = try TableReader(path: path, number: 1, size: UInt64(bytes.count), cache: BlockCache(capacityBytes: 1 << 20),
                                             tables: tables)
                return "entries \(try reader.verify())"
            }
            let file = try fs.open(path, .read)
            defer { try? file.close() }
            // As recovery reads them: a manifest plainly; a WAL as one the manifest knows, not the
            // newest (so a damaged final record is refused rather than dropped as a torn tail).
            let reader = type == "wal"
                ? LogReader(file: file, magic: LogFormat.walMagic, paranoid: true, lastLog: false, number: UInt64(name.dropLast(4)), knownLog: true)
                : LogReader(file: file, magic: LogFormat.manifestMagic, paranoid: true)
            var records: [Int64] = []
            let o = try reader.read { _, offset in records.append(offset) }
            return "records \(records) end \(o.validEnd) torn \(o.tornTail) skipped \(o.skippedRegions)"
        } catch is OrbitError {
            return nil
        }
    }
}

@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// `CowStoreLayout`: the regions CrashLab's corruption sweep names (its results use them, so the
/// names and their checksum coverage are pinned here), the page size read from the store's own
/// meta page, and that the checksum the layout claims is real: a flipped byte in any checksummed
/// region is refused by the engine's own checks.
@Suite("cow store layout") struct CowStoreLayoutTests {
    /// Every region a store's files may show, with its checksum coverage.
    static let regions: [String: [String: Bool]] = [
        "data-page": ["meta-page": true, "meta-unused": false, "page-header": true, "page-body": true],
        "wal-segment": ["segment-header": true, "spare-header": false, "record-header": true, "record-payload": true,
                        "last-record-header": true, "last-record-payload": true, "free": false],
        "lock": ["lock": false],
    ]
    static let required: [String: Set<String>] = [
        "data-page": ["meta-page", "meta-unused", "page-header", "page-body"],
        "wal-segment": ["segment-header", "record-header", "record-payload", "last-record-header", "last-record-payload", "free"],
    ]
    /// Not the default (4096): the layout must take it from the meta page.
    static let pageSize = 1024

    /// The files of a store copied after `sync()` with the engine open (checkpointed pages and a
    /// WAL holding the latest commits), on an in-memory file system.
    func store(seed: UInt64) throws -> [(path: String, bytes: [UInt8])] {
        let fs = FaultInjectingFileSystem(seed: seed)
        try fs.createDirectory("/db", intermediates: true)
        var o = CowOptions()
        o.pageSize = Self.pageSize
        o.walSegmentSize = 64 << 10
        o.checkpointBytes = 96 << 10
        var rng = SeededRNG(seed: seed)
        let e = try CowBTree(path: "/db", options: o, durability: .everyWrite, fileSystem: fs)
        for i in 0..<1500 { try e.put(Array("key\(100_000 + Int(rng.below(2000)) + i % 2)".utf8), rng.bytes(100)) }
        try e.sync()
        let files = try fs.list(directory: "/db").map { ($0, try fs.readFile("/db/" + $0)) }
        try e.close()
        return files
    }

    @Test func regionsAndCoverageAreTheSweepsNames() throws {
        let seed = TestSeed.pick("cow store layout names", default: 0xC0_7A7E)
        var seen: [String: Set<String>] = [:]
        for f in try store(seed: seed) {
            let l = try #require(CowStoreLayout.fileLayout(relativePath: f.path, bytes: f.bytes))
            #expect(l.fileType == CowStoreLayout.fileKind(relativePath: f.path))
            let check = FileLayoutChecks.problems(l, known: Self.regions)
            #expect(check.problems.isEmpty, "\(check.problems)")
            seen[l.fileType, default: []].formUnion(check.regions)
            if l.fileType == "data-page" {
                // Page headers where the store's own page size puts them.
                #expect(CowStoreLayout.pageSize(ofPageFile: f.bytes) == Self.pageSize)
                for s in l.segments where s.region == "page-header" { #expect(s.start % Int64(Self.pageSize) == 0) }
                #expect(l.segments.filter { $0.region == "page-header" }.count == f.bytes.count / Self.pageSize - 2)
            }
        }
        for (type, regions) in Self.required { #expect(regions.isSubset(of: seen[type] ?? []), "\(type): \(seen[type] ?? [])") }
    }

    /// Checksummed regions, sampled (up to 6 segments of each region of each file and 40 offsets in
    /// the checksummed default region, one seeded bit each): the engine's check refuses the flip.
    @Test func everyChecksummedRegionFailsTheChecksumWhenFlipped() throws {
        let seed = TestSeed.pick("cow store layout flips", default: 0xF11C)
        var rng = SeededRNG(seed: seed)
        var flips: [String: Int] = [:]
        for f in try store(seed: seed) {
            let l = try #require(CowStoreLayout.fileLayout(relativePath: f.path, bytes: f.bytes))
            guard l.fileType == "data-page" || l.fileType == "wal-segment" else { continue }
            for at in FileLayoutChecks.checksummedOffsets(l, perRegion: 6, defaultSamples: 40, &rng) {
                let region = l.classify(Int64(at)).region
                guard let pristine = check(l.fileType, f.bytes, at) else { continue }  // a page never written
                var damaged = f.bytes
                damaged[at] ^= UInt8(1) << UInt8(rng.below(8))
                #expect(check(l.fileType, damaged, at) != pristine,
                        "seed \(seed): \(f.path) @ \(at) (\(region)) flipped, and the engine read it as before")
                flips[region, default: 0] += 1
            }
        }
        print("cow flips per region: \(flips.sorted { $0.key < $1.key })")
        for region in ["meta-page", "page-header", "page-body", "segment-header", "record-payload", "last-record-header"] {
            #expect(flips[region] ?? 0 > 0, "\(region) probed")
        }
    }

    /// What the engine's checks make of the structure holding byte `at`: the decoded meta page, a
    /// page whose checksum holds, a segment's header and records; nil when the engine refuses it (for
    /// the pristine file: a structure the engine never reads, such as a page never written).
    func check(_ type: String, _ b: [UInt8], _ at: Int) -> String? {
        if type == "wal-segment" {
            guard let header = try? WALFormat.decodeHeader(b, path: "seg"), case .segment(let h) = header else { return nil }
            return "\(h) \(WALFormat.records(segment: b, seq: h.seq).map(\.txid))"
        }
        let base = at / Self.pageSize * Self.pageSize
        if UInt64(base / Self.pageSize) < Layout.firstDataPage {
            switch MetaPage.decode(Array(b[base..<(base + MetaPage.encodedSize)])) {
            case .success(let m): return "\(m)"
            case .failure: return nil
            }
        }
        guard base + Self.pageSize <= b.count else { return nil }
        var page = Array(b[base..<(base + Self.pageSize)])
        let valid = page.withUnsafeMutableBytes { Page.checksumIsValid($0.baseAddress!, Self.pageSize) }
        return valid ? "valid" : nil
    }
}

@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Flipped bytes the corruption sweep (issue 5) found served silently: a damaged newest meta page
/// fell back to the older one, and a damaged WAL record or segment header cut the log short.
/// Each must be reported as corruption naming the file and offset.
@Suite("cow corruption")
struct CowCorruptionTests {
    let fs = POSIXFileSystem()

    func options(wal: Bool) -> CowOptions {
        var o = CowOptions()
        o.wal = wal
        o.walSegmentSize = 1 << 16
        return o
    }

    func expectCorruption(_ dir: String, _ o: CowOptions, naming file: String, _ comment: Comment) {
        #expect(comment) {
            // The failed open must also release the half-built engine without a crash.
            let e = try CowEngine(path: dir, options: o, durability: .everyWrite)
            try e.close()
        } throws: { error in
            guard let e = error as? OrbitError else { return false }
            return e.code == .corruption && (e.location ?? "").contains(file) && (e.location ?? "").contains("@ offset")
        }
    }

    func flip(_ path: String, _ offset: Int, _ mask: UInt8 = 0xFF) throws {
        var bytes = try fs.readFile(path)
        bytes[offset] ^= mask
        try fs.writeFileAtomically(path, bytes)
    }

    /// The slot of the meta page with the larger txid.
    func newestMetaSlot(_ dir: String, pageSize: Int) throws -> Int {
        let f = try fs.open(joinPath(dir, "cow.db"), .read)
        defer { try? f.close() }
        let metas = try readMetaPages(f, preferredPageSize: pageSize)
        let valid = metas.compactMap { m -> (Int, UInt64)? in if case .success(let p) = m.meta { (m.slot, p.txid) } else { nil } }
        return valid.max { $0.1 < $1.1 }!.0
    }

    @Test(arguments: [false, true])
    func damagedNewestMetaPageIsCorruption(wal: Bool) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-metaflip") { dir in
            let o = options(wal: wal)
            let e = try CowEngine(path: dir, options: o, durability: .everyWrite)
            for i in 0..<200 { try e.put(b(k4(i)), b("value-\(i)")) }
            try e.close()  // a checkpoint: with the WAL on, its segments are recycled
            let slot = try newestMetaSlot(dir, pageSize: o.pageSize)
            try flip(joinPath(dir, "cow.db"), slot * o.pageSize + 64)  // free count: under the checksum
            expectCorruption(dir, o, naming: "cow.db", "wal=\(wal)")
        }
    }

    /// The older meta page damaged loses nothing: the newest is used.
    @Test func damagedOlderMetaPageIsHarmless() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-metaold") { dir in
            let o = options(wal: false)
            let e = try CowEngine(path: dir, options: o, durability: .everyWrite)
            for i in 0..<50 { try e.put(b(k4(i)), b("value-\(i)")) }
            try e.close()
            let slot = try newestMetaSlot(dir, pageSize: o.pageSize)
            try flip(joinPath(dir, "cow.db"), (1 - slot) * o.pageSize + 64)
            let r = try CowEngine(path: dir, options: o, durability: .everyWrite)
            for i in 0..<50 { #expect(try r.get(b(k4(i))) == b("value-\(i)")) }
            try r.close()
        }
    }

    /// Files of an open store after a sync: the last commits only in the WAL.
    func copyOfOpenStore(_ root: String) throws -> (dir: String, segment: String, records: [WALFormat.Record]) {
        let src = joinPath(root, "src"), dst = joinPath(root, "dst")
        let e = try CowEngine(path: src, options: options(wal: true), durability: .everyWrite)
        for i in 0..<40 { try e.put(b(k4(i)), b("value-\(i)")) }
        try e.sync()
        let seg = e.walCurrent!
        try fs.createDirectory(dst, intermediates: true)
        for name in try fs.list(directory: src) where name.hasPrefix("cow.") {
            try fs.writeFileAtomically(joinPath(dst, name), try fs.readFile(joinPath(src, name)))
        }
        let name = seg.file.path.split(separator: "/").last.map(String.init)!
        let records = WALFormat.records(segment: try fs.readFile(seg.file.path), seq: seg.seq)
        try e.close()
        return (dst, joinPath(dst, name), records)
    }

    @Test func damagedWALRecordBeforeTheLastIsCorruption() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-walflip") { root in
            let (dir, segment, records) = try copyOfOpenStore(root)
            #expect(records.count >= 10)
            try flip(segment, records[5].payload.lowerBound + 3, 0x04)
            expectCorruption(dir, options(wal: true), naming: segment.split(separator: "/").last.map(String.init)!, "record 5")
        }
    }

    @Test func damagedSegmentHeaderIsCorruption() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-walhdr") { root in
            let (dir, segment, _) = try copyOfOpenStore(root)
            try flip(segment, 20, 0x01)  // the sequence number, under the header checksum
            expectCorruption(dir, options(wal: true), naming: segment.split(separator: "/").last.map(String.init)!, "header")
        }
    }
}

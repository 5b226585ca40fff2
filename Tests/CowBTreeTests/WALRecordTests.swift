@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// The cow WAL's records on their own (docs/formats/cow-wal.md): segment headers of each version,
/// commit records, switch records; damaged bytes are an error or the end of the log, never a trap.
@Suite("cow WAL record") struct WALRecordTests {
    static func commit(seq: UInt64, txid: UInt64, _ ops: [(put: Bool, key: String, value: String)]) -> [UInt8] {
        var r: [UInt8] = []
        WALFormat.begin(&r, txid: txid)
        for op in ops {
            Array(op.key.utf8).withUnsafeBytes { k in
                if op.put { Array(op.value.utf8).withUnsafeBytes { WALFormat.appendPut(&r, k, $0) } } else { WALFormat.appendDelete(&r, k) }
            }
        }
        WALFormat.finish(&r, seq: seq)
        return r
    }

    @Test func segmentHeadersOfEachVersionRoundTrip() throws {
        let headers = [
            WALFormat.SegmentHeader(seq: 5, prevTxid: 40),                                              // version 2
            WALFormat.SegmentHeader(seq: 6, prevTxid: 41, mode: .everyWrite, version: WALFormat.version3),
            WALFormat.SegmentHeader(seq: 7, prevTxid: 42, mode: .group, sizeClass: 16),                 // version 4
            WALFormat.SegmentHeader(seq: 8, prevTxid: 43, mode: .none),
        ]
        for h in headers {
            let bytes = WALFormat.segmentHeader(h)
            #expect(bytes.count == WALFormat.segmentHeaderSize)
            #expect(try WALFormat.decodeHeader(bytes, path: "/s/cow.wal.0") == .segment(h), "version \(h.version)")
        }
        #expect(try WALFormat.decodeHeader([UInt8](repeating: 0, count: 32), path: "x") == .spare)
        #expect(try WALFormat.decodeHeader(Array(WALFormat.magic.prefix(3)) + [UInt8](repeating: 0, count: 29), path: "x") == .spare)
        #expect(WALFormat.sizeClass(preparedSize: 65_536) == 16 && WALFormat.sizeClass(preparedSize: 65_535) == 15)
    }

    /// Every flipped byte of a header is a spare (torn: checksum), or corruption naming the file
    /// (a foreign magic, an unknown version), never a header that decodes to something else.
    @Test func aDamagedHeaderIsASpareOrCorruption() throws {
        let h = WALFormat.SegmentHeader(seq: 7, prevTxid: 42, mode: .group, sizeClass: 16)
        let bytes = WALFormat.segmentHeader(h)
        for i in 0..<bytes.count {
            var d = bytes
            d[i] ^= 0x5A
            do {
                let got = try WALFormat.decodeHeader(d, path: "/s/cow.wal.3")
                #expect(got == .spare, "byte \(i): \(got)")
            } catch let e as OrbitError {
                #expect(e.code == .corruption && e.location?.hasPrefix("/s/cow.wal.3") == true, "byte \(i)")
            }
        }
    }

    @Test func commitRecordsRoundTripAndEndAtTheFirstBadOne() throws {
        var file = WALFormat.segmentHeader(.init(seq: 3, prevTxid: 0, mode: .none))
        let ops: [[(put: Bool, key: String, value: String)]] = [
            [(true, "a", "1")], [(false, "a", ""), (true, "b", String(repeating: "x", count: 300))], [], [(true, "", "")],
        ]
        var ends: [Int] = []
        for (i, o) in ops.enumerated() { file += Self.commit(seq: 3, txid: UInt64(i + 1), o); ends.append(file.count) }
        let records = WALFormat.records(segment: file, seq: 3)
        #expect(records.map(\.txid) == [1, 2, 3, 4] && records.map(\.end) == ends)
        for (r, want) in zip(records, ops) {
            var got: [(Bool, String, String)] = []
            try file.withUnsafeBytes { raw in
                try WALFormat.forEachOperation(UnsafeRawBufferPointer(rebasing: raw[r.payload])) { put, k, v in
                    got.append((put, String(decoding: k, as: UTF8.self), String(decoding: v, as: UTF8.self)))
                }
            }
            #expect(got.count == want.count && zip(got, want).allSatisfy { $0.0 == $1.put && $0.1 == $1.key && $0.2 == $1.value })
        }
        // A cut at each byte of the last record ends the log after the one before; a flipped byte in
        // record 2 ends it after record 1.
        for cut in ends[2]..<ends[3] { #expect(WALFormat.records(segment: Array(file[0..<cut]), seq: 3).count == 3, "cut \(cut)") }
        var d = file
        d[ends[0] + 30] ^= 1
        #expect(WALFormat.records(segment: d, seq: 3).map(\.txid) == [1])
        #expect(WALFormat.recordAfter(d, end: ends[0], seq: 3, lastTxid: 1) == ends[1])
        // Another segment's sequence number: nothing.
        #expect(WALFormat.records(segment: file, seq: 4).isEmpty)
    }

    @Test func aSwitchRecordRoundTrips() {
        let s = WALFormat.switchRecord(seq: 9, next: 10, nextSlot: 3)
        #expect(s.count == WALFormat.switchRecordSize)
        let file = WALFormat.segmentHeader(.init(seq: 9, prevTxid: 0, mode: .group)) + Self.commit(seq: 9, txid: 1, [(true, "k", "v")]) + s
        let at = file.count - s.count
        #expect(WALFormat.switchRecord(file, at: at, seq: 9) == .init(nextSeq: 10, nextSlot: 3))
        #expect(WALFormat.switchRecord(file, at: at, seq: 8) == nil)
        #expect(WALFormat.switchRecordAfter(file, end: WALFormat.segmentHeaderSize, seq: 9) == at)
        // Its txid 0 ends the record reader's walk.
        #expect(WALFormat.records(segment: file, seq: 9).map(\.txid) == [1])
        for i in 0..<s.count {
            var d = file
            d[at + i] ^= 0x11
            #expect(WALFormat.switchRecord(d, at: at, seq: 9) == nil, "byte \(i)")
        }
    }

    /// Payloads with damaged operation headers are a corruption error naming the record, never a
    /// trap (random bytes, and lengths near UInt32.max).
    @Test func aDamagedPayloadIsAnErrorNeverATrap() throws {
        var rng = TestSeed.rng("cow.walRecord.payload", default: 91)
        let good = Self.commit(seq: 1, txid: 1, [(true, "key", "value"), (false, "gone", ""), (true, "k2", "v2")])
        let payload = Array(good[WALFormat.recordHeaderSize...])
        var errors = 0
        for _ in 0..<3000 {
            var d = payload
            for _ in 0..<Int(1 + rng.below(3)) { d[Int(rng.below(UInt64(d.count)))] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.below(4) == 0 { d = Array(d.prefix(Int(rng.below(UInt64(d.count))))) }
            do {
                try d.withUnsafeBytes { try WALFormat.forEachOperation($0, at: "/s/cow.wal.0 @ offset 32") { _, _, _ in } }
            } catch let e as OrbitError {
                #expect(e.code == .corruption && e.location == "/s/cow.wal.0 @ offset 32")
                errors += 1
            }
        }
        var huge: [UInt8] = [1]
        huge.appendU32(UInt32.max); huge.appendU32(UInt32.max)
        #expect(throws: OrbitError.self) { try huge.withUnsafeBytes { try WALFormat.forEachOperation($0) { _, _, _ in } } }
        print("[cow wal] 3000 damaged payloads: \(errors) refused, the rest decoded")
        #expect(errors > 1000)
    }
}

/// The version-1 `cow.wal` of development builds is no longer read: a store holding one is
/// refused by name, and nothing in it changes.
@Suite("cow retired formats") struct CowRetiredFormatTests {
    @Test func aStoreHoldingAVersion1WALIsRefusedByName() throws {
        let fs = FaultInjectingFileSystem(seed: 6)
        try fs.createDirectory("/store", intermediates: true)
        var options = CowBTreeTests.options()
        options.walSegmentSize = 1 << 16
        let e = try CowBTree(path: "/store", options: options, durability: .everyWrite, fileSystem: fs)
        try e.put(b("k"), b("v"))
        try e.close()
        let legacy = WALFormat.magic + [1, 0, 0, 0] + [UInt8](repeating: 0, count: 4)
        let f = try fs.open("/store/cow.wal", .truncate)
        try legacy.withUnsafeBytes { _ = try f.append($0) }
        try f.close()
        var before: [String: [UInt8]] = [:]
        for n in try fs.list(directory: "/store") where n != "snapshots" { before[n] = try fs.readFile("/store/" + n) }
        for access in [StoreAccess.readWrite, .readOnly] {
            let err = try #require(throws: OrbitError.self) {
                _ = try CowBTree(path: "/store", options: options, durability: .everyWrite, fileSystem: fs, access: access)
            }
            #expect(err.code == .unsupported && err.location == "/store/cow.wal", "\(access): \(err)")
        }
        var after: [String: [UInt8]] = [:]
        for n in try fs.list(directory: "/store") where n != "snapshots" { after[n] = try fs.readFile("/store/" + n) }
        #expect(after == before)
    }
}

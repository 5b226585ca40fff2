@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// LogWriter and LogReader on their own (docs/formats/lsm-log.md): every fragment type, records
/// across block boundaries, block padding, and a torn tail at each byte of the last record.
@Suite("lsm log framing") struct LogFramingTests {
    static let bs = LogFormat.blockSize

    /// A log of `records` written by `LogWriter` (a WAL numbered 7, or a manifest), its bytes.
    static func log(_ records: [[UInt8]], wal: Bool = false, sync: Bool = false) throws -> [UInt8] {
        let fs = FaultInjectingFileSystem(seed: 1)
        let f = try fs.open("/x.log", .truncate)
        let w = try LogWriter(newFile: f, magic: wal ? LogFormat.walMagic : LogFormat.manifestMagic, number: wal ? 7 : nil)
        for r in records {
            try w.addRecord(r)
            if sync { try w.sync() }
        }
        return try fs.readFile("/x.log")
    }

    /// Reads `bytes` as a log file; the records and the outcome.
    static func read(_ bytes: [UInt8], wal: Bool = false, paranoid: Bool = true, lastLog: Bool = true) throws
        -> (records: [[UInt8]], offsets: [Int64], outcome: LogReader<FaultInjectingFile>.Outcome) {
        let fs = FaultInjectingFileSystem(seed: 2)
        let f = try fs.open("/000007.log", .truncate)
        try bytes.withUnsafeBytes { _ = try f.append($0) }
        var records: [[UInt8]] = [], offsets: [Int64] = []
        let reader = LogReader(file: f, magic: wal ? LogFormat.walMagic : LogFormat.manifestMagic, paranoid: paranoid,
                               lastLog: lastLog, number: wal ? 7 : nil)
        let outcome = try reader.read { r, o in records.append([UInt8](r)); offsets.append(o) }
        return (records, offsets, outcome)
    }

    /// The physical records of a log's bytes, in order (type and offset), by the record check.
    static func physical(_ bytes: [UInt8]) -> [(LogFormat.RecordType, Int)] {
        bytes.withUnsafeBytes { p in
            var out: [(LogFormat.RecordType, Int)] = []
            var pos = LogFormat.fileHeaderSize
            while pos < p.count {
                if bs - pos % bs < LogFormat.headerSize { pos += bs - pos % bs; continue }
                guard case .intact(let t, let payload) = LogFormat.physicalRecord(p, at: pos) else { break }
                out.append((t, pos))
                pos = payload.upperBound
            }
            return out
        }
    }

    static func record(_ n: Int, _ tag: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ tag } }

    @Test func everyFragmentTypeRoundTrips() throws {
        // full; first + last (crosses one boundary); first + middle + middle + last (three boundaries).
        let records = [Self.record(100, 1), Self.record(Self.bs, 2), Self.record(3 * Self.bs, 3), Self.record(0, 4)]
        let bytes = try Self.log(records)
        let types = Self.physical(bytes).map(\.0)
        #expect(types == [.full, .first, .last, .first, .middle, .middle, .last, .full])
        let got = try Self.read(bytes)
        #expect(got.records == records)
        #expect(got.outcome.records == 4 && !got.outcome.tornTail && got.outcome.validEnd == Int64(bytes.count))
        // Each logical record is reported at the offset of its first fragment.
        #expect(got.offsets == Self.physical(bytes).filter { $0.0 == .first || $0.0 == .full }.map { Int64($0.1) })
        #expect(got.offsets.prefix(2) == [16, 16 + 7 + 100])
    }

    /// A record that leaves fewer than 7 bytes in its block: the block is padded with zeros, the
    /// next record starts the next block.
    @Test func aBlockTailTooSmallForAHeaderIsPadding() throws {
        for left in 0..<LogFormat.headerSize {
            let first = Self.bs - LogFormat.fileHeaderSize - LogFormat.headerSize - left
            let records = [Self.record(first, 5), Self.record(10, 6)]
            let bytes = try Self.log(records)
            #expect(bytes.count == Self.bs + LogFormat.headerSize + 10, "left \(left)")
            #expect(bytes[(Self.bs - left)..<Self.bs].allSatisfy { $0 == 0 }, "left \(left)")
            #expect(Self.physical(bytes).map(\.1) == [16, Self.bs], "left \(left)")
            #expect(try Self.read(bytes).records == records, "left \(left)")
        }
    }

    @Test func randomRecordsAcrossBlockBoundariesRoundTrip() throws {
        var rng = TestSeed.rng("lsm.logFraming.randomRecords", default: 15)
        var records: [[UInt8]] = []
        for _ in 0..<300 {
            let n = rng.below(8) == 0 ? Int(rng.below(UInt64(2 * Self.bs))) : Int(rng.below(600))
            records.append(rng.bytes(n))
        }
        let bytes = try Self.log(records)
        #expect(bytes.count > 4 * Self.bs)
        let got = try Self.read(bytes)
        #expect(got.records == records)
        #expect(!got.outcome.tornTail)
    }

    /// The last record cut at each of its bytes (it spans a block boundary: header, first fragment,
    /// padding-free boundary, last fragment): the records before it are read, the rest is a torn
    /// tail to cut at the end of the one before. For a manifest and for a WAL whose last record
    /// was never synced.
    @Test(arguments: [false, true]) func aTornTailAtEachByteOfTheLastRecordStopsBeforeIt(wal: Bool) throws {
        func payload(_ i: Int, _ n: Int) -> [UInt8] {
            guard wal else { return Self.record(n, UInt8(i)) }
            var p: [UInt8] = []
            WALPayload.begin(&p, sequence: UInt64(i + 1), count: 0, syncedThrough: Int64(LogFormat.fileHeaderSize))
            return p + Self.record(n, UInt8(i))
        }
        // Record 1 ends 37 bytes before the block boundary: record 2 is a first fragment of 30
        // bytes there and a last one in the next block.
        let header = wal ? WALPayload.headerSize : 0
        let second = Self.bs - LogFormat.fileHeaderSize - 3 * LogFormat.headerSize - 200 - 2 * header - 30
        let records = [payload(0, 200), payload(1, second), payload(2, 60)]
        let bytes = try Self.log(records, wal: wal)
        let lastStart = Self.physical(bytes).filter { $0.0 == .first || $0.0 == .full }.last!.1
        #expect(lastStart < Self.bs && bytes.count > Self.bs, "the last record crosses the block boundary")
        let before = try Self.read(Array(bytes[0..<lastStart]), wal: wal)
        for cut in lastStart..<bytes.count {
            let got = try Self.read(Array(bytes[0..<cut]), wal: wal)
            #expect(got.records == Array(records.prefix(2)), "cut at \(cut)")
            #expect(got.outcome.validEnd == Int64(lastStart) && got.outcome.tornTail == (cut > lastStart), "cut at \(cut)")
            #expect(before.outcome.validEnd == got.outcome.validEnd)
        }
    }

    /// Damage with a later record claiming it synced is corruption naming the offset; without the
    /// claim (the tail was never synced) it is a torn tail. `paranoid` false skips the block.
    @Test func damageBeforeASyncedClaimIsCorruption() throws {
        // Synced after each record, which claims (synced-through) the ones before it, as the engine writes.
        let fs = FaultInjectingFileSystem(seed: 3)
        let f = try fs.open("/w.log", .truncate)
        let w = try LogWriter(newFile: f, magic: LogFormat.walMagic, number: 7)
        var offsets: [Int] = []
        for i in 0..<4 {
            var p: [UInt8] = []
            WALPayload.begin(&p, sequence: UInt64(i + 1), count: 0, syncedThrough: w.syncedSize)
            p += Self.record(50, UInt8(i))
            offsets.append(Int(w.size))
            try w.addRecord(p)
            try w.sync()
        }
        let bytes = try fs.readFile("/w.log")
        var damaged = bytes
        damaged[offsets[1] + 10] ^= 0xFF
        #expect { _ = try Self.read(damaged, wal: true) } throws: { e in
            guard let e = e as? OrbitError else { return false }
            return e.code == .corruption && e.location == "/000007.log @ offset \(offsets[1])"
        }
        let skipped = try Self.read(damaged, wal: true, paranoid: false)
        #expect(skipped.outcome.skippedRegions == 1 && skipped.records.count == 1)  // the rest of block 0 is skipped
        // The same damage in the last record, claimed by none: the unsynced tail.
        var tail = bytes
        tail[offsets[3] + 10] ^= 0xFF
        let t = try Self.read(tail, wal: true)
        #expect(t.records.count == 3 && t.outcome.tornTail && t.outcome.validEnd == Int64(offsets[3]))
        // Not the newest log: synced whole, so the same damage is corruption.
        #expect(throws: OrbitError.self) { _ = try Self.read(tail, wal: true, lastLog: false) }
    }

    /// The record check alone: each way a physical record can fail, with what it says.
    @Test func theRecordCheckNamesEachFailure() throws {
        let bytes = try Self.log([Self.record(40, 9)])
        func check(_ b: [UInt8]) -> LogFormat.PhysicalRecord { b.withUnsafeBytes { LogFormat.physicalRecord($0, at: 16) } }
        guard case .intact(.full, let payload) = check(bytes) else { Issue.record("intact record not read"); return }
        #expect(payload == 23..<63)
        guard case .truncated(inHeader: true) = check(Array(bytes[0..<20])) else { Issue.record("short header"); return }
        guard case .truncated(inHeader: false) = check(Array(bytes[0..<40])) else { Issue.record("short payload"); return }
        var crc = bytes; crc[30] ^= 1
        guard case .damaged(let what, let end) = check(crc), what.contains("checksum"), end == 63 else { Issue.record("checksum"); return }
        var type = bytes; type[22] = 9
        guard case .damaged(let w2, _) = check(type), w2.contains("checksum") else { Issue.record("type under checksum"); return }
        #expect(LogReader<FaultInjectingFile>.hasIntactRecord(bytes.withUnsafeBytes { $0 }, from: 16))
        #expect(!crc.withUnsafeBytes { LogReader<FaultInjectingFile>.hasIntactRecord($0, from: 16) })
    }

    /// A WAL of format version 1 or 2 (written only by development builds) is refused by name.
    @Test func anOlderWALVersionIsRefusedByName() throws {
        for version: UInt32 in [1, 2] {
            var header: [UInt8] = []
            putFixed64(&header, LogFormat.walMagic)
            putFixed32(&header, version)
            putFixed32(&header, header.withUnsafeBytes { LogFormat.headerChecksum($0, number: nil) })
            #expect { _ = try Self.read(header, wal: true) } throws: { e in
                guard let e = e as? OrbitError else { return false }
                return e.code == .unsupported && e.message.contains("version \(version)") && e.location == "/000007.log"
            }
        }
    }
}

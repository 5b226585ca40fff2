@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// TableBuilder and TableReader on their own (docs/formats/lsm-sstable.md): a round trip, the
/// index, the filter, the footer, compression on and off.
@Suite("lsm table") struct TableTests {
    static func ikey(_ i: Int, seq: UInt64 = 1, delete: Bool = false) -> [UInt8] {
        var k: [UInt8] = []
        Array("key-\(100_000 + i)".utf8).withUnsafeBytes { makeInternalKey(&k, $0, seq, delete ? .delete : .put) }
        return k
    }

    static func value(_ i: Int) -> [UInt8] { Array(String(repeating: "value-\(i)-", count: 1 + i % 7).utf8) }

    struct Built {
        let fs: FaultInjectingFileSystem
        let reader: TableReader<FaultInjectingFile>
        let size: UInt64
        let bytes: [UInt8]
        let builder: TableBuilder<FaultInjectingFile>
    }

    /// A table of keys 0..<n (every 10th a delete) at /t/000009.sst.
    static func build(_ n: Int, compress: Bool, bloomBits: Int = 10, blockSize: Int = 1024) throws -> Built {
        let fs = FaultInjectingFileSystem(seed: 4)
        try fs.createDirectory("/t", intermediates: true)
        let f = try fs.open("/t/000009.sst", .truncate)
        let b = TableBuilder(file: f, blockSize: blockSize, bloomBitsPerKey: bloomBits, compress: compress)
        for i in 0..<n {
            let del = i % 10 == 0
            let v = del ? [] : value(i)
            try ikey(i, delete: del).withUnsafeBytes { k in try v.withUnsafeBytes { try b.add(k, $0) } }
        }
        let size = try b.finish()
        try f.close()
        let tables = TableCache<FaultInjectingFile>(capacity: 4) { try fs.open($0, .read) }
        let reader = try TableReader(path: "/t/000009.sst", number: 9, size: size, cache: BlockCache(capacityBytes: 1 << 20), tables: tables)
        return Built(fs: fs, reader: reader, size: size, bytes: try fs.readFile("/t/000009.sst"), builder: b)
    }

    @Test(arguments: [false, true]) func aTableRoundTrips(compress: Bool) throws {
        let n = 2000
        let t = try Self.build(n, compress: compress)
        #expect(t.reader.entries == UInt64(n) && t.builder.deletes == UInt64(n / 10))
        #expect(t.builder.smallest == Self.ikey(0, delete: true) && t.builder.largest == Self.ikey(n - 1))
        // Point reads: each key, with its type; an absent key.
        for i in stride(from: 0, to: n, by: 7) {
            let got = try Self.ikey(i).withUnsafeBytes { k in try t.reader.get(k) { type, v in (type, [UInt8](v)) } }
            if i % 10 == 0 { #expect(got?.0 == .delete, "key \(i)") } else { #expect(got?.0 == .put && got?.1 == Self.value(i), "key \(i)") }
        }
        // A scan sees every entry in order.
        var it = TableIterator(t.reader)
        try it.seekToFirst()
        var i = 0
        while it.valid {
            #expect([UInt8](it.key) == Self.ikey(i, delete: i % 10 == 0), "entry \(i)")
            try it.next(); i += 1
        }
        #expect(i == n)
        #expect(try t.reader.verify() == UInt64(n))
        // Seeks: each key, between keys, past the end.
        for j in [0, 1, 999, n - 1] {
            try Self.ikey(j).withUnsafeBytes { try it.seek($0) }
            #expect(it.valid && userKey(it.key).elementsEqual(userKey(Self.ikey(j).withUnsafeBytes { $0 })), "seek \(j)")
        }
        var past: [UInt8] = []
        Array("zzz".utf8).withUnsafeBytes { makeInternalKey(&past, $0, 1, .put) }
        try past.withUnsafeBytes { try it.seek($0) }
        #expect(!it.valid)
    }

    /// The index has one entry per data block: its key is the block's last key, its value the
    /// block's handle; the blocks tile the file up to the filter.
    @Test func theIndexNamesEveryDataBlockInOrder() throws {
        let t = try Self.build(3000, compress: false, blockSize: 512)
        var it = BlockIterator(t.reader.index)
        it.seekToFirst()
        var offset: UInt64 = 0
        var blocks = 0
        var lastKeys: [[UInt8]] = []
        while it.valid {
            let h = try #require(BlockHandle.decode(it.value))
            #expect(h.offset == offset, "block \(blocks)")
            offset = h.offset + h.size + UInt64(Footer.blockTrailerSize)
            let block = try t.reader.dataBlock(h)
            var d = BlockIterator(block)
            d.seekToFirst()
            var last: [UInt8] = []
            while d.valid { last = [UInt8](d.key); d.next() }
            #expect(last == [UInt8](it.key), "index key of block \(blocks) is its last key")
            lastKeys.append(last)
            blocks += 1
            it.next()
        }
        #expect(blocks > 20)
        #expect(lastKeys == lastKeys.sorted { compareInternalArrays($0, $1) < 0 })
        print("[table] 3000 entries in \(blocks) data blocks of ~512 bytes")
    }

    /// The filter answers "maybe" for every key in the table and "no" for most others; without
    /// bits per key there is no filter (every answer "maybe").
    @Test func theFilterHoldsEveryKey() throws {
        let t = try Self.build(2000, compress: false)
        #expect(t.reader.filter != nil)
        for i in 0..<2000 {
            #expect(Self.ikey(i).withUnsafeBytes { t.reader.mayContain(BloomFilter.hash(userKey($0))) }, "key \(i)")
        }
        var negatives = 0
        for i in 2000..<4000 where !Self.ikey(i).withUnsafeBytes({ t.reader.mayContain(BloomFilter.hash(userKey($0))) }) { negatives += 1 }
        #expect(negatives > 1900)
        let none = try Self.build(100, compress: false, bloomBits: 0)
        #expect(none.reader.filter == nil && none.reader.mayContain(12345))
    }

    /// The footer: magic, version (1 for plain blocks, 2 once any block is compressed; both read),
    /// checksum; a flipped byte or a newer version is corruption naming the table.
    @Test func theFooterSaysWhetherBlocksAreCompressed() throws {
        let plain = try Self.build(2000, compress: false)
        let lz4 = try Self.build(2000, compress: true)
        func version(_ b: [UInt8]) -> UInt32 { b.withUnsafeBytes { loadFixed32($0, $0.count - Footer.size + 44) } }
        #expect(version(plain.bytes) == 1 && version(lz4.bytes) == 2)
        #expect(lz4.size < plain.size, "compressed \(lz4.size) vs plain \(plain.size) bytes")
        print("[table] 2000 entries: \(plain.size) bytes plain, \(lz4.size) with LZ4")
        let footerAt = plain.bytes.count - Footer.size
        for offset in [0, 20, 40, 44, 48, 55] {
            var d = Array(plain.bytes[footerAt...])
            d[offset] ^= 0x40
            #expect(throws: OrbitError.self, "footer byte \(offset)") {
                _ = try d.withUnsafeBytes { try Footer.decode($0, path: "/t/000009.sst", offset: Int64(footerAt)) }
            }
        }
        // A version newer than this build reads, under a valid checksum.
        var newer = Footer(filter: BlockHandle(offset: 0, size: 0), index: BlockHandle(offset: 0, size: 0), entries: 0).encode()
        newer.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt32(3).littleEndian, toByteOffset: 44, as: UInt32.self)
            let crc = CRC32C.update(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<40])), UnsafeRawBufferPointer(rebasing: p[44..<56]))
            p.storeBytes(of: CRC32C.mask(crc).littleEndian, toByteOffset: 40, as: UInt32.self)
        }
        #expect { _ = try newer.withUnsafeBytes { try Footer.decode($0, path: "/t.sst", offset: 0) } } throws: {
            ($0 as? OrbitError)?.message.contains("newer") == true
        }
    }
}

import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// `enable_compression`: LZ4 data blocks round-trip through flush, compaction and reopen, take less
/// space, and a damaged compressed block is an error naming the file and offset, never served.
@Suite("LSM compression") struct CompressionTests {
    let fs = POSIXFileSystem()

    static func options(compress: Bool) -> LSMOptions {
        var o = LSMOptions()
        o.enableCompression = compress
        o.memtableSizeBytesOverride = 128 << 10
        o.compactionThreshold = 2
        o.blockCacheMB = 0
        return o
    }

    /// Compressible but key-dependent values.
    static func value(_ i: Int) -> [UInt8] {
        Array("value-\(i)-".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: i % 7), count: 90)
    }

    func tableBytes(_ dir: String) throws -> Int64 {
        try fs.list(directory: dir).filter { $0.hasSuffix(".sst") }.reduce(0) { $0 + (try fs.fileSize(joinPath(dir, $1))) }
    }

    /// Fills a store, deletes every 10th key, compacts; returns the bytes of its tables.
    func fill(_ dir: String, compress: Bool) throws -> Int64 {
        let e = try LSMTree(fs: fs, directory: dir, options: Self.options(compress: compress))
        for i in 0..<6000 { try e.put(Array("key-\(100_000 + i)".utf8), Self.value(i)) }
        for i in stride(from: 0, to: 6000, by: 10) { try e.delete(Array("key-\(100_000 + i)".utf8)) }
        try e.compactUntilSettled()
        try e.close()
        return try tableBytes(dir)
    }

    @Test func compressedTablesRoundTrip() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lz4") { root in
            let plain = try fill(joinPath(root, "plain"), compress: false)
            let dir = joinPath(root, "lz4")
            let packed = try fill(dir, compress: true)
            #expect(packed * 2 < plain, "LZ4 tables \(packed) B vs plain \(plain) B")
            // Reopen without compression: reading never depends on the knob.
            let e = try LSMTree(fs: fs, directory: dir, options: Self.options(compress: false))
            for i in 0..<6000 {
                let got = try e.get(Array("key-\(100_000 + i)".utf8))
                try #require(got == (i % 10 == 0 ? nil : Self.value(i)), "key-\(100_000 + i)")
            }
            let rows = try e.scan(from: Array("key-101000".utf8), to: nil, limit: 100)
            #expect(rows.count == 100 && rows.first?.key == Array("key-101001".utf8))
            try e.close()
            let report = LSMInspector.inspect(fs: fs, directory: dir)
            #expect(report.ok, "\(report.problems)")
        }
    }

    /// Finds the first block of a table and its size: the first offset where a trailer
    /// (type byte, masked CRC32C of block + type) checks out.
    func firstBlock(_ bytes: [UInt8]) -> (size: Int, type: UInt8)? {
        for s in 1..<(bytes.count - 5) where bytes[s] == 0 || bytes[s] == 4 {
            let crc = bytes.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0...s]))) }
            let stored = UInt32(bytes[s + 1]) | UInt32(bytes[s + 2]) << 8 | UInt32(bytes[s + 3]) << 16 | UInt32(bytes[s + 4]) << 24
            if crc == stored { return (s, bytes[s]) }
        }
        return nil
    }

    @Test func damagedCompressedBlockIsDetected() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-lz4flip") { root in
            let src = joinPath(root, "src")
            var o = Self.options(compress: true)
            o.memtableSizeBytesOverride = 0
            let e = try LSMTree(fs: fs, directory: src, options: o)
            for i in 0..<2000 { try e.put(Array("key-\(100_000 + i)".utf8), Self.value(i)) }
            try e.flush()
            try e.close()
            let table = try fs.list(directory: src).first { $0.hasSuffix(".sst") }!
            let original = try fs.readFile(joinPath(src, table))
            let block = try #require(firstBlock(original))
            #expect(block.type == 4, "the first data block is not LZ4-compressed")
            // 1: a flipped byte inside the compressed bytes (checksum mismatch).
            // 2: a wrong uncompressed length with a recomputed checksum (LZ4 decoding catches it).
            var flipped = original
            flipped[block.size / 2] ^= 0x10
            var relabelled = original
            relabelled[0] ^= 0x01
            let crc = relabelled.withUnsafeBytes { CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0...block.size]))) }
            for k in 0..<4 { relabelled[block.size + 1 + k] = UInt8(truncatingIfNeeded: crc >> (8 * k)) }
            for (name, bytes) in [("flipped", flipped), ("relabelled", relabelled)] {
                let dir = joinPath(root, name)
                try fs.createDirectory(dir, intermediates: true)
                for n in try fs.list(directory: src) where n != "snapshots" {
                    try fs.writeFileAtomically(joinPath(dir, n), n == table ? bytes : try fs.readFile(joinPath(src, n)))
                }
                var failure: OrbitError?
                do {
                    let r = try LSMTree(fs: fs, directory: dir, options: o)
                    defer { try? r.close() }
                    _ = try r.get(Array("key-100000".utf8))
                } catch let err as OrbitError { failure = err }
                #expect(failure?.code == .corruption, "\(name): not detected")
                #expect(failure?.location?.contains(table) == true && failure?.location?.contains("@ offset 0") == true,
                        "\(name): \(String(describing: failure))")
                #expect(!LSMInspector.inspect(fs: fs, directory: dir).ok, "\(name): inspect passed a damaged table")
            }
        }
    }
}

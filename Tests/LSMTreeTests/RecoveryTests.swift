import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Torn WAL tails and flipped bytes in every kind of stored block: torn tails are cut off,
/// corruption is reported with file and offset and never served.
@Suite("LSM recovery") struct RecoveryTests {
    let fs = POSIXFileSystem()

    func logFile(_ dir: String) throws -> String {
        try joinPath(dir, fs.list(directory: dir).first { $0.hasSuffix(".log") }!)
    }

    /// Writes `n` records without flushing and abandons the engine (as a killed process would):
    /// the manifest is put back as it was before close, without the clean close's final edit
    /// (which records the log's exact length, so a cut would be corruption, not a torn tail).
    func writeAndAbandon(_ dir: String, _ n: Int) throws -> (String, [Int64]) {
        let e = try LSMTree(fs: fs, directory: dir)
        var ends: [Int64] = []
        let path = try logFile(dir)
        for i in 0..<n {
            try e.put(Array("key-\(i)".utf8), [UInt8](repeating: UInt8(i), count: 100 + i * 7))
            ends.append(try fs.fileSize(path))
        }
        try e.sync()
        let manifests = try fs.list(directory: dir).filter { $0.hasPrefix("MANIFEST-") }
        let before = try manifests.map { try fs.readFile(joinPath(dir, $0)) }
        try e.close()
        for (name, bytes) in zip(manifests, before) { try fs.writeFileAtomically(joinPath(dir, name), bytes) }
        return (path, ends)
    }

    @Test func tornTailAtEveryByteOfTheLastRecord() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-torn") { root in
            let src = joinPath(root, "src")
            let (path, ends) = try writeAndAbandon(src, 5)
            let full = try fs.readFile(path)
            let lastStart = Int(ends[3]), lastEnd = Int(ends[4])
            for cut in lastStart..<lastEnd {
                let dir = joinPath(root, "cut-\(cut)")
                try fs.createDirectory(dir, intermediates: true)
                for name in try fs.list(directory: src) where !name.hasSuffix(".log") && name != "snapshots" {
                    try fs.writeFileAtomically(joinPath(dir, name), try fs.readFile(joinPath(src, name)))
                }
                try fs.writeFileAtomically(joinPath(dir, parentless(path)), Array(full[0..<cut]))
                let e = try LSMTree(fs: fs, directory: dir)
                for i in 0..<4 { #expect(try e.get(Array("key-\(i)".utf8)) != nil, "cut \(cut): key-\(i)") }
                #expect(try e.get(Array("key-4".utf8)) == nil, "cut \(cut): torn record served")
                try e.close()
            }
        }
    }

    @Test func flippedWALByteBeforeTheTailIsCorruption() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-walflip") { dir in
            let (path, ends) = try writeAndAbandon(dir, 5)
            var bytes = try fs.readFile(path)
            let at = Int(ends[1]) + 10  // inside record 2
            bytes[at] ^= 0x40
            try fs.writeFileAtomically(path, bytes)
            #expect { _ = try LSMTree(fs: fs, directory: dir) } throws: { e in
                let d = "\(e)"
                return (e as? OrbitError)?.code == .corruption && d.contains(path) && d.contains("@ offset \(ends[1])")
            }
            var o = LSMOptions()
            o.paranoid = false
            let e = try LSMTree(fs: fs, directory: dir, options: o)
            #expect(try e.get(Array("key-0".utf8)) != nil)
            #expect(try e.stats().extra.first { $0.name == "wal_skipped_regions" }?.value == 1)
            try e.close()
        }
    }

    /// Builds one table, then flips one byte in each region and checks the error names the file.
    @Test func flippedTableBytesAreDetected() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-sstflip") { root in
            let src = joinPath(root, "src")
            var o = LSMOptions()
            o.blockCacheMB = 0
            let e = try LSMTree(fs: fs, directory: src, options: o)
            for i in 0..<2000 { try e.put(Array("key-\(100000 + i)".utf8), [UInt8](repeating: 7, count: 50)) }
            try e.flush()
            try e.close()
            let table = try fs.list(directory: src).first { $0.hasSuffix(".sst") }!
            let bytes = try fs.readFile(joinPath(src, table))
            let n = bytes.count
            // Regions: data block (start), filter and index (just before the footer), footer.
            let cases: [(String, Int)] = [("data block", 20), ("index block", n - 56 - 30), ("footer", n - 20),
                                          ("filter block", n - 56 - 200)]
            for (what, offset) in cases {
                let dir = joinPath(root, what.replacingOccurrences(of: " ", with: "-"))
                try fs.createDirectory(dir, intermediates: true)
                for name in try fs.list(directory: src) where name != "snapshots" {
                    var b = try fs.readFile(joinPath(src, name))
                    if name == table { b[offset] ^= 0x01 }
                    try fs.writeFileAtomically(joinPath(dir, name), b)
                }
                var failure: OrbitError?
                do {
                    let e2 = try LSMTree(fs: fs, directory: dir, options: o)
                    for i in 0..<2000 { _ = try e2.get(Array("key-\(100000 + i)".utf8)) }
                    _ = try e2.scan(from: nil, to: nil)
                    try e2.close()
                } catch let err as OrbitError { failure = err }
                #expect(failure?.code == .corruption, "\(what): flipped byte at \(offset) not detected")
                #expect(failure?.location?.contains(table) == true && failure?.location?.contains("@ offset") == true,
                        "\(what): \(String(describing: failure))")
            }
        }
    }
}

func parentless(_ path: String) -> String { String(path.split(separator: "/").last!) }

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String { split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b) }
}

@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// A damaged MANIFEST or CURRENT must be reported, never opened as an older or empty store
/// (found by the corruption sweep, issue 5).
@Suite("LSM manifest corruption") struct ManifestCorruptionTests {
    let fs = POSIXFileSystem()

    /// A closed store whose manifest holds the open's full-state edit and then flush edits.
    func makeStore(_ dir: String) throws -> (manifest: String, records: [(start: Int, end: Int)]) {
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 16 << 10
        let e = try LSMTree(fs: fs, directory: dir, options: o, durability: .everyWrite)
        for i in 0..<600 { try e.put(Array("key-\(i)".utf8), [UInt8](repeating: UInt8(i & 0xff), count: 100)) }
        try e.flush()
        try e.close()
        let name = try fs.list(directory: dir).first { $0.hasPrefix("MANIFEST-") }!
        let path = joinPath(dir, name)
        let b = try fs.readFile(path)
        var records: [(Int, Int)] = []
        var pos = 16
        while pos + 7 <= b.count {
            let len = Int(b[pos + 4]) | Int(b[pos + 5]) << 8
            records.append((pos, pos + 7 + len))
            pos += 7 + len
        }
        return (path, records)
    }

    func expectCorruption(_ dir: String, naming file: String, _ comment: Comment) {
        #expect(comment) {
            let e = try LSMTree(fs: fs, directory: dir)
            try e.close()
        } throws: { error in
            guard let e = error as? OrbitError else { return false }
            return e.code == .corruption && (e.location ?? "").contains(file)
        }
    }

    @Test func damagedFirstEditIsCorruptionNotAnEmptyStore() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-manifest1") { dir in
            let (path, records) = try makeStore(dir)
            #expect(records.count >= 2)
            var b = try fs.readFile(path)
            b[records[0].start + 9] ^= 0xFF  // inside the full-state edit
            try fs.writeFileAtomically(path, b)
            // With only that edit left (the later ones cut off), the damaged record is the last one.
            try fs.writeFileAtomically(path, Array(b[0..<records[0].end]))
            expectCorruption(dir, naming: parentless(path), "first edit")
        }
    }

    @Test func damagedLastEditWhoseWALIsGoneIsCorruption() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-manifest2") { dir in
            let (path, records) = try makeStore(dir)
            // The clean close's final edit (the live log's length) dropped, as a crash before it
            // leaves; then the flush edit, now last, damaged: the WAL it retired is gone.
            let flushEdit = records[records.count - 2]
            var b = Array(try fs.readFile(path)[0..<flushEdit.end])
            b[flushEdit.start + 8] ^= 0x01
            try fs.writeFileAtomically(path, b)
            expectCorruption(dir, naming: parentless(path), "last edit")
        }
    }

    @Test func currentNamingAMissingManifestIsCorruption() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-current") { dir in
            _ = try makeStore(dir)
            try fs.writeFileAtomically(joinPath(dir, "CURRENT"), Array("MANIFEST-999999\n".utf8))
            expectCorruption(dir, naming: "CURRENT", "CURRENT")
        }
    }

    /// A torn last edit (an append in flight at a crash) is still dropped quietly.
    @Test func tornLastEditIsDropped() throws {
        try withTemporaryDirectory(prefix: "orbit-lsm-manifest3") { dir in
            let (path, records) = try makeStore(dir)
            let b = try fs.readFile(path)
            let extra = [UInt8](repeating: 0x55, count: 5)  // a partial record header: a torn append
            try fs.writeFileAtomically(path, Array(b[0..<records.last!.end]) + extra)
            let e = try LSMTree(fs: fs, directory: dir)
            for i in 0..<600 { #expect(try e.get(Array("key-\(i)".utf8)) != nil, "key-\(i)") }
            try e.close()
        }
    }
}

import OrbitCore
import OrbitTestSupport
@testable import LMDBEngine
import Testing

/// LMDB keeps no checksums, so a damaged page can hand back a stored key without the 0x00 prefix
/// every orbit key has (even of length 0): the wrapper trapped on it (a negative buffer count);
/// it must report corruption (found by the corruption sweep, issue 5).
@Suite("LMDB corruption")
struct LMDBCorruptionTests {
    @Test func zeroLengthStoredKeyIsCorruptionNotATrap() throws {
        try withTemporaryDirectory(prefix: "orbit-lmdb-corrupt") { dir in
            var o = LMDBOptions()
            o.mapSizeMB = 16
            let e = try LMDBEngine(path: dir, options: o, durability: .everyWrite)
            for i in 0..<20 { try e.put(Array("key-\(i)".utf8), Array("value-\(i)".utf8)) }
            try e.close()
            // In every leaf page (flags P_LEAF at offset 10 of the 16-byte page header; stale copies
            // too), set the first node's key size (node: lo 2, hi 2, flags 2, ksize 2) to 0.
            let fs = POSIXFileSystem()
            let path = joinPath(dir, "data.mdb")
            var b = try fs.readFile(path)
            let pageSize = 4096
            var patched = false
            for p in 2..<(b.count / pageSize) {
                let base = p * pageSize
                let flags = UInt16(b[base + 10]) | UInt16(b[base + 11]) << 8
                guard flags & 0x02 != 0 else { continue }
                let node = base + Int(UInt16(b[base + 16]) | UInt16(b[base + 17]) << 8)
                b[node + 6] = 0; b[node + 7] = 0
                patched = true
            }
            #expect(patched)
            try fs.writeFileAtomically(path, b)
            var failure: OrbitError? = nil
            do {
                let r = try LMDBEngine(path: dir, options: o, durability: .everyWrite)
                defer { try? r.close() }
                _ = try r.scan(from: nil, to: nil)
            } catch let err as OrbitError { failure = err }
            #expect(failure?.code == .corruption, "\(String(describing: failure))")
        }
    }
}

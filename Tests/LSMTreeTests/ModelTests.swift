import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A seeded model-based test of the lsm engine: random puts, deletes, batches, gets, scans, forced
/// flushes and compactions, close and reopen — checked against a sorted in-memory oracle.
/// Replay a failure with ORBIT_TEST_SEED=<seed>.
@Suite("LSM model") struct ModelTests {
    static func options() -> LSMOptions {
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 128 << 10  // many flushes and compactions
        o.compactionThreshold = 2
        o.levelSizeMultiplier = 4
        o.maxLevels = 4
        o.blockCacheMB = 1
        o.sstableBlockSizeKB = 1
        return o
    }

    @Test func randomOperationsAgainstModel() throws {
        let seed = TestSeed.pick("lsm.randomOperationsAgainstModel", default: 0x15A_0003)
        var rng = SeededRNG(seed: seed)
        try withTemporaryDirectory(prefix: "orbit-lsm-model") { dir in
            var e = try LSMTree(fs: NoSyncFileSystem(), directory: dir, options: Self.options())
            defer { try? e.close() }
            var model: [[UInt8]: [UInt8]] = [:]
            let universe = 3000
            func key(_ i: Int) -> [UInt8] {
                var k: [UInt8] = Array("k".utf8)
                var x = UInt32(i) &* 2_654_435_761
                for _ in 0..<4 { k.append(UInt8(truncatingIfNeeded: x)); x >>= 8 }
                return k
            }
            let keys = (0..<universe).map(key)
            let sorted = keys.sorted { compareBytes($0, $1) < 0 }
            var ops = 0
            let target = Int(getenv("ORBIT_LSM_MODEL_OPS").flatMap { Int(String(cString: $0)) } ?? 200_000)
            var valueBuf: [UInt8] = []
            while ops < target {
                ops += 1
                let roll = rng.next() % 1000
                let k = keys[Int(rng.next() % UInt64(universe))]
                func at(_ what: String) -> Comment { "seed \(seed) op \(ops): \(what)" }
                switch roll {
                case 0..<350:
                    let v = rng.bytes(Int(rng.next() % 24))
                    try e.put(k, v); model[k] = v
                case 350..<450:
                    try e.delete(k); model[k] = nil
                case 450..<500:
                    var b = WriteBatch()
                    for _ in 0..<Int(rng.next() % 10) {
                        let bk = keys[Int(rng.next() % UInt64(universe))]
                        if rng.next() % 3 == 0 { b.delete(bk); model[bk] = nil } else { let v = rng.bytes(8); b.put(bk, v); model[bk] = v }
                    }
                    try e.write(b)
                case 500..<950:
                    let found = try k.withUnsafeBytes { try e.get($0, into: &valueBuf) }
                    let want = model[k]
                    try #require(found == (want != nil) && (!found || valueBuf == want!), at("get \(describeBytes(k))"))
                case 950..<995:
                    let i = Int(rng.next() % UInt64(universe))
                    let lo = sorted[i]
                    let limit = Int(rng.next() % 20) + 1
                    let got = try e.scan(from: lo, to: nil, limit: limit)
                    var want: [[UInt8]] = []
                    var j = i
                    while j < sorted.count && want.count < limit { if model[sorted[j]] != nil { want.append(sorted[j]) }; j += 1 }
                    try #require(got.map(\.key) == want, at("scan from \(describeBytes(lo)) limit \(limit)"))
                    for g in got { try #require(g.value == model[g.key], at("scan value")) }
                case 995..<997:
                    try e.flush()
                case 997..<998:
                    try e.compactUntilSettled()
                default:
                    try e.close()
                    e = try LSMTree(fs: NoSyncFileSystem(), directory: dir, options: Self.options())
                }
            }
            let all = try e.scan(from: nil, to: nil)
            #expect(all.count == model.count, "seed \(seed): full scan count")
            for entry in all { #expect(model[entry.key] == entry.value) }
            let s = try e.stats()
            print("[lsm model] seed \(seed): \(ops) ops, \(model.count) keys, height \(s.treeHeight ?? 0), write amp \(s.writeAmplification ?? 0)")
        }
    }
}

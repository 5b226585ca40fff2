#if canImport(Glibc)
import Glibc
#endif
@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

func b(_ s: String) -> [UInt8] { Array(s.utf8) }
func k4(_ n: Int) -> String { let d = String(n); return "key-" + String(repeating: "0", count: max(0, 4 - d.count)) + d }

/// The cow engine's own tests: the model-based randomized test, torn meta pages, flipped bytes,
/// bounded file growth, reader isolation, crashes at every step of commit and checkpoint, knobs.
@Suite("cow engine")
struct CowBTreeTests {
    /// The oracle: a dictionary plus its keys in memcmp order.
    struct Oracle {
        var values: [[UInt8]: [UInt8]] = [:]
        var keys: [[UInt8]] = []
        func index(_ k: [UInt8]) -> Int {
            var lo = 0, hi = keys.count
            while lo < hi { let m = (lo + hi) / 2; if compareBytes(keys[m], k) < 0 { lo = m + 1 } else { hi = m } }
            return lo
        }
        subscript(_ k: [UInt8]) -> [UInt8]? {
            get { values[k] }
            set {
                let i = index(k)
                let present = i < keys.count && keys[i] == k
                if let newValue { values[k] = newValue; if !present { keys.insert(k, at: i) } }
                else if present { values[k] = nil; keys.remove(at: i) }
            }
        }
        func range(_ lo: [UInt8], _ hi: [UInt8]) -> [[UInt8]] {
            let a = index(lo), z = index(hi)
            return a < z ? Array(keys[a..<z]) : []
        }
    }

    static func options(wal: Bool = true, pageSize: Int = 4096, maxKeys: Int = 0, interval: Int = 0) -> CowOptions {
        var o = CowOptions()
        o.wal = wal
        o.pageSize = pageSize
        o.maxKeysPerNode = maxKeys
        o.snapshotInterval = interval
        return o
    }

    // MARK: Model-based randomized test

    /// Random puts, deletes, batches, scans, checkpoints, snapshots, close and reopen against an
    /// in-memory oracle; small pages and node caps force deep trees, splits, merges and overflow
    /// values. 200,000 operations per run (150,000 in WAL mode, 50,000 in pure copy-on-write mode);
    /// about 45% of them change the store.
    @Test(arguments: [true, false]) func randomizedAgainstOracle(wal: Bool) throws {
        var rng = TestSeed.rng("cow.randomizedAgainstOracle[wal=\(wal)]", default: wal ? 0xC0FFEE : 0xBEEF)
        let operations = wal ? 150_000 : 50_000
        try withTemporaryDirectory(prefix: "orbit-cow-model") { dir in
            let options = Self.options(wal: wal, pageSize: 512, maxKeys: 8, interval: 97)
            // Reopen (and compare everything) about once per 1,000 operations.
            var engine = try CowEngine(path: dir, options: options, durability: .none)
            var model = Oracle()
            var snapshots: [String: Oracle] = [:]
            func key() -> [UInt8] { b("k\(rng.below(3000))") }
            func value() -> [UInt8] {
                let big = rng.below(200) == 0
                return rng.bytes(big ? Int(rng.below(3000)) + 200 : Int(rng.below(60)))
            }
            func check(_ op: Int) throws {
                let all = try engine.scan(from: nil, to: nil)
                #expect(all.count == model.keys.count, "op \(op): \(all.count) keys, oracle has \(model.keys.count)")
                for (x, k) in zip(all, model.keys) where x.key != k || x.value != model.values[k] {
                    Issue.record("op \(op): mismatch at \(describeBytes(x.key)) vs \(describeBytes(k))")
                    return
                }
                #expect(try engine.stats().totalKeys == UInt64(model.keys.count), "op \(op)")
            }
            for op in 0..<operations {
                switch rng.below(1000) {
                case 0..<260:
                    let k = key(), v = value()
                    try engine.put(k, v)
                    model[k] = v
                case 260..<400:
                    let k = key()
                    try engine.delete(k)
                    model[k] = nil
                case 400..<430:
                    var batch = WriteBatch()
                    for _ in 0..<Int(rng.below(20)) {
                        let k = key()
                        if rng.below(3) == 0 { batch.delete(k); model[k] = nil } else { let v = value(); batch.put(k, v); model[k] = v }
                    }
                    try engine.write(batch)
                case 430..<940:
                    let k = key()
                    #expect(try engine.get(k) == model.values[k], "op \(op): get \(describeBytes(k))")
                case 940..<990:
                    let lo = key(), hi = key()
                    let limit = Int(rng.below(30))
                    let got = try engine.scan(from: lo, to: hi, limit: limit)
                    var want = model.range(lo, hi)
                    if limit > 0 { want = Array(want.prefix(limit)) }
                    #expect(got.map(\.key) == want && got.map(\.value) == want.map { model.values[$0]! }, "op \(op): scan")
                case 990..<993:
                    let name = "s\(rng.below(3))"
                    if snapshots[name] != nil {
                        if rng.below(2) == 0 {
                            try engine.restoreSnapshot(named: name)
                            model = snapshots[name]!
                        } else {
                            try engine.dropSnapshot(named: name)
                            snapshots[name] = nil
                        }
                    } else {
                        try engine.createSnapshot(named: name)
                        snapshots[name] = model
                    }
                    #expect(try engine.listSnapshots() == snapshots.keys.sorted())
                case 993..<999:
                    try engine.sync()
                default:
                    try engine.close()
                    engine = try CowEngine(path: dir, options: options, durability: .none)
                    try check(op)
                }
            }
            try check(operations)
            let s = try engine.stats()
            print("[model] cow wal=\(wal): \(operations) ops, \(s.totalKeys) keys, height \(s.treeHeight ?? 0), "
                  + "\(s.extra.first { $0.name == "page_count" }?.value ?? 0) pages, \(s.freePages ?? 0) free")
            try engine.close()
        }
    }

    // MARK: Recycled WAL segments

    /// Background checkpoints keep the WAL bounded: one is in flight at a time, and a writer that
    /// finds the next one due waits for it, so the live WAL never holds much more than two
    /// checkpoint intervals; the files are recycled, not multiplied.
    @Test func backgroundCheckpointsBoundTheWAL() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-bound") { dir in
            var options = Self.options(wal: true)
            options.walSegmentSize = 1 << 16
            options.checkpointBytes = 1 << 16
            let e = try CowEngine(path: dir, options: options, durability: .none)
            var rng = TestSeed.rng("cow.backgroundCheckpointsBoundTheWAL", default: 5)
            var maxLive: Int64 = 0
            for i in 0..<20_000 {
                try e.put(b("key-\(rng.below(5000))"), rng.bytes(100))
                maxLive = max(maxLive, e.walLiveBytes)
                if i % 1000 == 0 { #expect(try e.get(b("nope")) == nil) }
            }
            #expect(maxLive <= 2 * Int64(options.checkpointBytes) + 1024, "live WAL peaked at \(maxLive) bytes")
            let s = try e.stats()
            let checkpoints = s.extra.first { $0.name == "checkpoint_count" }!.value
            #expect(checkpoints >= 20)
            let files = try POSIXFileSystem().list(directory: dir).filter { $0.hasPrefix("cow.wal.") }
            #expect(files.count <= 1 + 2 * 2 + 2 + 2, "\(files)")
            try e.close()
        }
    }

    /// The sequence number alone ends a segment: stale records of an older generation with valid
    /// checksums and even higher txids are not replayed.
    @Test func staleRecordsOfAnOlderGenerationEndTheSegment() throws {
        func record(seq: UInt64, txid: UInt64, key: String) -> [UInt8] {
            var r: [UInt8] = []
            WALFormat.begin(&r, txid: txid)
            b(key).withUnsafeBytes { k in b("v").withUnsafeBytes { v in WALFormat.appendPut(&r, k, v) } }
            WALFormat.finish(&r, seq: seq)
            return r
        }
        var file = WALFormat.segmentHeader(.init(seq: 9, prevTxid: 0))
        for t in 1...3 { file += record(seq: 9, txid: UInt64(t), key: "new\(t)") }
        let newEnd = file.count
        for t in 100...110 { file += record(seq: 4, txid: UInt64(t), key: "old\(t)") }
        let got = WALFormat.records(segment: file, seq: 9)
        #expect(got.map(\.txid) == [1, 2, 3] && got.last?.end == newEnd)
        // The same bytes read as generation 4 (its header lost) hold nothing at the start.
        #expect(WALFormat.records(segment: file, seq: 4).isEmpty)
        #expect(try WALFormat.decodeHeader(Array(file[0..<32]), path: "x") == .segment(.init(seq: 9, prevTxid: 0)))
        #expect(try WALFormat.decodeHeader([UInt8](repeating: 0, count: 32), path: "x") == .spare)
    }

    // MARK: Flipped byte

    @Test func flippedByteInAnyPageIsDetectedWithItsPageNumber() throws {
        var rng = TestSeed.rng("cow.flippedByte", default: 77)
        try withTemporaryDirectory(prefix: "orbit-cow-flip") { dir in
            let options = Self.options(wal: false)
            let e = try CowEngine(path: dir, options: options, durability: .none)
            for i in 0..<2000 { try e.put(b("k\(i)"), rng.bytes(Int(rng.below(100)) + (i % 300 == 0 ? 9000 : 0))) }
            try e.createSnapshot(named: "s")
            let pageCount = Int(e.tree.pageCount)
            try e.close()
            let path = joinPath(dir, "cow.db")
            let report = try CowInspector.inspect(directory: dir)
            #expect(report.ok, "\(report.lines.joined(separator: "\n"))")
            // Every page in use, tree or not: a flipped byte is named by page number.
            let used = report.usedPages
            #expect(used.count > 20)
            for trial in 0..<12 {
                let no = used[Int(rng.below(UInt64(used.count)))]
                let offset = Int64(no) * Int64(options.pageSize) + Int64(4 + rng.below(UInt64(options.pageSize - 4)))
                let f = try POSIXFileSystem().open(path, .readWrite)
                let old = try f.read(count: 1, at: offset)
                try f.write([old[0] ^ 0x10], at: offset)
                try f.close()
                let r = try CowInspector.inspect(directory: dir)
                #expect(!r.ok && r.lines.contains { $0.contains("page \(no):") }, "trial \(trial): page \(no) of \(pageCount)")
                if r.treePages.contains(no) {
                    #expect { try CowEngine(path: dir, options: options, durability: .none) } throws: { e in
                        let o = e as? OrbitError
                        return o?.code == .corruption && o?.message.hasPrefix("page \(no):") == true
                    }
                }
                let g = try POSIXFileSystem().open(path, .readWrite)
                try g.write(old, at: offset)
                try g.close()
            }
        }
    }

    // MARK: Bounded growth

    @Test(arguments: [true, false]) func overwritePassesKeepTheFileBounded(wal: Bool) throws {
        try withTemporaryDirectory(prefix: "orbit-cow-growth") { dir in
            let e = try CowEngine(path: dir, options: Self.options(wal: wal, interval: 500), durability: .none)
            defer { try? e.close() }
            let keys = 1000
            var firstPass: Int64 = 0
            for pass in 0..<100 {
                var batch = WriteBatch()
                for i in 0..<keys {
                    batch.put(b("key-\(i)"), [UInt8](repeating: UInt8(pass & 0xFF), count: 40))
                    if batch.count == (wal ? 20 : 200) { try e.write(batch); batch.removeAll() }
                }
                if !batch.isEmpty { try e.write(batch) }
                try e.checkpoint()
                let size = try POSIXFileSystem().fileSize(joinPath(dir, "cow.db"))
                if pass == 0 { firstPass = size }
                #expect(size < firstPass * 3, "pass \(pass): \(size) bytes vs \(firstPass) after the first")
            }
            print("[growth] cow wal=\(wal): first pass \(firstPass) bytes, after 100 passes \(try POSIXFileSystem().fileSize(joinPath(dir, "cow.db")))")
        }
    }

    // MARK: Reader isolation

    /// A scan in progress keeps its view while another thread commits 10,000 changes, and the
    /// writer is not blocked by it.
    @Test func readerViewIsStableWhileAWriterCommits() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-reader") { dir in
            let e = try CowEngine(path: dir, options: Self.options(wal: true, interval: 1000), durability: .none)
            defer { try? e.close() }
            for i in 0..<1000 { try e.put(b(k4(i)), b("old-\(i)")) }
            final class Flag: @unchecked Sendable { var done = false }
            let writerDone = Flag()
            var seen = 0
            var mismatches = 0
            try e.scan(from: nil, to: nil, limit: 0) { k, v in
                if seen == 0 {
                    // The writer runs to completion while this scan holds its view.
                    let t = TestThread {
                        for i in 0..<10_000 {
                            let n = i % 1000
                            if i % 3 == 0 { try? e.delete(b(k4(n))) }
                            else { try? e.put(b(k4(n)), b("new-\(i)")) }
                        }
                        writerDone.done = true
                    }
                    t.join()
                }
                if [UInt8](v) != b("old-\(seen)") || [UInt8](k) != b(k4(seen)) { mismatches += 1 }
                seen += 1
                return true
            }
            #expect(writerDone.done)
            #expect(seen == 1000 && mismatches == 0)
            #expect(try e.get(b("key-0998")) == b("new-9998") && e.get(b("key-0999")) == nil)
        }
    }

    /// Readers running beside a writer that changes pages in place whenever no reader holds the
    /// published version (`applyAndPublish`): every get and scan must see whole, consistent entries
    /// (a value always names its key; scans in strictly increasing key order), however the threads
    /// interleave. Small pages and a node cap make splits frequent; checkpoints every 500 commits.
    @Test func readersBesideInPlaceCommitsSeeConsistentEntries() throws {
        var rng = TestSeed.rng("cow.readersBesideInPlaceCommits", default: 4242)
        let seed = rng.next()
        try withTemporaryDirectory(prefix: "orbit-cow-inplace") { dir in
            let e = try CowEngine(path: dir, options: Self.options(wal: true, pageSize: 1024, maxKeys: 16, interval: 500),
                                  durability: .none)
            defer { try? e.close() }
            let keys = 1500
            for i in 0..<keys { try e.put(b(k4(i)), b(k4(i) + "=0")) }
            final class Tally: @unchecked Sendable {
                let bad = Atomic<Int>(0)
                let done = Atomic<Bool>(false)
            }
            let tally = Tally()
            let readers = (0..<2).map { r in
                TestThread {
                    var x = seed ^ UInt64(r + 1) &* 0x9E37_79B9_7F4A_7C15
                    while !tally.done.load(ordering: .acquiring) {
                        x ^= x << 13; x ^= x >> 7; x ^= x << 17
                        let key = b(k4(Int(x % UInt64(keys))))
                        let ok = key.withUnsafeBytes { kb in
                            (try? e.get(kb) { v in v.map { Array($0.prefix(key.count)) == key } ?? true }) ?? false
                        }
                        if !ok { tally.bad.add(1, ordering: .relaxed) }
                        var last: [UInt8] = []
                        _ = key.withUnsafeBytes { kb in try? e.scan(from: kb, to: nil, limit: 20) { k, v in
                            let kk = [UInt8](k)
                            if !last.isEmpty && compareBytes(last, kk) >= 0 { tally.bad.add(1, ordering: .relaxed) }
                            if Array(v.prefix(kk.count)) != kk { tally.bad.add(1, ordering: .relaxed) }
                            last = kk
                            return true
                        } }
                    }
                }
            }
            var w = SeededRNG(seed: seed)
            for i in 0..<20_000 {
                let n = Int(w.next() % UInt64(keys))
                if i % 7 == 0 { try e.delete(b(k4(n))) } else { try e.put(b(k4(n)), b(k4(n) + "=\(i)" + String(repeating: "x", count: i % 40))) }
            }
            tally.done.store(true, ordering: .releasing)
            readers.forEach { $0.join() }
            #expect(tally.bad.load(ordering: .relaxed) == 0, "seed \(seed)")
        }
    }

    /// Ascending inserts split the last page of each level at the append point: the pages left
    /// behind are full (a half split would leave ~2x the pages). Every key reads back, in order,
    /// after a reopen; then a pass of random overwrites and deletes still matches.
    @Test func sequentialFillLeavesFullPages() throws {
        var rng = TestSeed.rng("cow.sequentialFillLeavesFullPages", default: 31)
        try withTemporaryDirectory(prefix: "orbit-cow-seq") { dir in
            let n = 20_000
            let value = [UInt8](repeating: 0x61, count: 100)
            var e = try CowEngine(path: dir, options: Self.options(wal: true), durability: .none)
            for i in 0..<n { try e.put(b("k" + String(1_000_000_000 + i)), value) }
            // Leaf entry: 7 B header + 11 B key + 100 B value + 2 B slot = 120 B; 33 per 4 KiB page.
            let perLeaf = (4096 - Layout.headerSize) / 120
            var pages: Set<UInt64> = []
            try e.tree.pageNumbers(of: e.tree.root, into: &pages)
            #expect(pages.count <= n / perLeaf * 11 / 10, "\(pages.count) pages for \(n) keys (\(perLeaf) per leaf)")
            try e.close()
            e = try CowEngine(path: dir, options: Self.options(wal: true), durability: .none)
            defer { try? e.close() }
            var seen = 0
            try e.scan(from: nil, to: nil, limit: 0) { k, v in
                if [UInt8](k) != b("k" + String(1_000_000_000 + seen)) || v.count != 100 { seen = -n }
                seen += 1
                return true
            }
            #expect(seen == n)
            var oracle: [Int: Bool] = [:]
            for _ in 0..<5_000 {
                let i = Int(rng.next() % UInt64(n))
                if rng.next() % 3 == 0 { try e.delete(b("k" + String(1_000_000_000 + i))); oracle[i] = false }
                else { try e.put(b("k" + String(1_000_000_000 + i)), b("v\(i)")); oracle[i] = true }
            }
            for i in stride(from: 0, to: n, by: 7) {
                let got = try e.get(b("k" + String(1_000_000_000 + i)))
                switch oracle[i] {
                case .some(true): #expect(got == b("v\(i)"), "key \(i)")
                case .some(false): #expect(got == nil, "key \(i)")
                case .none: #expect(got == value, "key \(i)")
                }
            }
        }
    }

    // MARK: Knobs

    @Test func knobsAreReadFromEveryName() throws {
        var settings = Settings(knobs: CoreKnobs.all + CowOptions.knobs)
        try settings.applyEnvironment([
            "ORBIT_COW_PAGE_SIZE": "8192", "ORBIT_COW_MAX_KEYS": "32", "ORBIT_COW_WAL": "false",
            "ORBIT_COW_WAL_BUFFER_SIZE": "65536", "ORBIT_COW_SNAPSHOT_INTERVAL": "10", "ORBIT_COW_WAL_SEGMENT_SIZE": "131072",
            "ORBIT_COW_CHECKPOINT_BYTES": "1048576", "ORBIT_COW_ENABLE_SNAPSHOTS": "false",
        ])
        let o = CowOptions(settings: settings)
        #expect(o.pageSize == 8192 && o.maxKeysPerNode == 32 && !o.wal && o.walBufferSize == 65536)
        #expect(o.snapshotInterval == 10 && o.checkpointBytes == 1 << 20 && !o.enableSnapshots && o.walSegmentSize == 1 << 17)
        #expect(CowOptions(settings: Settings(knobs: CowOptions.knobs)) == CowOptions())
        for knob in CowOptions.knobs { #expect(knob.jsonSection == "cow_config" && knob.name.hasPrefix("cow.")) }
        var bad = CowOptions()
        bad.pageSize = 1000
        #expect(throws: OrbitError.self) { try bad.check(durability: .none) }
        bad = CowOptions()
        bad.maxKeysPerNode = 2
        #expect(throws: OrbitError.self) { try bad.check(durability: .none) }
        bad = CowOptions()
        bad.walSegmentSize = 4096
        #expect(throws: OrbitError.self) { try bad.check(durability: .none) }
    }

    @Test func maxKeysPerNodeCapsEveryNode() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-cap") { dir in
            let e = try CowEngine(path: dir, options: Self.options(maxKeys: 5), durability: .none)
            for i in 0..<500 { try e.put(b("k\(i)"), b("v")) }
            try e.close()
            let r = try CowInspector.inspect(directory: dir)
            #expect(r.ok && r.maxEntriesPerNode <= 5 && r.height >= 4, "\(r.lines.joined(separator: "\n"))")
        }
    }

    @Test func pageSizeOfAnExistingStoreIsChecked() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-ps") { dir in
            try CowEngine(path: dir, options: Self.options(pageSize: 1024), durability: .none).close()
            #expect { try CowEngine(path: dir, options: Self.options(pageSize: 4096), durability: .none) } throws: {
                ($0 as? OrbitError)?.hint == "set cow.page_size=1024, or use an empty directory"
            }
        }
    }

    @Test func snapshotsCanBeTurnedOff() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-nosnap") { dir in
            var o = Self.options()
            o.enableSnapshots = false
            let e = try CowEngine(path: dir, options: o, durability: .none)
            defer { try? e.close() }
            #expect { try e.createSnapshot(named: "x") } throws: { ($0 as? OrbitError)?.code == .unsupported }
        }
    }
}

/// A joinable thread for tests.
final class TestThread: @unchecked Sendable {
    var thread = pthread_t()
    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { raw in
            let b = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            b.body()
            return nil
        }, box)
    }
    func join() { pthread_join(thread, nil) }
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
}

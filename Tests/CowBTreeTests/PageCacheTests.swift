@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Testing

/// The bounded page cache (issue 16): a store many times the cache's size, open reading only what
/// it needs, page reuse held back while a reader walks an older version, and read errors during
/// gets and scans as errors naming the page.
@Suite("cow page cache")
struct PageCacheTests {
    static func options(cachePages: Int, pageSize: Int = 4096, interval: Int = 0) -> CowOptions {
        var o = CowOptions()
        o.pageSize = pageSize
        o.cachePages = cachePages
        o.walSegmentSize = 1 << 20
        o.snapshotInterval = interval
        return o
    }

    static func figure(_ s: StorageStats, _ name: String) -> Double { s.extra.first { $0.name == name }?.value ?? -1 }

    static func key(_ i: Int) -> [UInt8] { b("key-" + String(100_000_000 + i)) }

    /// A value that names its key, then seeded bytes.
    static func value(_ i: Int, _ rng: inout SeededRNG) -> [UInt8] { key(i) + rng.bytes(100 - 13) }

    /// 24,000 keys (about 800 pages of 4 KiB) under a 64-page cache: every key reads back by get
    /// and by scan after a reopen, the cache never holds more than 64 pages, and pages are read
    /// from disk and evicted on the way.
    @Test func aStoreEightTimesTheCacheWorks() throws {
        var rng = TestSeed.rng("cow.pageCache.eightTimes", default: 1616)
        let o = Self.options(cachePages: 64)
        try withTemporaryDirectory(prefix: "orbit-cow-cache8x") { dir in
            var values: [[UInt8]] = []
            let n = 24_000
            do {
                let e = try CowEngine(path: dir, options: o, durability: .none)
                var batch = WriteBatch()
                for i in 0..<n {
                    values.append(Self.value(i, &rng))
                    Self.key(i).withUnsafeBytes { k in values[i].withUnsafeBytes { batch.put(k, $0) } }
                    if batch.count == 200 { try e.write(batch); batch = WriteBatch() }
                }
                try e.write(batch)
                let s = try e.stats()
                #expect(Self.figure(s, "cache_pages") <= 64)
                try e.close()
            }
            let e = try CowEngine(path: dir, options: o, durability: .none)
            defer { try? e.close() }
            let opened = try e.stats()
            let pages = Self.figure(opened, "page_count")
            #expect(pages >= 8 * 64, "the store has \(pages) pages, the cache 64")
            #expect(Self.figure(opened, "pages_read") <= 1, "open read \(Self.figure(opened, "pages_read")) tree pages")
            for _ in 0..<4000 {
                let i = Int(rng.below(UInt64(n)))
                #expect(try e.get(Self.key(i)) == values[i], "key \(i)")
            }
            var seen = 0
            var ordered = true
            try e.scan(from: nil, to: nil, limit: 0) { k, v in
                if [UInt8](k) != Self.key(seen) || [UInt8](v) != values[seen] { ordered = false }
                seen += 1
                return true
            }
            #expect(seen == n && ordered)
            let s = try e.stats()
            #expect(Self.figure(s, "cache_pages") <= 64)
            #expect(Self.figure(s, "cache_misses") > 0 && Self.figure(s, "cache_evictions") > 0 && Self.figure(s, "cache_hits") > 0)
            #expect(Self.figure(s, "bytes_read") == Self.figure(s, "pages_read") * 4096)
            #expect(s.memoryUsageBytes <= 64 * 4096, "memory account \(s.memoryUsageBytes)")
            print("[cow cache] \(Int(pages)) pages under a 64-page cache: hits \(Int(Self.figure(s, "cache_hits"))), "
                  + "misses \(Int(Self.figure(s, "cache_misses"))), evictions \(Int(Self.figure(s, "cache_evictions")))")
        }
    }

    /// A scan holds its version while a writer rewrites every key many times over, with a
    /// checkpoint every 20 commits and a 16-page cache: the pages the scan's version refers to by
    /// number are freed and would be reused at once without the reader table. The scan must see
    /// exactly the version it started with.
    @Test func aReaderKeepsItsVersionWhilePagesAreFreedAndReused() throws {
        try withTemporaryDirectory(prefix: "orbit-cow-reuse") { dir in
            let e = try CowEngine(path: dir, options: Self.options(cachePages: 16, pageSize: 512, interval: 20), durability: .none)
            defer { try? e.close() }
            for i in 0..<1000 { try e.put(b(k4(i)), b("old-\(i)")) }
            try e.checkpoint()
            final class Flag: @unchecked Sendable { var done = false; var retiredWhileHeld = 0.0 }
            let flag = Flag()
            var seen = 0
            var mismatches = 0
            try e.scan(from: nil, to: nil, limit: 0) { k, v in
                if seen == 0 {
                    let t = TestThread {
                        for i in 0..<3000 { try? e.put(b(k4(i % 1000)), b("new-\(i)")) }
                        flag.retiredWhileHeld = (try? e.stats()).map { PageCacheTests.figure($0, "retired_pages") } ?? -1
                        flag.done = true
                    }
                    t.join()
                }
                if [UInt8](v) != b("old-\(seen)") || [UInt8](k) != b(k4(seen)) { mismatches += 1 }
                seen += 1
                return true
            }
            #expect(flag.done)
            #expect(seen == 1000 && mismatches == 0)
            #expect(flag.retiredWhileHeld > 0, "pages freed under the reader wait for it")
            // Once the reader is gone, the next commits reuse them: the file stops growing.
            for i in 0..<3000 { try e.put(b(k4(i % 1000)), b("again-\(i)")) }
            #expect(Self.figure(try e.stats(), "retired_pages") < flag.retiredWhileHeld)
            for i in 0..<1000 { #expect(try e.get(b(k4(i))) == b("again-\(2000 + i)")) }
        }
    }

    /// The tree page holding `key` in a closed store, found through the engine's own walk.
    static func leafPage(of key: [UInt8], _ dir: String, _ o: CowOptions) throws -> UInt64 {
        let e = try CowEngine(path: dir, options: o, durability: .none)
        defer { try? e.close() }
        var p = e.tree.root!
        while !p.isLeaf { p = try key.withUnsafeBytes { try e.child(p, p.branchSearch($0)) } }
        return p.pageNo
    }

    /// A flipped byte in a leaf page is found when a get or a scan reads the page: a corruption
    /// error naming the page and its offset in cow.db (the open reads no leaf, and succeeds).
    @Test func aCorruptPageIsAnErrorOfTheGetOrScanThatReadsIt() throws {
        let o = Self.options(cachePages: 16)
        try withTemporaryDirectory(prefix: "orbit-cow-readerr") { dir in
            do {
                let e = try CowEngine(path: dir, options: o, durability: .none)
                for i in 0..<3000 { try e.put(Self.key(i), b("value-\(i)")) }
                try e.close()
            }
            let target = Self.key(1500)
            let no = try Self.leafPage(of: target, dir, o)
            let fs = POSIXFileSystem()
            let path = joinPath(dir, "cow.db")
            var bytes = try fs.readFile(path)
            bytes[Int(no) * o.pageSize + o.pageSize / 2] ^= 0x5A
            try fs.writeFileAtomically(path, bytes)

            let e = try CowEngine(path: dir, options: o, durability: .none, access: .readOnly)
            defer { try? e.close() }
            func isThePage(_ error: any Error) -> Bool {
                guard let e = error as? OrbitError else { return false }
                return e.code == .corruption && e.message.contains("page \(no)") && (e.location ?? "").contains("cow.db @ offset \(Int(no) * o.pageSize)")
            }
            #expect(throws: (any Error).self) { _ = try e.get(target) }
            do { _ = try e.get(target) } catch { #expect(isThePage(error), "\(error)") }
            do {
                try e.scan(from: nil, to: nil, limit: 0) { _, _ in true }
                Issue.record("the scan read the damaged page without an error")
            } catch { #expect(isThePage(error), "\(error)") }
            // Keys on other pages still read.
            #expect(try e.get(Self.key(0)) == b("value-0"))
        }
    }

    /// An I/O error on a page read during a get is an error naming the page; the next get, with
    /// the fault gone, reads the page.
    @Test func aReadErrorIsAnErrorOfTheGetNotATrap() throws {
        let fs = FaultInjectingFileSystem(seed: 7)
        let dir = "/store"
        let o = Self.options(cachePages: 8, pageSize: 512)
        do {
            let e = try CowBTree(path: dir, options: o, durability: .everyWrite, fileSystem: fs)
            for i in 0..<800 { try e.put(Self.key(i), b("value-\(i)")) }
            try e.close()
        }
        let e = try CowBTree(path: dir, options: o, durability: .everyWrite, fileSystem: fs)
        defer { try? e.close() }
        fs.inject(Fault(.ioError, on: .read, pathSuffix: "cow.db", after: 0, count: 1))
        var failed = 0
        for i in stride(from: 0, to: 800, by: 37) {
            do { #expect(try e.get(Self.key(i)) == b("value-\(i)")) } catch {
                failed += 1
                let oe = error as? OrbitError
                #expect(oe?.message.contains("reading page") == true && (oe?.location ?? "").contains("cow.db @ offset"), "\(error)")
            }
        }
        #expect(failed == 1)
        for i in 0..<800 { #expect(try e.get(Self.key(i)) == b("value-\(i)")) }
    }
}

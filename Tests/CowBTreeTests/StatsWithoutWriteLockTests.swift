#if canImport(Glibc)
import Glibc
#endif
@testable import CowBTree
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Issue 15 item 5: cow's stats() used to run under `writeLock`, so a writer waiting (for a
/// checkpoint in flight, a WAL segment) held it up. Now it reads the figures the writer published.
@Suite struct StatsWithoutWriteLockTests {
    @Test func statsAnswerWhileTheWriteLockIsHeld() throws {
        try withTemporaryDirectory { dir in
            let e = try CowBTree(path: dir + "/db", options: CowOptions(), durability: .none, fileSystem: POSIXFileSystem())
            for i in 0..<50 { try e.put(Array("key-\(i)".utf8), Array("value-\(i)".utf8)) }
            e.writeLock.lock()   // a writer that holds the lock while it waits
            let answered = Atomic<Bool>(false)
            let keys = Atomic<UInt64>(0)
            let asker = try OrbitThread(name: "stats") {
                if let s = try? e.stats() { keys.store(s.totalKeys, ordering: .relaxed) }
                answered.store(true, ordering: .releasing)
            }
            var polls = 0
            while !answered.load(ordering: .acquiring) && polls < 3000 { usleep(10_000); polls += 1 }
            let ok = answered.load(ordering: .acquiring)
            e.writeLock.unlock()
            asker.join()
            #expect(ok, "stats() waited for the write lock")
            #expect(keys.load(ordering: .relaxed) == 50)
            let commits = try e.stats().extra.first { $0.name == "commits" }?.value
            #expect(commits == 50)
            try e.close()
        }
    }
}

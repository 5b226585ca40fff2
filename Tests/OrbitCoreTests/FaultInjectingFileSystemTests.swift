import OrbitCore
import OrbitTestSupport
import Testing

/// The durability contract of `FileSystem`, as `FaultInjectingFileSystem` enforces it, and its
/// crash points, faults and locks. (The conformance checks every file system passes run on it in
/// FileSystemTests.swift.)
@Suite struct FaultInjectingFileSystemTests {
    /// A file system with a durable directory "/db" to work in.
    func fresh(seed: UInt64 = 7) throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: seed)
        try fs.createDirectory("/db", intermediates: true)
        fs.makeEverythingDurable()
        return fs
    }

    func contents(_ fs: FaultInjectingFileSystem, _ path: String) throws -> [UInt8]? {
        try fs.exists(path) ? try fs.readFile(path) : nil
    }

    @Test func unsyncedWritesAreLostAndSyncedOnesKept() throws {
        let fs = try fresh()
        let f = try fs.open("/db/a", .createNew)
        try f.append([1, 2, 3])
        try f.fdatasync()
        try fs.syncDirectory("/db")
        try f.append([4, 5])
        try f.write([9], at: 0)
        #expect(try fs.readFile("/db/a") == [9, 2, 3, 4, 5])

        var rng = SeededRNG(seed: 1)
        let lost = fs.powerLoss(.dropUnsynced, rng: &rng)
        #expect(try contents(lost, "/db/a") == [1, 2, 3])
        #expect(lost.powerLossDescription?.contains("2 unsynced changes dropped") == true, "\(lost.powerLossDescription ?? "")")
        let kept = fs.powerLoss(.processCrash, rng: &rng)
        #expect(try contents(kept, "/db/a") == [9, 2, 3, 4, 5])

        // The crashed-into copy is independent: writing to it leaves the original alone.
        let g = try lost.open("/db/a", .readWrite)
        try g.write([7], at: 0)
        #expect(try fs.readFile("/db/a")[0] == 9)
    }

    @Test func randomSubsetKeepsEachUnsyncedWriteOrNot() throws {
        let fs = try fresh()
        let f = try fs.open("/db/a", .createNew)
        try f.write([UInt8](repeating: 0, count: 30), at: 0)
        try f.fsync()
        try fs.syncDirectory("/db")
        for i in 0..<3 { try f.write([UInt8](repeating: UInt8(i + 1), count: 10), at: Int64(i * 10)) }
        var seen: Set<[UInt8]> = []
        var rng = SeededRNG(seed: 2)
        for _ in 0..<64 {
            let b = try #require(try contents(fs.powerLoss(.randomSubset, rng: &rng), "/db/a"))
            #expect(b.count == 30)
            for i in 0..<3 {
                let part = b[(i * 10)..<(i * 10 + 10)]
                #expect(part.allSatisfy { $0 == 0 } || part.allSatisfy { $0 == UInt8(i + 1) })
            }
            seen.insert(b)
        }
        #expect(seen.count == 8, "every subset of 3 writes shows up in 64 draws (seed 2)")
    }

    @Test(arguments: [512, 4096]) func tornWritesTearAtSectorBoundaries(sector: Int) throws {
        let fs = try fresh()
        let f = try fs.open("/db/t", .createNew)
        try f.write([UInt8](repeating: 0xAA, count: 4 * sector), at: 0)
        try f.fsync()
        try fs.syncDirectory("/db")
        try f.write([UInt8](repeating: 0xBB, count: 4 * sector), at: 0)
        let mode: PowerLossMode = sector == 512 ? .torn512 : .torn4K
        var mixed = false
        var rng = SeededRNG(seed: 3)
        for _ in 0..<32 {
            let b = try #require(try contents(fs.powerLoss(mode, rng: &rng), "/db/t"))
            #expect(b.count == 4 * sector)
            var kinds: Set<UInt8> = []
            for s in 0..<4 {
                let part = b[(s * sector)..<((s + 1) * sector)]
                #expect(Set(part).count == 1, "sector \(s) is torn inside (seed 3)")
                kinds.insert(part.first!)
            }
            if kinds.count == 2 { mixed = true }
        }
        #expect(mixed, "some state holds old and new sectors")
    }

    @Test func tornAppendsMayLeaveZerosOrOldSectorsButNeverOtherBytes() throws {
        let fs = try fresh()
        let f = try fs.open("/db/log", .createNew)
        try fs.syncDirectory("/db")
        for i in 0..<20 { try f.append([UInt8](repeating: UInt8(i + 1), count: 300)) }
        var rng = SeededRNG(seed: 4)
        for _ in 0..<50 {
            let b = try #require(try contents(fs.powerLoss(.torn512, rng: &rng), "/db/log"))
            #expect(b.count % 300 == 0 && b.count <= 6000)
            for (i, byte) in b.enumerated() { #expect(byte == 0 || byte == UInt8(i / 300 + 1)) }
        }
    }

    @Test func renameIsAtomicAndLostWithoutADirectorySync() throws {
        let fs = try fresh()
        try fs.writeFileAtomically("/db/CURRENT", Array("old".utf8))
        let t = try fs.open("/db/CURRENT.tmp", .truncate)
        try t.write(Array("new".utf8), at: 0)
        try t.fsync()
        try fs.rename("/db/CURRENT.tmp", to: "/db/CURRENT")
        #expect(try fs.readFile("/db/CURRENT") == Array("new".utf8))

        var rng = SeededRNG(seed: 5)
        let reverted = fs.powerLoss(.dropUnsynced, rng: &rng)
        #expect(try contents(reverted, "/db/CURRENT") == Array("old".utf8))
        var outcomes: Set<String> = []
        for _ in 0..<32 {
            let s = fs.powerLoss(.randomSubset, rng: &rng)
            let current = try contents(s, "/db/CURRENT").map { String(decoding: $0, as: UTF8.self) }
            let temp = try s.exists("/db/CURRENT.tmp")
            // The old target (the temp file's own creation may be lost too), or the new target and
            // no temp file: never neither, never a mix.
            #expect(current == "old" || (current == "new" && !temp), "\(current ?? "nil") temp=\(temp)")
            outcomes.insert(current ?? "nil")
        }
        #expect(outcomes == ["old", "new"])

        try fs.syncDirectory("/db")
        for mode in PowerLossMode.powerLossModes {
            #expect(try contents(fs.powerLoss(mode, rng: &rng), "/db/CURRENT") == Array("new".utf8))
        }
    }

    @Test func createsAndRemovesNeedADirectorySync() throws {
        let fs = try fresh()
        let f = try fs.open("/db/old", .createNew)
        try f.append([1])
        try f.fsync()
        try fs.syncDirectory("/db")
        let g = try fs.open("/db/new", .createNew)
        try g.append([2])
        try g.fsync()  // contents durable, name not
        try fs.remove("/db/old")
        try fs.createDirectory("/db/sub", intermediates: false)

        var rng = SeededRNG(seed: 6)
        let s = fs.powerLoss(.dropUnsynced, rng: &rng)
        #expect(try s.list(directory: "/db") == ["old"])
        #expect(try s.readFile("/db/old") == [1])

        try fs.syncDirectory("/db")
        let t = fs.powerLoss(.dropUnsynced, rng: &rng)
        #expect(try t.list(directory: "/db") == ["new", "sub"])
        #expect(try t.readFile("/db/new") == [2])
        // The handle to the removed file still works, and sees its bytes.
        #expect(try f.read(count: 10, at: 0) == [1])
        try f.append([3])
        #expect(try f.read(count: 10, at: 0) == [1, 3])
    }

    @Test func aFailedSyncLosesItsWritesEvenAfterALaterSyncSucceeds() throws {
        let fs = try fresh()
        let f = try fs.open("/db/a", .createNew)
        try fs.syncDirectory("/db")
        try f.append([1, 1, 1])
        fs.inject(Fault(.ioError, on: FileOperation.fileSyncs))
        let e = try #require(throws: OrbitError.self) { try f.fdatasync() }
        #expect(e.hasErrno(.ioError))
        #expect(e.description.contains("fdatasync failed") && e.description.contains("/db/a"), "\(e)")
        #expect(try f.read(count: 10, at: 0) == [1, 1, 1])  // reads still see the data
        try f.append([2])
        try f.fdatasync()  // succeeds: the rule fired once
        var rng = SeededRNG(seed: 8)
        let s = fs.powerLoss(.dropUnsynced, rng: &rng)
        // fsyncgate: the first three bytes never reached the disk; the 2 did, past a zero gap.
        #expect(try s.readFile("/db/a") == [0, 0, 0, 2])
        #expect(s.powerLossDescription?.contains("lost to a failed sync") == true, "\(s.powerLossDescription ?? "")")
    }

    @Test func injectedFaultsLookLikeRealErrors() throws {
        let fs = try fresh()
        let f = try fs.open("/db/000005.log", .createNew)
        fs.setPartialWrites(false)
        fs.inject(Fault(.noSpace, on: .append, pathSuffix: ".log", after: 2))
        try f.append([1]); try f.append([2])
        let e = try #require(throws: OrbitError.self) { try f.append([3, 3]) }
        #expect(e.code == .io)
        #expect(e.hasErrno(.noSpace) && e.errnoName == "ENOSPC")
        #expect(e.location == "/db/000005.log @ offset 2")
        #expect(e.description.contains("pwrite failed") && e.hint?.contains("free space") == true, "\(e)")
        #expect(fs.firedFaults.map(\.description) == ["ENOSPC@append#3 /db/000005.log"])
        try f.append([4])  // count 1: fired once; the failed append's range stays reserved
        #expect(try f.read(count: 10, at: 0) == [1, 2, 0, 0, 4])

        // Sticky EIO on reads of one file only, until cleared.
        fs.inject(Fault(.ioError, on: .read, pathSuffix: "000005.log", count: nil))
        for _ in 0..<3 { #expect(throws: OrbitError.self) { _ = try f.read(count: 1, at: 0) } }
        let other = try fs.open("/db/x", .createNew)
        #expect(try other.read(count: 1, at: 0) == [])
        fs.clearFaults()
        #expect(try f.read(count: 1, at: 0) == [1])

        // Directory calls fail the same way.
        fs.inject(Fault(.ioError, on: .syncDirectory))
        let d = try #require(throws: OrbitError.self) { try fs.syncDirectory("/db") }
        #expect(d.hasErrno(.ioError) && d.location == "/db" && d.message == "directory fsync failed")
        fs.inject(Fault(.noSpace, on: .rename, pathSuffix: "b"))
        let r = try #require(throws: OrbitError.self) { try fs.rename("/db/x", to: "/db/b") }
        #expect(r.hasErrno(.noSpace) && r.location == "/db/x -> /db/b")
        #expect(try fs.exists("/db/x") && !fs.exists("/db/b"))
    }

    @Test func aFailedWriteMayLeaveAPrefix() throws {
        let fs = try fresh(seed: 11)
        let f = try fs.open("/db/a", .createNew)
        fs.inject(Fault(.ioError, on: .write, count: nil))
        var prefixes: Set<Int> = []
        for _ in 0..<20 {
            try f.truncate(to: 0)
            #expect(throws: OrbitError.self) { try f.write([UInt8](repeating: 7, count: 2000), at: 100) }
            let n = try f.size()
            #expect(n == 0 || n % 512 == 0, "a failed write stops at a sector boundary")
            if n > 100 { #expect(try f.read(count: Int(n) - 100, at: 100) == [UInt8](repeating: 7, count: Int(n) - 100)) }
            prefixes.insert(Int(n))
        }
        #expect(prefixes.count > 2, "prefixes vary with the file system's seed (11)")
        // A sector-sized aligned write (a meta page) is all or nothing.
        for _ in 0..<20 {
            #expect(throws: OrbitError.self) { try f.write([UInt8](repeating: 9, count: 512), at: 512) }
            let page = try f.read(count: 512, at: 512)
            #expect(page.allSatisfy { $0 != 9 })
        }
    }

    @Test func aDiskBudgetRunsOutWithENOSPC() throws {
        let fs = try fresh()
        fs.setDiskBudget(2048)
        let f = try fs.open("/db/a", .createNew)
        try f.append([UInt8](repeating: 1, count: 900))
        let e = try #require(throws: OrbitError.self) { try f.append([UInt8](repeating: 2, count: 1500)) }
        #expect(e.hasErrno(.noSpace))
        #expect(e.location == "/db/a @ offset 2048")  // where it stopped: 1148 bytes fit
        #expect(fs.usedBytes == 2048)
        try fs.remove("/db/a")
        #expect(fs.usedBytes == 2048)  // still open
        try f.close()
        #expect(fs.usedBytes == 0)
        let g = try fs.open("/db/b", .createNew)
        try g.append([UInt8](repeating: 3, count: 2048))
    }

    @Test func aCrashPointKillsTheFileSystem() throws {
        let fs = try fresh()
        let f = try fs.open("/db/a", .createNew)
        try fs.crashPoint("x.before")
        fs.arm("x.commit", skip: 1)
        try fs.crashPoint("x.commit")
        try f.append([1])
        let e = try #require(throws: OrbitError.self) { try fs.crashPoint("x.commit") }
        #expect(e.isSimulatedCrash && e.errnoName == nil)
        #expect(fs.crashed == "x.commit")
        #expect(fs.crashPointsSeen == ["x.before", "x.commit"])
        // Dead: every later call throws, and writes nothing.
        let w = try #require(throws: OrbitError.self) { try f.append([2]) }
        #expect(w.isSimulatedCrash)
        #expect(throws: OrbitError.self) { _ = try fs.list(directory: "/db") }
        #expect(throws: OrbitError.self) { _ = try f.read(count: 1, at: 0) }
        #expect(throws: OrbitError.self) { try fs.crashPoint("x.before") }
        try f.close()  // closing writes nothing: allowed
        var rng = SeededRNG(seed: 9)
        let s = fs.powerLoss(.processCrash, rng: &rng)
        #expect(try s.readFile("/db/a") == [1])
    }

    @Test func crashAfterNMutatingCalls() throws {
        let fs = try fresh()
        let base = fs.mutatingCallCount             // the set-up's createDirectory
        let f = try fs.open("/db/a", .createNew)    // 1
        fs.crashAfter(mutatingCalls: 2)
        try f.append([1])                           // 2
        _ = try f.read(count: 1, at: 0)             // not mutating
        try f.fsync()                               // 3
        #expect(throws: OrbitError.self) { try f.append([2]) }
        #expect(fs.crashed == "call#\(base + 4) append /db/a")
        #expect(fs.mutatingCallCount == base + 3)
    }

    @Test func armAnyFiresWithItsProbability() throws {
        var fired = 0
        for seed in UInt64(0)..<200 {
            let fs = FaultInjectingFileSystem()
            fs.armAny(probability: 0.25, seed: seed)
            if (try? fs.crashPoint("p")) == nil { fired += 1 }
        }
        #expect(fired > 25 && fired < 75, "fired \(fired)/200")
    }

    @Test func locksArePerInstance() throws {
        let fs = try fresh()
        let l = try fs.lock("/db/LOCK")
        let e = try #require(throws: OrbitError.self) { _ = try fs.lock("/db/./LOCK") }
        #expect(e.description.contains("held"))
        _ = try FaultInjectingFileSystem().lock("/db/LOCK")
        fs.crash()
        var rng = SeededRNG(seed: 10)
        let copy = fs.powerLoss(.dropUnsynced, rng: &rng)
        let m = try copy.lock("/db/LOCK")  // the crashed instance's lock does not follow
        m.release()
        l.release()
    }

    @Test func powerLossIsDeterministicForOneSeed() throws {
        let fs = try fresh()
        let f = try fs.open("/db/a", .createNew)
        for i in 0..<50 { try f.append([UInt8](repeating: UInt8(i), count: 97)) }
        try fs.rename("/db/a", to: "/db/b")
        for mode in PowerLossMode.powerLossModes {
            var r1 = SeededRNG(seed: 12), r2 = SeededRNG(seed: 12)
            let a = fs.powerLoss(mode, rng: &r1), b = fs.powerLoss(mode, rng: &r2)
            #expect(a.powerLossDescription == b.powerLossDescription)
            #expect(try a.list(directory: "/db") == b.list(directory: "/db"))
            for name in try a.list(directory: "/db") { #expect(try a.readFile("/db/" + name) == b.readFile("/db/" + name)) }
        }
    }
}

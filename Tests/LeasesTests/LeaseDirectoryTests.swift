import Leases
import OrbitCore
import OrbitTestSupport
import Testing

/// Each test runs over every `EngineKind`; the bodies are generic so the directory is specialized on
/// the concrete engine (the `any StorageEngine` is opened when passed in).
@Suite struct LeaseDirectoryTests {
    static let t0: Int64 = 1_700_000_000_000

    // MARK: store / get / remove

    @Test(arguments: EngineKind.allCases)
    func storeGetRemove(_ kind: EngineKind) throws { try storeGetRemove(kind.make()) }

    func storeGetRemove<E: StorageEngine>(_ engine: E) throws {
        let dir = LeaseDirectory(engine: engine, clock: ManualWallClock(startMillis: Self.t0))
        let a = lease("User", "u-1", on: "n1")
        let b = lease("User", "", on: "n1")  // empty key
        let c = lease("", "", on: "")  // empty everything
        let d = lease("Bücher", "🚀\u{0}東京", on: "nœud")
        #expect(try dir.get(a.reference) == nil)
        for l in [a, b, c, d] { try dir.store(l) }
        for l in [a, b, c, d] { #expect(try dir.get(l.reference) == l) }
        #expect(try dir.listAll().count == 4)
        try expectIndexConsistent(dir)

        // Overwrite on the same node: the new record wins.
        var a2 = a
        a2.version = 9
        a2.expiresAt += 1
        try dir.store(a2)
        #expect(try dir.get(a.reference) == a2)

        #expect(try dir.remove(a.reference))
        #expect(try dir.remove(a.reference) == false)
        #expect(try dir.get(a.reference) == nil)
        #expect(try dir.listLeases(node: "n1") == [b])
        #expect(try dir.remove(c.reference))
        #expect(try dir.listLeases(node: "") == [])
        try expectIndexConsistent(dir)
        // Exactly two primary and two index keys remain.
        #expect(try engine.scan(from: nil, to: nil).count == 4)
    }

    @Test(arguments: EngineKind.allCases)
    func updateMovingNodeMovesIndexEntry(_ kind: EngineKind) throws { try updateMovingNode(kind.make()) }

    func updateMovingNode<E: StorageEngine>(_ engine: E) throws {
        let dir = LeaseDirectory(engine: engine)
        let l = lease("Actor", "x", on: "old")
        let other = lease("Actor", "y", on: "old")
        try dir.store(l)
        try dir.store(other)
        var moved = l
        moved.nodeId = "new"
        moved.version = 2
        try dir.store(moved)
        #expect(try dir.listLeases(node: "old") == [other])
        #expect(try dir.listLeases(node: "new") == [moved])
        #expect(try dir.get(l.reference) == moved)
        try expectIndexConsistent(dir)
        // Index holds exactly one entry per lease.
        #expect(try engine.scan(from: LeaseKeys.nodeIndexBounds.start, to: LeaseKeys.nodeIndexBounds.end).count == 2)
        // And back.
        try dir.store(l)
        #expect(try dir.listLeases(node: "new") == [])
        #expect(try dir.listLeases(node: "old") == [l, other])
        try expectIndexConsistent(dir)
    }

    @Test(arguments: EngineKind.allCases)
    func removeClearsIndex(_ kind: EngineKind) throws { try removeClearsIndex(kind.make()) }

    func removeClearsIndex<E: StorageEngine>(_ engine: E) throws {
        let dir = LeaseDirectory(engine: engine)
        for i in 0..<10 { try dir.store(lease("T", "k\(i)", on: NodeId("n\(i % 3)"))) }
        for i in 0..<10 { #expect(try dir.remove(ref("T", "k\(i)"))) }
        #expect(try engine.scan(from: nil, to: nil).isEmpty)
        for n in 0..<3 { #expect(try dir.listLeases(node: NodeId("n\(n)")).isEmpty) }
    }

    // MARK: Hot path: what a store or renew costs the engine

    @Test(arguments: EngineKind.allCases)
    func sameNodeStoreAndRenewWriteOneRecord(_ kind: EngineKind) throws { try sameNodeStoreAndRenew(kind.make()) }

    func sameNodeStoreAndRenew<B: StorageEngine>(_ base: B) throws {
        let engine = CountingEngine(base)
        let clock = ManualWallClock(startMillis: Self.t0)
        let dir = LeaseDirectory(engine: engine, clock: clock)
        let l = lease("T", "k", on: "n", at: Self.t0, duration: 10_000)
        try dir.store(l)  // new: record + index entry in one batch
        #expect(engine.batchWrites.load(ordering: .relaxed) == 1 && engine.puts.load(ordering: .relaxed) == 0)
        engine.resetCounters()
        try dir.store(l)  // same node: the record alone
        #expect(engine.batchWrites.load(ordering: .relaxed) == 0 && engine.puts.load(ordering: .relaxed) == 1)
        engine.resetCounters()

        clock.advance(millis: 4_000)
        let renewed = try #require(try dir.renew(l.reference))
        #expect(renewed.version == 2)
        #expect(renewed.expiresAt == Self.t0 + 14_000)
        #expect(renewed.renewAt == Self.t0 + 9_000)
        #expect(renewed.leaseDuration == 10_000)
        #expect(renewed.nodeId == "n")
        #expect(try dir.get(l.reference) == renewed)
        #expect(engine.batchWrites.load(ordering: .relaxed) == 0 && engine.puts.load(ordering: .relaxed) == 1)

        let longer = try #require(try dir.renew(l.reference, duration: 60_000, at: Self.t0 + 5_000))
        #expect(longer.version == 3 && longer.expiresAt == Self.t0 + 65_000 && longer.renewAt == Self.t0 + 35_000 && longer.leaseDuration == 60_000)
        #expect(try dir.renew(ref("T", "absent")) == nil)
        #expect(throws: OrbitError.self) { try dir.renew(l.reference, duration: 0) }
        try expectIndexConsistent(dir)
    }

    // MARK: Cleanup

    @Test(arguments: EngineKind.allCases)
    func cleanupExpiredRemovesExactlyTheExpired(_ kind: EngineKind) throws { try cleanup(kind.make()) }

    func cleanup<E: StorageEngine>(_ engine: E) throws {
        let clock = ManualWallClock(startMillis: Self.t0)
        // A small batch size so the sweep spans several atomic batches.
        let dir = LeaseDirectory(engine: engine, clock: clock, stripeCount: 4, cleanupBatchSize: 7)
        // Lease i expires at t0 + 1000 * (i % 10 + 1); nodes n0...n4.
        var all: [AddressableLease] = []
        for i in 0..<100 {
            all.append(lease("T\(i % 3)", "k\(i)", on: NodeId("n\(i % 5)"), at: Self.t0, duration: 1_000 * Int64(i % 10 + 1)))
        }
        try dir.storeAll(all)
        #expect(try dir.cleanupExpired() == 0)

        clock.advance(millis: 999)
        #expect(try dir.cleanupExpired() == 0)
        clock.advance(millis: 1)  // t0 + 1000: expiresAt <= now counts as expired
        #expect(try dir.cleanupExpired() == 10)
        clock.advance(millis: 2_500)  // t0 + 3500: durations 2000 and 3000 expired too
        #expect(try dir.cleanupExpired() == 20)
        try expectIndexConsistent(dir)

        // A renewal saves a lease from the next sweep.
        let saved = all[3]  // duration 4000
        _ = try dir.renew(saved.reference)  // now + 4000
        clock.advance(millis: 1_000)  // t0 + 4500
        #expect(try dir.cleanupExpired() == 9)
        #expect(try dir.get(saved.reference) != nil)

        let live = Set(try dir.listAll().map(\.reference))
        let expected = Set(all.filter { $0.expiresAt > clock.nowMillis() || $0.reference == saved.reference }.map(\.reference))
        #expect(live == expected)
        for n in 0..<5 {
            let node = NodeId("n\(n)")
            #expect(Set(try dir.listLeases(node: node).map(\.reference)) == Set(all.filter { $0.nodeId == node && expected.contains($0.reference) }.map(\.reference)))
        }
        try expectIndexConsistent(dir)

        clock.advance(millis: 1_000_000)
        #expect(try dir.cleanupExpired() == expected.count)
        #expect(try engine.scan(from: nil, to: nil).isEmpty)
    }

    // MARK: Range queries

    @Test(arguments: EngineKind.allCases)
    func rangeQueryByType(_ kind: EngineKind) throws { try rangeQuery(kind.make()) }

    func rangeQuery<E: StorageEngine>(_ engine: E) throws {
        let dir = LeaseDirectory(engine: engine)
        // Types that are prefixes of each other, or differ by a NUL, must not leak into each other.
        let types = ["User", "UserActor", "Use", "User\u{0}", "Usera", "Z"]
        var byType: [String: [AddressableLease]] = [:]
        var rng = TestSeed.rng("rangeQueryByType", default: 7)
        for t in types {
            for _ in 0..<20 {
                let key = "k\(UInt32.random(in: 0...999_999, using: &rng))"
                let l = lease(t, key, on: NodeId("n\(UInt8.random(in: 0...3, using: &rng))"))
                try dir.store(l)
                byType[t, default: []].removeAll { $0.reference == l.reference }
                byType[t, default: []].append(l)
            }
        }
        for t in types {
            let expected = byType[t]!.sorted { compareBytes(Array($0.reference.key.utf8), Array($1.reference.key.utf8)) < 0 }
            #expect(try dir.leases(ofType: t) == expected)
            #expect(try dir.leases(ofType: t, limit: 5) == Array(expected.prefix(5)))
            // Paging with `from`: start at the 6th key.
            #expect(try dir.leases(ofType: t, from: expected[5].reference.key, limit: 3) == Array(expected[5..<8]))
        }
        #expect(try dir.leases(ofType: "Nope").isEmpty)
        #expect(try dir.leases(ofType: "").isEmpty)
        // listAll is ordered by (type bytes, key bytes).
        let all = try dir.listAll()
        #expect(all.count == byType.values.map(\.count).reduce(0, +))
        let keys = all.map { LeaseKeys.primaryKey(for: $0.reference) }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { compareBytes($0, $1) < 0 })
    }

    // MARK: List by node touches only that node's entries

    @Test(arguments: EngineKind.allCases)
    func listByNodeScansOnlyThatNode(_ kind: EngineKind) throws { try listByNode(kind.make()) }

    func listByNode<B: StorageEngine>(_ base: B) throws {
        let engine = CountingEngine(base)
        let dir = LeaseDirectory(engine: engine)
        var perNode: [NodeId: Int] = [:]
        var batch: [AddressableLease] = []
        for i in 0..<1_000 {
            // Uneven spread; node names that are prefixes of each other ("n1", "n10").
            let node = NodeId("n\(i % 7 == 0 ? 1 : (i % 13 == 0 ? 10 : i % 5))")
            batch.append(lease("T\(i % 4)", "k\(i)", on: node))
            perNode[node, default: 0] += 1
        }
        try dir.storeAll(batch)
        for (node, count) in perNode {
            engine.resetCounters()
            let leases = try dir.listLeases(node: node)
            #expect(leases.count == count)
            #expect(leases.allSatisfy { $0.nodeId == node })
            #expect(engine.scans.load(ordering: .relaxed) == 1)
            #expect(engine.scannedEntries.load(ordering: .relaxed) == count, "visited entries of other nodes")
            #expect(engine.gets.load(ordering: .relaxed) == count)
        }
        engine.resetCounters()
        #expect(try dir.listLeases(node: "absent").isEmpty)
        #expect(engine.scannedEntries.load(ordering: .relaxed) == 0)
    }

    // MARK: Bulk operations

    @Test(arguments: EngineKind.allCases)
    func bulkOperationsAreOneAtomicWrite(_ kind: EngineKind) throws { try bulk(kind.make()) }

    func bulk<B: StorageEngine>(_ base: B) throws {
        let engine = CountingEngine(base)
        let dir = LeaseDirectory(engine: engine, stripeCount: 8)
        let first = (0..<50).map { lease("T", "k\($0)", on: NodeId("a\($0 % 3)")) }
        try dir.storeAll(first)
        #expect(engine.batchWrites.load(ordering: .relaxed) == 1)
        #expect(engine.puts.load(ordering: .relaxed) == 0 && engine.deletes.load(ordering: .relaxed) == 0)
        try expectIndexConsistent(dir)

        // Moves half of them, adds new ones, and names one reference twice (the last one wins).
        var second = (25..<75).map { lease("T", "k\($0)", on: NodeId("b\($0 % 2)"), version: 2) }
        second.append(lease("T", "k30", on: "c", version: 3))
        second.insert(lease("T", "k70", on: "d", version: 3), at: 0)  // overridden by the later k70
        engine.resetCounters()
        try dir.storeAll(second)
        #expect(engine.batchWrites.load(ordering: .relaxed) == 1)
        #expect(try dir.get(ref("T", "k30"))?.nodeId == "c")
        #expect(try dir.get(ref("T", "k70"))?.nodeId == "b0")
        #expect(try dir.listLeases(node: "d").isEmpty)
        #expect(try dir.listAll().count == 75)
        try expectIndexConsistent(dir)

        // A failed bulk write changes nothing.
        let before = try engine.scan(from: nil, to: nil)
        engine.failNextWrite.store(true, ordering: .relaxed)
        #expect(throws: OrbitError.self) { try dir.storeAll((0..<75).map { lease("T", "k\($0)", on: "z") }) }
        engine.failNextWrite.store(true, ordering: .relaxed)
        #expect(throws: OrbitError.self) { try dir.removeAll((0..<75).map { ref("T", "k\($0)") }) }
        #expect(try engine.scan(from: nil, to: nil).elementsEqual(before) { $0.key == $1.key && $0.value == $1.value })

        // removeAll counts only what was there, once per reference, in one write.
        engine.resetCounters()
        let removed = try dir.removeAll((60..<90).map { ref("T", "k\($0)") } + [ref("T", "k60"), ref("Other", "k1")])
        #expect(removed == 15)
        #expect(engine.batchWrites.load(ordering: .relaxed) == 1)
        #expect(try dir.listAll().count == 60)
        #expect(try dir.removeAll([]) == 0)
        #expect(try dir.removeAll([ref("T", "absent")]) == 0)
        try dir.storeAll([])
        try expectIndexConsistent(dir)
    }

    // MARK: Corruption through the directory

    @Test(arguments: EngineKind.allCases)
    func corruptStoredRecordIsReportedWithItsKey(_ kind: EngineKind) throws { try corruptStored(kind.make()) }

    func corruptStored<E: StorageEngine>(_ engine: E) throws {
        let dir = LeaseDirectory(engine: engine)
        let l = lease("T", "k", on: "n")
        try dir.store(l)
        let pk = LeaseKeys.primaryKey(for: l.reference)
        var record = try #require(try engine.get(pk))
        record[4] ^= 0x01
        try engine.put(pk, record)
        let e = expectCorruption { _ = try dir.get(l.reference) }
        #expect(e?.location?.contains("lease key") == true)
        expectCorruption { _ = try dir.listAll() }
        expectCorruption { _ = try dir.listLeases(node: "n") }
        expectCorruption { try dir.store(l) }
        expectCorruption { _ = try dir.remove(l.reference) }
        expectCorruption { _ = try dir.cleanupExpired() }

        // A valid record stored under another reference's key is caught too.
        try engine.put(pk, LeaseCodec.encode(lease("T", "other", on: "n")))
        let e2 = expectCorruption { _ = try dir.get(l.reference) }
        #expect(e2?.message.contains("another reference") == true)
    }
}

extension LeaseDirectoryTests {
    /// Keys are bytes: canonically equivalent but differently encoded strings are different leases,
    /// and the model types agree with the store about that.
    @Test(arguments: EngineKind.allCases)
    func referencesCompareByBytes(_ kind: EngineKind) throws { try referencesCompareByBytes(kind.make()) }

    func referencesCompareByBytes<E: StorageEngine>(_ engine: E) throws {
        let composed = ref("T", "caf\u{E9}"), decomposed = ref("T", "cafe\u{301}")
        #expect(composed.key == decomposed.key)  // Swift's String equality
        #expect(composed != decomposed)  // the reference's: bytes
        #expect(Set([composed, decomposed]).count == 2)
        #expect(NodeId("\u{E9}") != NodeId("e\u{301}"))
        let dir = LeaseDirectory(engine: engine)
        try dir.storeAll([lease("T", "caf\u{E9}", on: "a"), lease("T", "cafe\u{301}", on: "b")])
        #expect(try dir.listAll().count == 2)
        #expect(try dir.get(composed)?.nodeId == "a")
        #expect(try dir.get(decomposed)?.nodeId == "b")
        #expect(try dir.removeAll([composed, decomposed]) == 2)
        try expectIndexConsistent(dir)
    }
}

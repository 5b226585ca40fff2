import Leases
import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// Several threads hammer one directory. Interleavings differ run to run, so the assertions are only
/// those that hold for every interleaving: no errors, the index exactly matches the records, the
/// per-thread private references end exactly as that thread's own model says.
@Suite struct LeaseConcurrencyTests {
    @Test(arguments: EngineKind.allCases, [2, 64])
    func concurrentMixedOperationsKeepIndexExact(_ kind: EngineKind, stripes: Int) throws {
        try run(kind.make(), stripes: stripes)
    }

    func run<E: StorageEngine>(_ engine: E, stripes: Int) throws {
        let seed = TestSeed.pick("concurrentMixedOperations \(engine.backendName) stripes=\(stripes)", default: 0xC0FFEE)
        let clock = ManualWallClock(startMillis: 1_700_000_000_000)
        let dir = LeaseDirectory(engine: engine, clock: clock, stripeCount: stripes, cleanupBatchSize: 16)
        let threads = 4
        let opsPerThread = 3_000
        let sharedRefs = (0..<40).map { ref("Shared\($0 % 3)", "s\($0)") }
        let nodes: [NodeId] = ["n0", "n1", "n2", "n10"]

        // Each thread's final view of its private references (leases there are long, never expire).
        let models = Lock<[[AddressableReference: AddressableLease]]>(Array(repeating: [:], count: threads))

        try runOnThreads(threads + 1) { t in
            var rng = SeededRNG(seed: seed &+ UInt64(t))
            if t == threads {
                // The sweeper: moves time and cleans up while the others work.
                for _ in 0..<200 {
                    clock.advance(millis: 5)
                    _ = try dir.cleanupExpired()
                }
                return
            }
            var model: [AddressableReference: AddressableLease] = [:]
            let mine = (0..<30).map { ref("Private\($0 % 2)", "t\(t)-\($0)") }
            for _ in 0..<opsPerThread {
                let shared = Bool.random(using: &rng)
                let r = shared ? sharedRefs.randomElement(using: &rng)! : mine.randomElement(using: &rng)!
                let node = nodes.randomElement(using: &rng)!
                // Shared leases are short (the sweeper removes some); private ones last.
                let duration: Int64 = shared ? Int64.random(in: 1...400, using: &rng) : 1 << 40
                let now = clock.nowMillis()
                let newLease = AddressableLease(reference: r, nodeId: node, grantedAt: now, duration: duration)
                switch Int.random(in: 0..<100, using: &rng) {
                case 0..<30:
                    try dir.store(newLease)
                    if !shared { model[r] = newLease }
                case 30..<65:
                    let renewed = try dir.renew(r)
                    if !shared {
                        #expect(renewed?.version == model[r].map { $0.version + 1 })
                        if let renewed { model[r] = renewed }
                    }
                case 65..<75:
                    let removed = try dir.remove(r)
                    if !shared {
                        #expect(removed == (model[r] != nil))
                        model[r] = nil
                    }
                case 75..<85:
                    let got = try dir.get(r)
                    if !shared { #expect(got == model[r]) }
                case 85..<90:
                    for l in try dir.listLeases(node: node) { #expect(l.nodeId == node) }
                case 90..<95:
                    // Bulk: a few shared and one private reference, moved to one node.
                    var leases = (0..<3).map { _ in
                        AddressableLease(reference: sharedRefs.randomElement(using: &rng)!, nodeId: node, grantedAt: now, duration: 200)
                    }
                    let p = AddressableLease(reference: mine.randomElement(using: &rng)!, nodeId: node, grantedAt: now, duration: 1 << 40)
                    leases.append(p)
                    try dir.storeAll(leases)
                    model[p.reference] = p
                default:
                    let refs = (0..<3).map { _ in sharedRefs.randomElement(using: &rng)! } + [mine.randomElement(using: &rng)!]
                    _ = try dir.removeAll(refs)
                    model[refs[3]] = nil
                }
            }
            models.withLock { $0[t] = model }
        }

        try expectIndexConsistent(dir)
        let all = try dir.listAll()
        var byNode: [NodeId: Int] = [:]
        for l in all { byNode[l.nodeId, default: 0] += 1 }
        for node in nodes { #expect(try dir.listLeases(node: node).count == byNode[node, default: 0]) }
        let finalModels = models.withLock { $0 }
        for (t, model) in finalModels.enumerated() {
            let stored = all.filter { $0.reference.key.hasPrefix("t\(t)-") }
            #expect(Dictionary(uniqueKeysWithValues: stored.map { ($0.reference, $0) }) == model, "thread \(t)")
        }
    }
}

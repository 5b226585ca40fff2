public import OrbitCore
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// Failovers (`node-kill`): one node of a replicated cluster (`ClusterBackedEngine`: etcd with
/// `etcd.members=3`, PostgreSQL with `postgres.standby=sync`, a managed SeaweedFS behind s3 with
/// its three volume servers) SIGKILLed at a seeded
/// moment while `crash.server_writers` writer threads and one reader thread use the cluster. The
/// node killed takes the engine's `nodeKillRoles` in turn (etcd: the leader, then a follower; s3: a
/// volume server), found
/// by asking the cluster (`clusterNodes`). The harness then does what the cluster needs to fail over
/// (`failOver`: nothing for etcd, which elects a leader by itself, nor for SeaweedFS, whose master
/// drops the dead volume server), and the
/// clients, whose calls fail, reconnect (`reconnectCallingThread`) and go on. A backend without
/// atomic batches (s3) needs `crash.batch_fraction=0`: the writers would send batches it refuses.
///
/// Measured: the unavailability, from the kill to the first acknowledged write, and to the first
/// successful read, of an operation begun after the killed node was gone. Verified against `KillOracle`, strictly
/// (a sync-replicated cluster loses no acknowledged write when one node dies): every acknowledged
/// write present after the failover, nothing deleted back, no batch torn; and read-your-writes:
/// after each acknowledged put or delete, its writer reads the key back and must see that write
/// (a stale read is a violation). Then the killed node is restarted (rebuilt where it must be) and
/// the cycle ends once it has rejoined. The engine stays open over every cycle.
public enum NodeKillSweep: CrashSweep {
    public static let method: CrashRecord.Method = .nodeKill

    public static func supports(engine: String) -> Bool { Engines.capabilities(engine)?.contains(.server) ?? false }

    /// How long a cycle waits for the cluster to serve again after a kill.
    static let failoverTimeoutNanos: UInt64 = 60_000_000_000
    /// The longest a writer waits between failed calls (µs): the bound on how late a measured
    /// unavailability can be.
    static let maxBackoffMicros: UInt32 = 16_000

    public static func run(_ c: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        let setup = try ServerSweepSetup(c, needs: "a node kill needs a replicated server backend")
        let (plan, settings, writers, store) = (setup.plan, setup.settings, setup.writers, setup.store)
        if plan.batchFraction > 0, !(Engines.capabilities(c.engine)?.contains(.atomicBatches) ?? false) {
            throw OrbitError(.invalidConfig,
                             "backend \(c.engine) has no atomic batches, and node-kill's writers would send them (crash.batch_fraction=\(formatDouble(plan.batchFraction, decimals: 2)))",
                             at: "crash.batch_fraction", hint: "set crash.batch_fraction=0 for \(c.engine) (single puts and deletes only)")
        }
        try withoutActuallyEscaping(onRecord) { onRecord in
            let body = Body(context: c, plan: plan, writers: writers, store: store, onRecord: onRecord)
            _ = try Engines.withEngine(c.engine, directory: store, settings: settings, body)
            if let e = body.recordError.error { throw e }
        }
    }

    /// Holds the error `onRecord` threw (the body's closure type cannot rethrow it).
    final class ErrorBox: @unchecked Sendable { var error: (any Error)? }

    final class Shared: @unchecked Sendable {
        struct State {
            var oracle: KillOracle
            var nextOp = 0
            var acknowledged = 0
            var stop = false
            /// MonotonicClock ns of the kill (0: none this cycle).
            var killedAt: UInt64 = 0
            /// MonotonicClock ns when the killed node was gone (only operations begun after it count
            /// as served after the kill: one begun while the SIGKILL was on its way may still be
            /// answered by the dying node).
            var deadAt: UInt64 = 0
            var firstAckAfterKill: UInt64 = 0
            var firstReadAfterKill: UInt64 = 0
            var failedCalls = 0
            var failedBeforeKill = 0
            var readsChecked = 0
            var stale = 0
            var problems: [String] = []
        }
        let state: Lock<State>
        init(recordCount: Int) { state = Lock(State(oracle: KillOracle(recordCount: recordCount))) }
    }

    struct Body: EngineBody {
        let context: CrashSweepContext
        let plan: CrashPlan
        let writers: Int
        let store: String
        let onRecord: (CrashRecord) throws -> Void
        let recordError = ErrorBox()

        func run<E: StorageEngine>(_ engine: E) throws -> Bool {
            guard let cluster = (engine as AnyObject) as? any ClusterBackedEngine else {
                throw OrbitError(.invalidConfig, "backend \(context.engine) has no replicated cluster to fail over",
                                 at: "backend \(context.engine)", hint: "node-kill runs on a server backend with replicas")
            }
            let hint = type(of: cluster).clusterHint
            let roles = type(of: cluster).nodeKillRoles
            guard try cluster.clusterNodes().count >= 2 else {
                throw OrbitError(.invalidConfig, "backend \(context.engine) runs one node: node-kill needs a replicated cluster",
                                 at: "backend \(context.engine)", hint: "set \(hint)")
            }
            let shared = Shared(recordCount: plan.recordCount)
            var rng = SeededRNG(seed: context.seed, stream: 0x6E6F_6465)
            for cycle in 1...max(1, context.count) {
                let role = roles[(cycle - 1) % roles.count]
                let delayMs = plan.killAfterMs.map { Int.random(in: $0, using: &rng) } ?? Int.random(in: 100...400, using: &rng)
                let pick = rng.next()
                let record = try runCycle(engine, cluster: cluster, shared: shared, cycle: cycle, role: role, delayMs: delayMs,
                                          pick: pick, seed: context.seed &+ UInt64(cycle) &* 0x9E37_79B9_7F4A_7C15)
                do { try onRecord(record) } catch {
                    recordError.error = error
                    return false
                }
                if record.verdict == .broken, record.detail.hasPrefix("failover failed") { return false }
            }
            return true
        }

        func runCycle<E: StorageEngine>(_ engine: E, cluster: any ClusterBackedEngine, shared: Shared, cycle: Int, role: String,
                                        delayMs: Int, pick: UInt64, seed: UInt64) throws -> CrashRecord {
            shared.state.withLock { s in
                s.acknowledged = 0
                s.stop = false
                s.killedAt = 0
                s.deadAt = 0
                s.firstAckAfterKill = 0
                s.firstReadAfterKill = 0
                s.failedCalls = 0
                s.failedBeforeKill = 0
                s.readsChecked = 0
                s.stale = 0
                s.problems = []
            }
            var record = CrashRecord(cycle: cycle, engine: context.engine, durability: context.durability.description, method: .nodeKill,
                                     crashPointOrTime: "t=\(delayMs)ms", opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0,
                                     lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .ok, storeBytes: 0)
            let nodes = try cluster.clusterNodes()
            let candidates = nodes.filter { $0.role == role }
            guard !candidates.isEmpty else {
                record.verdict = .broken
                record.detail = "failover failed: no node is \(role) before the kill (\(nodes.map(\.description).joined(separator: ", ")))"
                return record
            }
            let target = candidates[Int(pick % UInt64(candidates.count))]
            let retriesBefore = clientRetries(engine)
            record.crashPointOrTime = "t=\(delayMs)ms \(role)"
            var threads: [OrbitThread] = []
            defer {
                shared.state.withLock { $0.stop = true }
                for t in threads { t.join() }
            }
            for w in 0..<writers {
                threads.append(try OrbitThread(name: "orbit-node-writer-\(w)") {
                    write(engine, cluster: cluster, shared: shared, writer: w, seed: seed)
                })
            }
            threads.append(try OrbitThread(name: "orbit-node-reader") {
                read(engine, cluster: cluster, shared: shared, seed: seed)
            })
            usleep(UInt32(delayMs) * 1000)
            let killedAt = MonotonicClock.nanoseconds()
            shared.state.withLock { $0.killedAt = killedAt }
            var failure: String?
            do {
                try cluster.killNode(target.index)
                let deadAt = MonotonicClock.nanoseconds()
                shared.state.withLock { $0.deadAt = deadAt }
                try cluster.failOver(afterKilling: target.index)
            } catch {
                failure = "\(error)"
            }
            let deadline = killedAt &+ NodeKillSweep.failoverTimeoutNanos
            let served = shared.state.withLock(until: { s in s.firstAckAfterKill != 0 && s.firstReadAfterKill != 0 },
                                               deadline: deadline) { _, ok in ok }
            // Some more writes (and their read-backs) on the cluster that failed over.
            usleep(50_000)
            shared.state.withLock { $0.stop = true }
            for t in threads { t.join() }
            threads = []
            let s = shared.state.withLock { $0 }
            record.opsAcknowledged = s.acknowledged
            record.opsSynced = s.acknowledged
            if s.firstAckAfterKill != 0 { record.unavailableWriteMs = Double(s.firstAckAfterKill &- killedAt) / 1e6 }
            if s.firstReadAfterKill != 0 { record.unavailableReadMs = Double(s.firstReadAfterKill &- killedAt) / 1e6 }
            var detail = ["killed=\(target.name)", "role=\(role)", "writers=\(writers)", "failed_calls=\(s.failedCalls)",
                          "reads_checked=\(s.readsChecked)", "in_flight=\(s.oracle.inFlight.count)"]
            if s.failedBeforeKill > 0 { detail.append("failed_before_kill=\(s.failedBeforeKill)") }
            if let failure {
                record.verdict = .broken
                record.detail = "failover failed: \(failure)"
                return record
            }
            guard served else {
                record.verdict = .broken
                record.detail = (["failover failed: no acknowledged write and successful read within \(NodeKillSweep.failoverTimeoutNanos / 1_000_000_000) s of the kill"] + detail).joined(separator: "; ")
                return record
            }
            // The oracle, on the cluster that failed over (before the killed node is back).
            let began = MonotonicClock.nanoseconds()
            let verified = try retrying(cluster) { try KillSweep.VerifyByScanBody(plan: plan, start: began).run(engine) }
            let v = shared.state.withLock { $0.oracle.verifyAndAdopt(verified.states) }
            record.lostSynced = v.lostSynced
            record.lostUnsynced = v.lostUnsynced
            record.resurrected = v.resurrected
            record.opsRecovered = s.acknowledged - v.lostOps + v.inFlightRecovered
            record.recoveryMs = verified.recoveryMs
            detail.append("in_flight_recovered=\(v.inFlightRecovered)")
            if s.stale > 0 { detail.append("stale_reads=\(s.stale)") }
            if v.wrong > 0 { detail.append("wrong=\(v.wrong)") }
            if v.tornBatches > 0 { detail.append("torn_batches=\(v.tornBatches)") }
            if verified.extraKeys != 0 { detail.append("keys_outside_the_key_space=\(verified.extraKeys)") }
            detail += v.problems + s.problems
            let broken = !v.isClean || s.stale > 0 || verified.extraKeys != 0
            // The killed node back, rejoined, before the next cycle.
            let restart = MonotonicClock.nanoseconds()
            do {
                try cluster.restartNode(target.index)
                detail.append("rejoin_ms=\(formatDouble(Double(MonotonicClock.nanoseconds() &- restart) / 1e6, decimals: 1))")
                if let before = retriesBefore, let after = clientRetries(engine) { detail.append("client_retries=\(Int(after - before))") }
            } catch {
                record.verdict = .broken
                record.detail = (["failover failed: \(target.name) did not rejoin: \(error)"] + detail).joined(separator: "; ")
                return record
            }
            record.storeBytes = DirectoryBytes.of(store)
            record.verdict = broken ? .broken : .ok
            record.detail = detail.joined(separator: "; ")
            return record
        }

        /// The requests the engine's client retried by itself so far (the sum of its stats' `*_retries`
        /// figures: s3's retries of 500/503/SlowDown), nil when it counts none. A cycle reports the
        /// difference (`client_retries`): calls that failed over to a retry instead of failing.
        func clientRetries<E: StorageEngine>(_ engine: E) -> Double? {
            guard let s = try? engine.stats() else { return nil }
            let retries = s.extra.filter { $0.name.hasSuffix("_retries") }
            return retries.isEmpty ? nil : retries.reduce(0) { $0 + $1.value }
        }

        /// `body` on the calling thread, its connection dropped and the call tried again after a
        /// failure (the connection may be to the killed node), for at most the failover timeout.
        func retrying<R>(_ cluster: any ClusterBackedEngine, _ body: () throws -> R) throws -> R {
            let deadline = MonotonicClock.nanoseconds() &+ NodeKillSweep.failoverTimeoutNanos
            while true {
                do { return try body() } catch {
                    if MonotonicClock.nanoseconds() >= deadline { throw error }
                    cluster.reconnectCallingThread()
                    usleep(5_000)
                }
            }
        }

        /// Writer `w`: ops on its own records (`r % writers == w`) until `stop`; a failed call leaves
        /// its op in flight, drops the connection and goes on with the next op. After each
        /// acknowledged single op, the key is read back (read-your-writes).
        func write<E: StorageEngine>(_ engine: E, cluster: any ClusterBackedEngine, shared: Shared, writer w: Int, seed: UInt64) {
            var rng = SeededRNG(seed: seed, stream: w)
            let owned = (plan.recordCount - w + writers - 1) / writers
            var local = plan
            local.recordCount = owned
            local.batchSize = min(plan.batchSize, owned)
            let apply = KillWorker.Body(plan: plan, firstOp: 0, seed: seed)
            // After a failed call the writer waits 2 ms, doubling with each failure in a row up to
            // `maxBackoffMicros`: a 5 s outage leaves hundreds of failed ops in flight, not
            // thousands, and the measured unavailability is late by at most one wait.
            var backoff: UInt32 = 2_000
            while true {
                let next: (KillOp, UInt64)? = shared.state.withLock { s in
                    guard !s.stop else { return nil }
                    var op = KillOp.generate(index: s.nextOp, plan: local, rng: &rng)
                    for i in op.entries.indices { op.entries[i].record = op.entries[i].record * writers + w }
                    s.nextOp += 1
                    s.oracle.begin(op)
                    return (op, MonotonicClock.nanoseconds())
                }
                guard let (op, begun) = next else { return }
                do {
                    try apply.apply(op, engine)
                } catch {
                    shared.state.withLock { s in
                        s.failedCalls += 1
                        if s.killedAt == 0 {
                            s.failedBeforeKill += 1
                            if s.problems.count < 3 { s.problems.append("writer \(w), op \(op.index) failed before the kill: \(error)") }
                        }
                    }
                    cluster.reconnectCallingThread()
                    usleep(backoff)
                    backoff = min(backoff * 2, NodeKillSweep.maxBackoffMicros)
                    continue
                }
                backoff = 2_000
                let now = MonotonicClock.nanoseconds()
                shared.state.withLock { s in
                    if s.oracle.acknowledge(op.index, synced: true, at: now) { s.acknowledged += 1 }
                    if s.deadAt != 0, begun > s.deadAt, s.firstAckAfterKill == 0 { s.firstAckAfterKill = now }
                }
                shared.state.broadcast()
                guard !op.isBatch, let e = op.entries.first else { continue }
                // Read-your-writes: nobody else writes this record.
                let readBegun = MonotonicClock.nanoseconds()
                let key = KillOp.key(e.record, size: plan.keySize)
                let got: KillOracle.State?
                do {
                    got = try key.withUnsafeBytes { k in
                        try engine.get(k) { v in
                            guard let v else { return KillOracle.State.absent }
                            return KillOp.version(of: v, record: e.record, size: plan.valueSize).map { .value(version: $0) } ?? .foreign
                        }
                    }
                } catch {
                    shared.state.withLock { $0.failedCalls += 1 }
                    cluster.reconnectCallingThread()
                    continue
                }
                let want: KillOracle.State = e.put ? .value(version: op.index) : .absent
                let done = MonotonicClock.nanoseconds()
                shared.state.withLock { s in
                    s.readsChecked += 1
                    if s.deadAt != 0, readBegun > s.deadAt, s.firstReadAfterKill == 0 { s.firstReadAfterKill = done }
                    if got != want {
                        s.stale += 1
                        if s.problems.count < 5 { s.problems.append("stale read: record \(e.record) read \(got.map { "\($0)" } ?? "?") after its write \(want) was acknowledged") }
                    }
                }
                shared.state.broadcast()
            }
        }

        /// The reader: gets of random records until `stop`, timing the first success after the kill.
        func read<E: StorageEngine>(_ engine: E, cluster: any ClusterBackedEngine, shared: Shared, seed: UInt64) {
            var rng = SeededRNG(seed: seed, stream: 0x7265_6164)
            var backoff: UInt32 = 2_000  // as the writers'
            while !shared.state.withLock({ $0.stop }) {
                let r = Int(rng.next() % UInt64(plan.recordCount))
                let key = KillOp.key(r, size: plan.keySize)
                let begun = MonotonicClock.nanoseconds()
                do {
                    _ = try engine.get(key)
                } catch {
                    shared.state.withLock { $0.failedCalls += 1 }
                    cluster.reconnectCallingThread()
                    usleep(backoff)
                    backoff = min(backoff * 2, NodeKillSweep.maxBackoffMicros)
                    continue
                }
                backoff = 2_000
                let now = MonotonicClock.nanoseconds()
                let first = shared.state.withLock { s -> Bool in
                    guard s.deadAt != 0, begun > s.deadAt, s.firstReadAfterKill == 0 else { return false }
                    s.firstReadAfterKill = now
                    return true
                }
                if first { shared.state.broadcast() }
                usleep(1_000)
            }
        }
    }
}

public import OrbitCore
import Runner
#if canImport(Glibc)
import Glibc
#endif

/// Server crashes (`server-kill`): the harness is the client. Writer threads (`crash.server_writers`,
/// one connection each) put acknowledged writes, single puts and deletes and atomic batches, while
/// the harness SIGKILLs the managed server's whole process tree (`ServerBackedEngine.killServer`) at
/// a seeded number of acknowledged operations or a seeded time; then it restarts the server on the
/// same data directory (the engine opened again), times recovery (restart until the first read is
/// served), reads every key and checks it against the oracle. The next cycle writes on.
///
/// Each writer owns the records `r % writers == w`, so every record has one sequential history and
/// the oracle's "last acknowledged state" is defined. Under a mode whose promise keeps every
/// acknowledged write over a process crash (PostgreSQL every-write and group, Redis every-write,
/// group and none), a lost acknowledged write is a violation; under one that replies before the
/// server syncs its log (PostgreSQL none and periodic, Redis periodic) lost acknowledged writes are
/// counted, with the age of the oldest one at the kill, and reported: not a violation. Never allowed:
/// a value that was never written, a deleted key back when the delete was synced, a batch applied in
/// part (acknowledged or in flight; one all of whose entries were lost is "not applied"), keys
/// outside the key space.
public enum ServerKillSweep: CrashSweep {
    public static let method: CrashRecord.Method = .serverKill

    public static func supports(engine: String) -> Bool { Engines.capabilities(engine)?.contains(.server) ?? false }

    /// How long a cycle may write before the kill is forced (a kill point the writers never reach).
    static let writeTimeoutSeconds: UInt64 = 120

    public static func run(_ c: CrashSweepContext, onRecord: (CrashRecord) throws -> Void) throws {
        let setup = try ServerSweepSetup(c, needs: "a server kill needs a server backend",
                                         hint: "; the kill method crashes the embedded engines")
        let (plan, settings, writers, store) = (setup.plan, setup.settings, setup.writers, setup.store)
        let promise = Engines.durabilityPromise(c.engine, c.durability)
        // A kill of the server is a crash of the process that acknowledged: modes that promise at
        // least a process crash must lose nothing acknowledged.
        let gated = promise.survives == .processCrash || promise.survives == .powerLoss
        let shared = Shared(recordCount: plan.recordCount)
        var rng = SeededRNG(seed: c.seed, stream: 0x7372_766B)
        var pending: Kill?
        for cycle in 0...max(1, c.count) {
            let last = cycle == max(1, c.count)
            var kill: Kill?
            if !last {
                var byOps = plan.killAfterOps != nil
                if plan.killAfterOps != nil, plan.killAfterMs != nil { byOps = rng.next() & 1 == 0 }
                let target = byOps ? Int.random(in: plan.killAfterOps!, using: &rng) : Int.random(in: plan.killAfterMs!, using: &rng)
                kill = Kill(cycle: cycle + 1, byOps: byOps, target: target, seed: c.seed &+ UInt64(cycle + 1) &* 0x9E37_79B9_7F4A_7C15)
            }
            let body = CycleBody(plan: plan, writers: writers, verify: pending, kill: kill, shared: shared, start: MonotonicClock.nanoseconds())
            let outcome = body.outcome
            do {
                _ = try Engines.withEngine(c.engine, directory: store, settings: settings, body)
            } catch {
                // After a kill the close finds the server dead (the sync of a lossy mode fails): expected.
                if !(outcome.finished && kill != nil) { outcome.error = outcome.error ?? "\(error)" }
            }
            if let p = pending {
                var record = CrashRecord(cycle: p.cycle, engine: c.engine, durability: c.durability.description, method: .serverKill,
                                         crashPointOrTime: p.point, opsAcknowledged: p.acknowledged, opsSynced: p.synced,
                                         opsRecovered: 0, lostSynced: 0, lostUnsynced: 0, resurrected: 0,
                                         recoveryMs: outcome.recoveryMs, verdict: .ok, storeBytes: DirectoryBytes.of(store))
                guard let v = outcome.verification else {
                    record.verdict = .broken
                    record.detail = "restart failed: " + (outcome.error ?? "no verification")
                    try onRecord(record)
                    return  // nothing to continue on
                }
                record.lostSynced = v.lostSynced
                record.lostUnsynced = v.lostUnsynced
                record.resurrected = v.resurrected
                record.opsRecovered = p.acknowledged - v.lostOps + v.inFlightRecovered
                let broken = v.lostSynced > 0 || v.resurrected > 0 || v.wrong > 0 || v.tornBatches > 0 || v.tornAcknowledgedBatches > 0
                    || outcome.extraKeys != 0 || (gated && v.lostUnsynced > 0)
                record.verdict = broken ? .broken : .ok
                var detail = ["writers=\(writers)", "in_flight=\(p.inFlight)", "in_flight_recovered=\(v.inFlightRecovered)",
                              "lost_acked_ops=\(v.lostOps)", "lost_batches=\(v.lostBatches)"]
                if let oldest = v.oldestLostAckedAt {
                    detail.append("oldest_lost_age_ms=\(formatDouble(Double(p.killedAt &- min(oldest, p.killedAt)) / 1e6, decimals: 3))")
                }
                if v.wrong > 0 { detail.append("wrong=\(v.wrong)") }
                if v.tornBatches > 0 { detail.append("torn_batches=\(v.tornBatches)") }
                if v.tornAcknowledgedBatches > 0 { detail.append("torn_acknowledged_batches=\(v.tornAcknowledgedBatches)") }
                if outcome.extraKeys != 0 { detail.append("keys_outside_the_key_space=\(outcome.extraKeys)") }
                detail += v.problems
                record.detail = detail.joined(separator: "; ")
                try onRecord(record)
            } else if let error = outcome.error, !outcome.finished || kill == nil {
                throw OrbitError(.engine, "the \(c.engine) server kill sweep could not start its first cycle", at: store,
                                 hint: "see \(store)/server.log", cause: .library(error))
            }
            guard var k = kill else { break }
            if let error = outcome.writeError {
                // A write failed before the kill (the server refused or broke on its own): not a crash result.
                let record = CrashRecord(cycle: k.cycle, engine: c.engine, durability: c.durability.description, method: .serverKill,
                                         crashPointOrTime: k.point, opsAcknowledged: 0, opsSynced: 0, opsRecovered: 0, lostSynced: 0,
                                         lostUnsynced: 0, resurrected: 0, recoveryMs: 0, verdict: .broken, storeBytes: DirectoryBytes.of(store),
                                         detail: "a write failed before the kill: \(error)")
                try onRecord(record)
                return
            }
            guard outcome.killed else {
                throw OrbitError(.engine, "the \(c.engine) server could not be killed (\(outcome.error ?? "no managed server"))",
                                 at: store, hint: "a server kill needs a managed server (not one reached by URL)")
            }
            k.acknowledged = outcome.acknowledged
            k.synced = outcome.synced
            k.inFlight = outcome.inFlight
            k.killedAt = outcome.killedAt
            pending = k
        }
    }

    /// One kill: its cycle, its point, and what the writers did before it.
    struct Kill {
        var cycle: Int
        var byOps: Bool
        var target: Int
        var seed: UInt64
        var acknowledged = 0
        var synced = 0
        var inFlight = 0
        var killedAt: UInt64 = 0
        var point: String { byOps ? "op=\(target)" : "t=\(target)ms" }

        init(cycle: Int, byOps: Bool, target: Int, seed: UInt64) {
            self.cycle = cycle
            self.byOps = byOps
            self.target = target
            self.seed = seed
        }
    }

    /// The oracle and the op counter, shared by the writer threads and kept over the cycles.
    final class Shared: @unchecked Sendable {
        struct State {
            var oracle: KillOracle
            var nextOp = 0
            var acknowledged = 0
            var synced = 0
            var stop = false
            /// Set just before the kill: a write that fails from here on was in flight, not a failure.
            var killing = false
            var writeError: String?
            var running = 0
        }
        let state: Lock<State>
        init(recordCount: Int) { state = Lock(State(oracle: KillOracle(recordCount: recordCount))) }
    }

    /// What one open of the engine did (filled in by the body, read after the engine closed).
    final class Outcome: @unchecked Sendable {
        var finished = false
        var error: String?
        var recoveryMs = 0.0
        var verification: KillOracle.Verification?
        var extraKeys = 0
        var killed = false
        var killedAt: UInt64 = 0
        var acknowledged = 0
        var synced = 0
        var inFlight = 0
        var writeError: String?
    }

    struct CycleBody: EngineBody {
        let plan: CrashPlan
        let writers: Int
        let verify: Kill?
        let kill: Kill?
        let shared: Shared
        /// When the open began: the restart.
        let start: UInt64
        let outcome = Outcome()

        func run<E: StorageEngine>(_ engine: E) throws -> Bool {
            if verify != nil {
                let v = try KillSweep.VerifyBody(plan: plan, start: start, cache: nil).run(engine)
                outcome.recoveryMs = v.recoveryMs
                outcome.extraKeys = v.extraKeys
                outcome.verification = shared.state.withLock { $0.oracle.verifyAndAdopt(v.states, acknowledgedMayBeLost: true) }
            }
            guard let kill else {
                outcome.finished = true
                return true
            }
            guard let server = (engine as AnyObject) as? any ServerBackedEngine else {
                throw OrbitError(.unsupported, "the engine is not a server client")
            }
            try writeAndKill(engine, server: server, kill: kill)
            outcome.finished = true
            return true
        }

        func writeAndKill<E: StorageEngine>(_ engine: E, server: any ServerBackedEngine, kill: Kill) throws {
            shared.state.withLock { s in
                s.acknowledged = 0
                s.synced = 0
                s.stop = false
                s.killing = false
                s.writeError = nil
                s.running = writers
            }
            let synced = engine.durability.syncsBeforeAck
            var threads: [OrbitThread] = []
            defer { for t in threads { t.join() } }
            for w in 0..<writers {
                threads.append(try OrbitThread(name: "orbit-server-writer-\(w)") {
                    write(engine, writer: w, seed: kill.seed, synced: synced)
                })
            }
            let began = MonotonicClock.nanoseconds()
            let deadline = kill.byOps ? began &+ ServerKillSweep.writeTimeoutSeconds * 1_000_000_000
                : began &+ UInt64(kill.target) * 1_000_000
            shared.state.withLock(until: { s in
                s.writeError != nil || s.running == 0 || (kill.byOps && s.acknowledged >= kill.target)
            }, deadline: deadline) { _, _ in }
            if let error = shared.state.withLock({ $0.writeError }) {
                shared.state.withLock { $0.stop = true }
                outcome.writeError = error
                return
            }
            // The crash: the server's whole tree stopped, then killed; the writers' next replies fail.
            shared.state.withLock { $0.killing = true }
            outcome.killedAt = MonotonicClock.nanoseconds()
            do {
                outcome.killed = try server.killServer()
            } catch {
                outcome.error = "\(error)"
            }
            shared.state.withLock { $0.stop = true }
            for t in threads { t.join() }
            threads = []
            shared.state.withLock { s in
                outcome.acknowledged = s.acknowledged
                outcome.synced = s.synced
                outcome.inFlight = s.oracle.inFlight.count
            }
        }

        /// Writer `w`: ops on its own records until the kill makes a write fail (or `stop`).
        func write<E: StorageEngine>(_ engine: E, writer w: Int, seed: UInt64, synced: Bool) {
            var rng = SeededRNG(seed: seed, stream: w)
            let owned = (plan.recordCount - w + writers - 1) / writers
            var local = plan
            local.recordCount = owned
            local.batchSize = min(plan.batchSize, owned)
            let apply = KillWorker.Body(plan: plan, firstOp: 0, seed: seed)
            defer { shared.state.withLock { $0.running -= 1 }; shared.state.broadcast() }
            while true {
                let op: KillOp? = shared.state.withLock { s in
                    guard !s.stop else { return nil }
                    var op = KillOp.generate(index: s.nextOp, plan: local, rng: &rng)
                    for i in op.entries.indices { op.entries[i].record = op.entries[i].record * writers + w }
                    s.nextOp += 1
                    s.oracle.begin(op)
                    return op
                }
                guard let op else { return }
                do {
                    try apply.apply(op, engine)
                } catch {
                    // Once the server is killed every write fails: the op stays in flight. Before, it is a failure.
                    shared.state.withLock { s in
                        if !s.killing { s.writeError = "writer \(w), op \(op.index): \(error)" }
                    }
                    return
                }
                let now = MonotonicClock.nanoseconds()
                shared.state.withLock { s in
                    if s.oracle.acknowledge(op.index, synced: synced, at: now) {
                        s.acknowledged += 1
                        if synced { s.synced += 1 }
                    }
                }
                shared.state.broadcast()
            }
        }
    }
}

import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import ServerSupport
import Testing
@testable import CrashLab

/// The server kill sweep (`server-kill`, issue 17): managed servers on loopback at free ports, their
/// whole process tree SIGKILLed while the harness writes, restarted on the same data directory and
/// checked against the oracle; the crash itself (no process of the tree left); the oracle's rules for
/// modes that may lose acknowledged writes. A server that cannot start fails the test.
@Suite("Server kill sweep", .serialized)
struct ServerKillSweepTests {
    // The sweep writes atomic batches too: a server without them (s3) is refused by it.
    static let servers = Engines.names(with: [.server, .atomicBatches])
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func settings(_ backend: String, _ sets: [String]) throws -> Settings {
        var c = Configuration()
        try c.applyWorkloadFile(path: repository + "/workloads/crash-recovery.yaml")
        try c.applyFlags(sets: sets, backends: [backend], dataDir: nil)
        return c.settings
    }

    /// 10 kills per server backend under every-write: every acknowledged write back, nothing torn.
    @Test(arguments: servers) func everyWriteSweepLosesNothing(_ backend: String) throws {
        let seed = TestSeed.pick("ServerKillSweepTests.everyWriteSweepLosesNothing.\(backend)", default: 0x5E4E)
        try withTemporaryDirectory(prefix: "orbit-server-kill-\(backend)") { dir in
            let s = try Self.settings(backend, ["durability=every-write", "kill_after_ops.max=40", "crash.server_writers=2"])
            let c = CrashSweepContext(engine: backend, durability: .everyWrite, settings: s, seed: seed, count: 10,
                                      workDirectory: dir, recordCount: 200, valueSize: 100)
            var records: [CrashRecord] = []
            try ServerKillSweep.run(c) { records.append($0) }
            #expect(records.count == 10, "seed \(seed)")
            for r in records {
                print("server-kill \(backend) cycle \(r.cycle) \(r.crashPointOrTime): \(r.verdict) acked \(r.opsAcknowledged) "
                      + "recovery \(r.recoveryMs) ms; \(r.detail)")
                #expect(r.verdict == .ok, "seed \(seed) cycle \(r.cycle): \(r.detail)")
                #expect(r.lostSynced == 0 && r.lostUnsynced == 0 && r.resurrected == 0)
                #expect(r.opsAcknowledged == r.opsSynced, "every-write: every ack is synced")
                #expect(r.recoveryMs > 0)
            }
            #expect(records.map(\.opsAcknowledged).reduce(0, +) > 0)
        }
    }

    /// `crash()` leaves no process of the server's tree (PostgreSQL: postmaster, auxiliary processes
    /// and a backend per connection), a second crash finds nothing to kill, and the server restarts
    /// on the same data directory with the acknowledged write there.
    @Test(arguments: servers) func crashedServerTreeIsGone(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-server-crash-\(backend)") { dir in
            let s = try Self.settings(backend, ["durability=every-write"])
            let store = dir + "/store"
            let tree = try Engines.withEngine(backend, directory: store, settings: s, CrashBody(store: store))
            #expect(tree.killedFirst && !tree.killedAgain)
            #expect(!tree.before.isEmpty)
            let left = tree.before.filter { !ProcessTable.isGone($0) }
            #expect(left.isEmpty, "still there after the crash: \(left.map(\.pid))")
            let value = try Engines.withEngine(backend, directory: store, settings: s, ReadBack())
            #expect(value == Array("survivor".utf8))
        }
    }

    struct CrashBody: EngineBody {
        struct Result {
            var before: [ProcessTable.Entry]
            var killedFirst: Bool
            var killedAgain: Bool
        }
        let store: String

        func run<E: StorageEngine>(_ engine: E) throws -> Result {
            try engine.put(Array("k".utf8), Array("survivor".utf8))
            // Four more connections (PostgreSQL: four more backend processes), each from its own thread.
            try runOnThreads(4) { _ in _ = try? engine.get(Array("k".utf8)) }
            let root = try #require(Self.serverPID(store))
            let table = ProcessTable.read()
            let me = try #require(table.entries.first { $0.pid == root })
            let before = [me] + table.descendants(of: root)
            guard let server = (engine as AnyObject) as? any ServerBackedEngine else { throw OrbitError(.unsupported, "not a server engine") }
            let first = try server.killServer()
            let again = try server.killServer()
            var failed = false
            do { _ = try engine.get(Array("k".utf8)) } catch { failed = true }
            #expect(failed, "a read after the crash must fail")
            return Result(before: before, killedFirst: first, killedAgain: again)
        }

        /// The pid the managed server wrote into its data directory (postmaster.pid's or redis.pid's first line; etcd's server.pid).
        static func serverPID(_ store: String) -> pid_t? {
            // etcd writes no pid file: orbit-bench writes server.pid beside the member's directory.
            for file in ["server/postmaster.pid", "server/redis.pid", "server.pid"] {
                if let text = try? String(contentsOfFile: store + "/" + file, encoding: .utf8),
                   let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)) {
                    return pid
                }
            }
            return nil
        }
    }

    struct ReadBack: EngineBody {
        func run<E: StorageEngine>(_ engine: E) throws -> [UInt8]? {
            try engine.get(Array("k".utf8))
        }
    }

    /// Refused before anything runs: server-kill on an embedded engine, kill on a server backend
    /// (pointing at server-kill); server-kill on a server backend passes the checks.
    @Test func theMethodsAreRefusedOffTheirEngines() throws {
        func experiment(_ method: String, _ backend: String) throws -> CrashExperiment {
            var c = Configuration()
            try c.applyWorkloadFile(path: Self.repository + "/workloads/crash-recovery.yaml")
            try c.applyFlags(sets: ["crash_methods=\(method)"], backends: [backend], dataDir: nil)
            return CrashExperiment(configuration: c)
        }
        let embedded = try #require(Engines.names(with: .durable, without: .server).first)
        let e = try #require(throws: OrbitError.self) { try experiment("server-kill", embedded).prepare() }
        #expect(e.code == .invalidConfig && e.description.contains(embedded), "\(e)")
        for server in Self.servers {
            let k = try #require(throws: OrbitError.self) { try experiment("kill", server).prepare() }
            #expect(k.description.contains("--method server-kill"), "\(k)")
            #expect(throws: Never.self) { _ = try experiment("server-kill", server).prepare() }
        }
    }

    // MARK: - The oracle under a mode that may lose acknowledged writes

    typealias S = KillOracle.State

    static func batch(_ i: Int, _ records: [Int]) -> KillOp {
        KillOp(index: i, entries: records.map { .init(record: $0, put: true) }, isBatch: true)
    }

    static func acked(_ ops: [KillOp], synced: Bool, recordCount: Int = 4) -> KillOracle {
        var o = KillOracle(recordCount: recordCount)
        for (n, op) in ops.enumerated() {
            o.begin(op)
            _ = o.acknowledge(op.index, synced: synced, at: UInt64(1_000 + n))
        }
        return o
    }

    @Test func aBatchLostWholeIsNotAppliedNotTorn() {
        var o = Self.acked([Self.batch(0, [0, 1]), Self.batch(1, [2, 3])], synced: false)
        // The second batch lost entirely (a suffix of the log gone), the first kept.
        let v = o.verifyAndAdopt([.value(version: 0), .value(version: 0), .absent, .absent], acknowledgedMayBeLost: true)
        #expect(v.tornAcknowledgedBatches == 0 && v.tornBatches == 0, "\(v.problems)")
        #expect(v.lostBatches == 1 && v.lostUnsynced == 2 && v.lostOps == 1)
        #expect(v.oldestLostAckedAt == 1_001)
    }

    /// Two acknowledged writes of one record lost: the oldest lost write is the first of them.
    @Test func theOldestLostWriteIsTheFirstAfterTheRecoveredState() {
        let ops = [0, 1, 2].map { KillOp(index: $0, entries: [.init(record: 0, put: true)], isBatch: false) }
        var o = Self.acked(ops, synced: false, recordCount: 1)
        let v = o.verifyAndAdopt([.value(version: 0)], acknowledgedMayBeLost: true)
        #expect(v.lostUnsynced == 1 && v.lostOps == 2 && v.oldestLostAckedAt == 1_001, "\(v)")
    }

    @Test func anAcknowledgedBatchAppliedInPartIsTorn() {
        var o = Self.acked([Self.batch(0, [0, 1, 2])], synced: false)
        let v = o.verifyAndAdopt([.value(version: 0), .absent, .value(version: 0), .absent], acknowledgedMayBeLost: true)
        #expect(v.tornAcknowledgedBatches == 1, "\(v.problems)")
        #expect(!v.isClean)
    }

    @Test func aLaterWriteOverABatchSaysNothingAboutIt() {
        let put = KillOp(index: 1, entries: [.init(record: 1, put: true)], isBatch: false)
        let delete = KillOp(index: 2, entries: [.init(record: 0, put: false)], isBatch: false)
        var o = Self.acked([Self.batch(0, [0, 1]), put, delete], synced: false)
        let v = o.verifyAndAdopt([.absent, .value(version: 1), .absent, .absent], acknowledgedMayBeLost: true)
        #expect(v.isClean && v.lostBatches == 0, "\(v.problems)")
    }

    /// An in-flight batch deleting a record whose acknowledged (unsynced) put was lost: the record is
    /// absent, as the batch would leave it, but the batch did not apply. Not torn (the loss is counted);
    /// a put of the batch recovered beside a put of it missing still is.
    @Test func anAbsentRecordIsNoEvidenceThatAnInFlightDeleteApplied() {
        let put = KillOp(index: 0, entries: [.init(record: 0, put: true)], isBatch: false)
        let flying = KillOp(index: 1, entries: [.init(record: 0, put: false), .init(record: 1, put: true)], isBatch: true)
        var o = KillOracle(recordCount: 2)
        o.begin(put)
        _ = o.acknowledge(0, synced: false, at: 5)
        o.begin(flying)
        let v = o.verifyAndAdopt([.absent, .absent], acknowledgedMayBeLost: true)
        #expect(v.tornBatches == 0, "\(v.problems)")
        let torn = KillOp(index: 1, entries: [.init(record: 0, put: true), .init(record: 1, put: true)], isBatch: true)
        var q = KillOracle(recordCount: 2)
        q.begin(torn)
        #expect(q.verifyAndAdopt([.value(version: 1), .absent], acknowledgedMayBeLost: true).tornBatches == 1)
    }

    @Test func aLostUnsyncedDeleteIsALossNotAResurrection() {
        let put = KillOp(index: 0, entries: [.init(record: 0, put: true)], isBatch: false)
        let delete = KillOp(index: 1, entries: [.init(record: 0, put: false)], isBatch: false)
        var o = KillOracle(recordCount: 1)
        o.begin(put)
        _ = o.acknowledge(0, synced: true, at: 10)
        o.begin(delete)
        _ = o.acknowledge(1, synced: false, at: 20)
        var p = o
        let lossy = o.verifyAndAdopt([.value(version: 0)], acknowledgedMayBeLost: true)
        #expect(lossy.resurrected == 0 && lossy.lostUnsynced == 1 && lossy.oldestLostAckedAt == 20)
        // Without the option (a process kill of an embedded engine) it stays a resurrection.
        let strict = p.verifyAndAdopt([.value(version: 0)])
        #expect(strict.resurrected == 1)
    }
}

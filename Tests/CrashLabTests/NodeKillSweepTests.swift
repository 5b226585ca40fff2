import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Testing
@testable import CrashLab

/// Failovers (`node-kill`, issue 18): a 3-member etcd cluster on loopback (its leader and then a
/// follower SIGKILLed), a PostgreSQL primary with a synchronous standby (the primary killed and
/// the standby promoted, then the standby killed) and a SeaweedFS cluster behind s3 (one of its
/// three volume servers, replication 001, killed and restarted), while two writers and a reader use it; every
/// acknowledged write there after the failover, read-your-writes held, the unavailability
/// measured, the node back before the next cycle. A cluster of one node is refused naming the
/// setting that makes a cluster.
@Suite("Node kill sweep", .serialized)
struct NodeKillSweepTests {
    /// The server backends with a managed replicated form, the setting that makes it, and the roles
    /// `node-kill` kills in turn (every `ClusterBackedEngine` backend must be listed here).
    /// `extra`: what the sweep needs on that backend besides (s3 has no atomic batches); `single`:
    /// the settings of its one-node form (s3's default is already a cluster of three volume servers).
    static let clusters: [String: (setting: String, roles: [String], extra: [String], single: [String])] = [
        "etcd": ("etcd.members=3", ["leader", "follower"], [], []),
        "postgres": ("postgres.standby=sync", ["primary", "standby"], [], []),
        "s3": ("s3.volume_servers=3", ["volume"], ["crash.batch_fraction=0"], ["s3.volume_servers=1", "s3.replication=000", "crash.batch_fraction=0"]),
    ]
    static let clustered: [String] = Engines.names(with: .server).filter { clusters[$0] != nil }

    static func settings(_ backend: String, _ sets: [String]) throws -> Settings {
        var c = Configuration()
        try c.applyWorkloadFile(path: ServerKillSweepTests.repository + "/workloads/crash-recovery.yaml")
        try c.applyFlags(sets: sets, backends: [backend], dataDir: nil)
        return c.settings
    }

    @Test(arguments: clustered) func fourFailoversLoseNothing(_ backend: String) throws {
        let seed = TestSeed.pick("NodeKillSweepTests.fourFailoversLoseNothing.\(backend)", default: 0x4E0D)
        try withTemporaryDirectory(prefix: "orbit-node-kill-\(backend)") { dir in
            let cluster = try #require(Self.clusters[backend])
            let s = try Self.settings(backend, ["durability=every-write", cluster.setting, "crash.server_writers=2",
                                                "kill_after_ms.min=50", "kill_after_ms.max=150"] + cluster.extra)
            let c = CrashSweepContext(engine: backend, durability: .everyWrite, settings: s, seed: seed, count: 4,
                                      workDirectory: dir, recordCount: 100, valueSize: 100)
            var records: [CrashRecord] = []
            try NodeKillSweep.run(c) { records.append($0) }
            #expect(records.count == 4, "seed \(seed)")
            for r in records {
                print("node-kill \(backend) cycle \(r.cycle) \(r.crashPointOrTime): \(r.verdict) acked \(r.opsAcknowledged) "
                      + "unavailable write \(r.unavailableWriteMs ?? -1) ms read \(r.unavailableReadMs ?? -1) ms; \(r.detail)")
                #expect(r.verdict == .ok, "seed \(seed) cycle \(r.cycle): \(r.detail)")
                #expect(r.lostSynced == 0 && r.lostUnsynced == 0 && r.resurrected == 0)
                #expect(r.unavailableWriteMs != nil && r.unavailableReadMs != nil)
                #expect(r.detail.contains("rejoin_ms="))
            }
            for role in cluster.roles { #expect(records.map(\.crashPointOrTime).contains { $0.hasSuffix(role) }, "\(role) killed") }
        }
    }

    @Test(arguments: clustered) func oneNodeIsRefused(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-node-kill-one-\(backend)") { dir in
            let cluster = try #require(Self.clusters[backend])
            let s = try Self.settings(backend, ["durability=every-write"] + cluster.single)
            let c = CrashSweepContext(engine: backend, durability: .everyWrite, settings: s, seed: 1, count: 1,
                                      workDirectory: dir, recordCount: 10, valueSize: 100)
            let e = try #require(throws: OrbitError.self) { try NodeKillSweep.run(c) { _ in } }
            #expect(e.code == .invalidConfig && e.description.contains(cluster.setting), "\(e)")
        }
    }

    /// A backend without atomic batches (s3) is refused while the writers would send some, before
    /// anything starts, naming the knob.
    @Test func batchesOnABackendWithoutThemAreRefused() throws {
        for backend in Self.clustered where !(Engines.capabilities(backend)?.contains(.atomicBatches) ?? true) {
            try withTemporaryDirectory(prefix: "orbit-node-kill-batches-\(backend)") { dir in
                let s = try Self.settings(backend, ["durability=every-write", "crash.batch_fraction=0.1"])
                let c = CrashSweepContext(engine: backend, durability: .everyWrite, settings: s, seed: 1, count: 1,
                                          workDirectory: dir, recordCount: 10, valueSize: 100)
                let e = try #require(throws: OrbitError.self) { try NodeKillSweep.run(c) { _ in } }
                #expect(e.code == .invalidConfig && e.description.contains("crash.batch_fraction=0"), "\(e)")
                #expect(!FileManager.default.fileExists(atPath: dir + "/store"), "a store was made before the refusal")
            }
        }
    }

    /// The summary's unavailability: nearest-rank p50 and p99, the max, violations counted, per engine.
    @Test func unavailabilityPercentilesAreNearestRank() {
        let records = (1...10).map { i -> CrashRecord in
            var r = CrashRecord(cycle: i, engine: "e", durability: "every-write", method: .nodeKill, crashPointOrTime: "t=1ms leader",
                                opsAcknowledged: 1, opsSynced: 1, opsRecovered: 1, lostSynced: 0, lostUnsynced: 0, resurrected: 0,
                                recoveryMs: 1, verdict: i == 3 ? .broken : .ok, storeBytes: 0)
            r.unavailableWriteMs = Double(i * 10)
            r.unavailableReadMs = Double(i)
            return r
        }
        let u = CrashExperiment.unavailability(records)
        #expect(u.count == 1)
        #expect(u[0].cycles == 10 && u[0].violations == 1)
        #expect(u[0].write.p50 == 50 && u[0].write.p99 == 100 && u[0].write.max == 100)
        #expect(u[0].read.p50 == 5 && u[0].read.max == 10)
        #expect(CrashExperiment.nodeKillLines(records).contains("10 kills, 1 violations"))
        #expect(CrashRecord.csvColumns.suffix(2) == ["unavailable_write_ms", "unavailable_read_ms"])
    }
}

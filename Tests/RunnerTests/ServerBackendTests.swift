import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// The server backends (issue 17) through the `orbit-bench` executable and the registry: no
/// orphan server when the harness is SIGKILLed, durability settings read back from an external
/// server, snapshots refused, stores recognised, YCSB A-F and a lease workload run unchanged.
/// Servers are managed on loopback at free ports; one that cannot start fails the test.
@Suite("Server backends", .serialized)
struct ServerBackendTests {
    static let servers = ["postgres", "redis", "etcd"]

    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try StoreSafetyCLITests.run(args)
    }

    /// The pid a managed server wrote into its directory (postmaster.pid / redis.pid), or orbit-bench
    /// beside it (etcd writes none: server.pid), once it is there.
    static func serverPID(_ backend: String, storeDir: String) -> pid_t? {
        let file = switch backend {
        case "postgres": storeDir + "/server/postmaster.pid"
        case "redis": storeDir + "/server/redis.pid"
        default: storeDir + "/server.pid"
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)) else { return nil }
        return pid
    }

    /// Whether `pid` is a live process (a zombie nobody reaped is not).
    static func alive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Children of `pid` now (PostgreSQL's backends and auxiliary processes).
    static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { p in
            guard let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid
        }
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    @Test(arguments: servers) func killedHarnessLeavesNoServer(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-orphan-\(backend)") { dir in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: StoreSafetyCLITests.executable)
            p.arguments = ["run", "workloads/write-heavy.yaml", "--backend", backend, "--data-dir", dir + "/data", "--out", dir + "/out",
                           "--set", "record_count=100", "--set", "operation_count=0", "--set", "duration_s=120", "--quiet"]
            p.currentDirectoryURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let store = dir + "/data/" + backend
            var server: pid_t = 0
            let up = Self.waitUntil(seconds: 120) {
                guard let pid = Self.serverPID(backend, storeDir: store), Self.alive(pid) else { return false }
                server = pid
                return true
            }
            guard up else {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                Issue.record("the \(backend) server did not come up under the harness (log: \(store)/server.log)")
                return
            }
            // Let the run get going (clients connected), then kill the harness outright.
            let helpers = Self.waitUntil(seconds: 30) { !Self.children(of: server).isEmpty || backend != "postgres" }
            #expect(helpers)
            let family = [server] + Self.children(of: server)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let gone = Self.waitUntil(seconds: 60) { family.allSatisfy { !Self.alive($0) } }
            #expect(gone, "still running after the harness was killed: \(family.filter(Self.alive))")
            print("[orphans] \(backend): harness SIGKILLed, \(family.count) server process(es) gone")
        }
    }

    /// A managed server started for every-write, then reached by URL under another mode: refused,
    /// naming the setting and its value; under the same mode it works.
    @Test(arguments: servers) func externalServerSettingsAreReadBack(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-external-\(backend)") { dir in
            var managed = Configuration()
            try managed.applyFlags(sets: ["durability=every-write"], backends: [backend], dataDir: dir + "/managed")
            try Engines.withEngine(backend, directory: dir + "/managed/" + backend, settings: managed.settings, access: .readWrite,
                                   ExternalProbe(backend: backend, dir: dir))
        }
    }

    struct ExternalProbe: EngineBody {
        let backend: String
        let dir: String
        func run<E: StorageEngine>(_ engine: E) throws {
            guard let s = (engine as AnyObject) as? any ServerBackedEngine else { Issue.record("not a server engine"); return }
            let endpoint = s.serverDescription.endpoint
            #expect(s.serverDescription.mode == "managed" && !s.serverDescription.version.isEmpty)
            let url = switch backend {
            case "postgres": "postgresql://orbit@\(endpoint)/postgres"
            case "redis": "redis://\(endpoint)"
            default: endpoint
            }
            let knob = backend == "etcd" ? "endpoints" : "url"
            var wrong = Configuration()
            try wrong.applyFlags(sets: ["durability=none", "\(backend).\(knob)=\(url)"], backends: [backend], dataDir: dir + "/external")
            if backend == "etcd" {
                // etcd cannot relax its WAL fsync: `none` runs, promised and labelled as every-write.
                #expect(E.durabilityPromise(for: .none).survives == .powerLoss)
                #expect(E.durabilityPromise(for: .none).note.contains("durability_effective every-write"))
                try Engines.withEngine(backend, directory: dir + "/external/" + backend, settings: wrong.settings, access: .readWrite, PutGet())
                #expect(try engine.get(Array("external".utf8)) == Array("written through the URL".utf8))
                return
            }
            do {
                try Engines.withEngine(backend, directory: dir + "/external/" + backend, settings: wrong.settings, access: .readWrite, Nothing())
                Issue.record("\(backend): durability none on a server configured for every-write was accepted")
            } catch let e as OrbitError {
                let setting = backend == "postgres" ? "synchronous_commit is 'on'" : "appendfsync is 'always'"
                #expect(e.code == .invalidConfig && e.message.contains(setting), "\(e)")
            }
            var right = Configuration()
            try right.applyFlags(sets: ["durability=every-write", "\(backend).\(knob)=\(url)"], backends: [backend], dataDir: dir + "/external")
            try Engines.withEngine(backend, directory: dir + "/external/" + backend, settings: right.settings, access: .readWrite, PutGet())
            #expect(try engine.get(Array("external".utf8)) == Array("written through the URL".utf8))
        }
    }

    /// `postgres.standby=sync-apply`: a managed primary and a streaming standby it waits for; a
    /// committed put is readable on the standby at once (remote_apply), summary.json's server block
    /// states the replication, the store reopens with its standby, and a store made with a standby
    /// opened without one (or the other way round) is refused naming the setting.
    @Test func postgresStandbyReplicatesSynchronously() throws {
        try withTemporaryDirectory(prefix: "orbit-pg-standby") { dir in
            func settings(_ sets: [String]) throws -> Settings {
                var c = Configuration()
                try c.applyFlags(sets: ["durability=every-write"] + sets, backends: ["postgres"], dataDir: dir)
                return c.settings
            }
            let store = dir + "/postgres"
            try Engines.withEngine("postgres", directory: store, settings: try settings(["postgres.standby=sync-apply"]), access: .readWrite,
                                   StandbyProbe())
            // Reopened with its standby: the data is there (and on the standby again).
            try Engines.withEngine("postgres", directory: store, settings: try settings(["postgres.standby=sync-apply"]), access: .readWrite,
                                   StandbyProbe(expectExisting: true))
            let e = try #require(throws: OrbitError.self) {
                try Engines.withEngine("postgres", directory: store, settings: try settings([]), access: .readWrite, Nothing())
            }
            #expect(e.code == .invalidConfig && e.description.contains("postgres.standby"), "\(e)")
            let plain = dir + "/plain"
            try Engines.withEngine("postgres", directory: plain, settings: try settings([]), access: .readWrite, Nothing())
            let e2 = try #require(throws: OrbitError.self) {
                try Engines.withEngine("postgres", directory: plain, settings: try settings(["postgres.standby=sync"]), access: .readWrite, Nothing())
            }
            #expect(e2.code == .invalidConfig && e2.description.contains("made without a standby"), "\(e2)")
            #expect(throws: OrbitError.self) { try Engines.validate("postgres", settings: try settings(["postgres.standby=async"])) }
        }
    }

    struct StandbyProbe: EngineBody {
        var expectExisting = false
        func run<E: StorageEngine>(_ engine: E) throws {
            guard let s = (engine as AnyObject) as? any ServerBackedEngine else { Issue.record("not a server engine"); return }
            let replication = try #require(s.serverDescription.settings.first { $0.name == "replication" }?.value)
            #expect(replication.contains("sync-apply") && replication.contains("synchronous_commit=remote_apply"), "\(replication)")
            #expect(s.serverDescription.settings.first { $0.name == "synchronous_standby_names" }?.value == "orbit_standby")
            // "streaming standby at 127.0.0.1:PORT, ..."
            let port = try #require(replication.split(separator: ",").first?.split(separator: ":").last.map(String.init))
            if expectExisting {
                #expect(try engine.get(Array("k-standby".utf8)) == Array("v1".utf8))
            }
            try engine.put(Array("k-standby".utf8), Array("v2".utf8))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            p.arguments = ["-h", "127.0.0.1", "-p", port, "-U", "orbit", "-d", "postgres", "-Atc",
                           "SELECT encode(value, 'escape') FROM orbit_kv WHERE key = 'k-standby'::bytea; SELECT pg_is_in_recovery()"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(text == "v2\nt\n", "the standby answered \(text.debugDescription)")
            try engine.put(Array("k-standby".utf8), Array("v1".utf8))
        }
    }

    struct Nothing: EngineBody { func run<E: StorageEngine>(_ engine: E) throws {} }
    struct PutGet: EngineBody {
        func run<E: StorageEngine>(_ engine: E) throws {
            try engine.put(Array("external".utf8), Array("written through the URL".utf8))
        }
    }

    @Test(arguments: servers) func snapshotsAreRefusedAndStoresRecognised(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-srv-cli-\(backend)") { dir in
            let r = try Self.run(["kv", "snapshot", "create", "s1", "--backend", backend, "--data-dir", dir])
            #expect(r.status == 2 && r.err.contains("has no snapshots"), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/" + backend), "a refused command created the store")
            // Another engine's store in <dir>/<backend> is refused, naming it.
            try StoreSafetyCLITests.makeStore(dir + "/other", "lsm")
            try FileManager.default.moveItem(atPath: dir + "/other/lsm", toPath: dir + "/" + backend)
            let foreign = try Self.run(["kv", "put", "--backend", backend, "--data-dir", dir, "k", "v"])
            #expect(foreign.status == 2 && foreign.err.contains("holds an lsm store"), "\(foreign.err)")
        }
    }

    /// YCSB's core workloads A-F, unchanged, on each server (small counts), then a lease workload.
    @Test(arguments: servers) func ycsbAndLeaseWorkloadsRun(_ backend: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        try withTemporaryDirectory(prefix: "orbit-srv-ycsb-\(backend)") { dir in
            for w in ["a", "b", "c", "d", "e", "f"] {
                let r = try Self.run(["run", root + "/workloads/ycsb/workload" + w, "-p", "recordcount=300", "-p", "operationcount=300",
                                      "-p", "threadcount=2", "--backend", backend, "--out", dir + "/out-" + w, "--quiet"])
                #expect(r.status == 0, "workload\(w) on \(backend): \(r.err)")
                let csv = (try? String(contentsOfFile: dir + "/out-" + w + "/summary.csv", encoding: .utf8)) ?? ""
                #expect(csv.contains("\n\(backend),"), "workload\(w): no \(backend) rows")
            }
            let r = try Self.run(["run", root + "/workloads/lease-churn.yaml", "--backend", backend, "--set", "record_count=300",
                                  "--set", "operation_count=600", "--set", "warmup_ops=0", "--set", "threads=2", "--out", dir + "/out-lease", "--quiet"])
            #expect(r.status == 0, "lease-churn on \(backend): \(r.err)")
            let summary = (try? String(contentsOfFile: dir + "/out-lease/summary.json", encoding: .utf8)) ?? ""
            #expect(summary.contains("\"server\""), "summary.json records the server")
        }
    }

    /// `load`, then `run --reuse` of a workload without a load phase: the run checks the store holds
    /// the records (a read-only probe where the engine can open its store read-only; s3's managed
    /// cluster cannot, and its run goes ahead unprobed) and reads every one of them.
    @Test(arguments: servers + ["s3"]) func runOnALoadedStoreWithoutALoadPhase(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-srv-reuse-\(backend)") { dir in
            let w = dir + "/read.yaml"
            try "name: reuse\nrecord_count: 200\noperation_count: 400\nkey_size: 16\nvalue_size: 100\nload: false\nmix: {read: 1}\n"
                .write(toFile: w, atomically: true, encoding: .utf8)
            let load = try Self.run(["load", w, "--backend", backend, "--data-dir", dir + "/data", "--fresh", "--quiet"])
            #expect(load.status == 0, "load on \(backend): \(load.err)")
            let run = try Self.run(["run", w, "--backend", backend, "--data-dir", dir + "/data", "--reuse", "--out", dir + "/out", "--quiet"])
            #expect(run.status == 0, "run --reuse on \(backend): \(run.err)")
            let csv = (try? String(contentsOfFile: dir + "/out/summary.csv", encoding: .utf8)) ?? ""
            let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            guard let header = lines.first, let phase = header.firstIndex(of: "phase"), let op = header.firstIndex(of: "operation"),
                  let count = header.firstIndex(of: "count"), let notFound = header.firstIndex(of: "not_found") else {
                Issue.record("summary.csv of \(backend) has no phase/operation/count/not_found columns: \(csv.prefix(300))")
                return
            }
            let gets = lines.dropFirst().filter { $0.count > max(phase, op, count, notFound) && $0[phase] == "run" && $0[op] == "get" }
            #expect(gets.count == 1, "\(backend): one run/get row: \(csv.prefix(600))")
            #expect(gets.first.map { $0[count] } == "400" && gets.first.map { $0[notFound] } == "0", "\(backend): \(gets)")
        }
    }
}

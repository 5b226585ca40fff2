import Foundation
import Histogram
import OrbitCore
import OrbitTestSupport
@testable import Runner
import Testing
import Workloads

/// Multi-host load (issue 18 item 5): `orbit-bench agent` and `run --agents`. The wire pieces and the
/// shares in-process; the whole path with three real `orbit-bench agent` processes, each in its own
/// network namespace, driving a redis-server this test starts and stops on a bridge address.
@Suite("Agents", .serialized)
struct AgentTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["ORBIT_TEST_SEED"].flatMap { UInt64($0) } ?? 18_005

    static func randomHistogram(_ rng: inout SeededRNG, count: Int) -> LatencyHistogram {
        var h = makeLatencyHistogram()
        for _ in 0..<count {
            // Latencies over many magnitudes: 1 ns to ~10 s, most around a few µs.
            let magnitude = UInt64(rng.next() % 34)
            h.record(1 + rng.next() % (UInt64(1) << magnitude))
        }
        return h
    }

    @Test func rawHistogramsRebuildEqualAndMergeExactly() throws {
        print("seed \(Self.seed)")
        var rng = SeededRNG(seed: Self.seed)
        var union = makeLatencyHistogram()
        var rebuiltUnion = makeLatencyHistogram()
        for agent in 0..<3 {
            let h = Self.randomHistogram(&rng, count: 5_000 + agent * 1_000)
            let wire = try JSONDecoder().decode(RawHistogram.self, from: JSONEncoder().encode(RawHistogram(h)))
            let rebuilt = try wire.histogram()
            #expect(rebuilt == h)
            #expect(rebuilt.min == h.min && rebuilt.maxRecorded == h.maxRecorded && rebuilt.totalCount == h.totalCount)
            union.add(h)
            rebuiltUnion.add(rebuilt)
        }
        #expect(union == rebuiltUnion)
        for p in [50.0, 75, 90, 99, 99.9, 99.99, 100] { #expect(union.valueAtPercentile(p) == rebuiltUnion.valueAtPercentile(p)) }
        // A bucket outside the layout is refused, not recorded.
        var bad = RawHistogram(union)
        bad.buckets.append([UInt64(LatencyBuckets.length) + 5, 1])
        #expect(throws: AgentWireError.self) { try bad.histogram() }
    }

    @Test func framesCarryVersionAndCRC() throws {
        let payload = Array("{\"barrier\":\"run\"}".utf8)
        let header = AgentFrame.header(.go, payload: payload)
        #expect(header.count == AgentFrame.headerSize)
        let parsed = try AgentFrame.parseHeader(header)
        #expect(parsed.kind == .go && parsed.length == payload.count)
        #expect(parsed.crc == payload.withUnsafeBytes { CRC32C.update(0, $0) })
        var wrongVersion = header
        wrongVersion[4] = 9
        #expect(throws: AgentWireError.self) { try AgentFrame.parseHeader(wrongVersion) }
        var wrongMagic = header
        wrongMagic[0] = 0
        #expect(throws: AgentWireError.self) { try AgentFrame.parseHeader(wrongMagic) }
        // Over a socket pair: a frame with one payload byte flipped fails its CRC.
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let a = AgentSocket(fd: fds[0]), b = AgentSocket(fd: fds[1])
        try a.send(.go, payload)
        let got = try b.receive(timeoutSeconds: 5)
        #expect(got.kind == .go && got.payload == payload)
        var flipped = payload
        flipped[3] ^= 0x20
        let raw = AgentFrame.header(.go, payload: payload) + flipped
        _ = raw.withUnsafeBytes { send(fds[0], $0.baseAddress!, $0.count, 0) }
        #expect(throws: AgentWireError.self) { try b.receive(timeoutSeconds: 5) }
        a.close()
        #expect(throws: AgentWireError.self) { try b.receive(timeoutSeconds: 5) }
    }

    @Test func sharesAreDisjointAndAddUp() throws {
        var c = Configuration()
        for (k, v) in [("record_count", "1000"), ("insert_start", "10"), ("insert_count", "901"), ("operation_count", "7001"),
                       ("target_ops_s", "3000"), ("threads", "2"), ("seed", "7"), ("mix.read", "1")] { try c.set(k, v) }
        let w = try Workload(settings: c.settings, path: nil)
        let shares = AgentCoordinator.shares(w, agents: 3)
        #expect(shares.map(\.insertCount).reduce(0, +) == 901)
        #expect(shares.map(\.operationCount).reduce(0, +) == 7001)
        #expect(shares.first!.insertStart == 10)
        for (x, y) in zip(shares, shares.dropFirst()) { #expect(x.insertStart + x.insertCount == y.insertStart) }
        #expect(shares.allSatisfy { $0.threads == 2 && $0.targetOpsPerSecond == 1000 })
        #expect(Set(shares.map(\.seed)) == [7, 8, 9])
    }

    @Test func badAgentsAndEmbeddedBackendsExitTwo() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        try withTemporaryDirectory(prefix: "orbit-agents-bad") { dir in
            func run(_ extra: [String]) throws -> (status: Int32, err: String) {
                let r = try Self.run(["run", root + "/workloads/read-heavy.yaml", "--out", dir + "/out", "--quiet",
                                      "--set", "record_count=100", "--set", "operation_count=100"] + extra)
                return (r.status, r.err)
            }
            let embedded = try run(["--backend", "lsm", "--agents", "127.0.0.1:7400"])
            #expect(embedded.status == 2 && embedded.err.contains("embedded") && embedded.err.contains("--agents 127.0.0.1:7400"), "\(embedded.err)")
            let managed = try run(["--backend", "redis", "--agents", "127.0.0.1:7400"])
            #expect(managed.status == 2 && managed.err.contains("redis.url"), "\(managed.err)")
            for bad in ["nohost", "h:0", "h:70000", "a:1,,b:2", "a:1,a:1", "::1:7400"] {
                let r = try run(["--backend", "redis", "--set", "redis.url=redis://127.0.0.1:1", "--agents", bad])
                #expect(r.status == 2 && r.err.contains("agent"), "\(bad): \(r.err)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/out/summary.json"))
        }
    }

    // MARK: - Three agents in network namespaces

    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try StoreSafetyCLITests.run(args) }

    @discardableResult
    static func sh(_ args: [String]) -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        do { try p.run() } catch { return (127, "\(error)") }
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o)
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// A bridge in the root namespace with the server's address, and one namespace per agent joined
    /// to it by a veth pair; every name carries this process's pid. `teardown` removes it all.
    struct Network {
        let pid = Int(getpid())
        let subnet: String
        var namespaces: [String] = []
        var bridge: String { "ob\(pid % 10_000_000)b" }
        var serverAddress: String { subnet + ".1" }
        func agentAddress(_ i: Int) -> String { subnet + ".\(11 + i)" }

        init() { subnet = "10.231.\(Int(getpid()) % 250)" }

        /// Sets up `count` namespaces; nil (and everything undone) when this machine does not allow it.
        mutating func setUp(count: Int) -> String? {
            let b = bridge
            let steps: [[String]] = [["ip", "link", "add", b, "type", "bridge"], ["ip", "addr", "add", serverAddress + "/24", "dev", b],
                                     ["ip", "link", "set", b, "up"]]
            for s in steps {
                let r = sh(s)
                if r.status != 0 { return "\(s.joined(separator: " ")): \(r.out)" }
            }
            for i in 0..<count {
                let ns = "orbit-agent-\(pid)-\(i)", host = "ob\(pid % 10_000_000)v\(i)", peer = "ob\(pid % 10_000_000)p\(i)"
                let r = sh(["ip", "netns", "add", ns])
                if r.status != 0 { return "ip netns add \(ns): \(r.out)" }
                namespaces.append(ns)
                for s in [["ip", "link", "add", host, "type", "veth", "peer", "name", peer], ["ip", "link", "set", peer, "netns", ns],
                          ["ip", "link", "set", host, "master", b], ["ip", "link", "set", host, "up"],
                          ["ip", "netns", "exec", ns, "ip", "addr", "add", agentAddress(i) + "/24", "dev", peer],
                          ["ip", "netns", "exec", ns, "ip", "link", "set", peer, "up"],
                          ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]] {
                    let r = sh(s)
                    if r.status != 0 { return "\(s.joined(separator: " ")): \(r.out)" }
                }
            }
            return nil
        }

        func teardown() {
            for ns in namespaces { sh(["ip", "netns", "del", ns]) }  // takes its veth pair with it
            sh(["ip", "link", "del", bridge])
        }
    }

    /// A process this test started, stopped (SIGKILL) and reaped at the end.
    final class Child {
        let process = Process()
        let log: String
        init(_ args: [String], log: String) throws {
            self.log = log
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: args[0])
            process.arguments = Array(args.dropFirst())
            let h = FileHandle(forWritingAtPath: log)!
            process.standardOutput = h
            process.standardError = h
            try process.run()
        }
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    static func port(open host: String, _ port: Int) -> Bool {
        (try? AgentSocket.connect(AgentKnobs.Address(host: host, port: port), timeoutSeconds: 1)).map { $0.close(); return true } ?? false
    }

    @Test func threeAgentsInNetworkNamespacesDriveOneServer() throws {
        guard getuid() == 0 else {
            print("skipped: network namespaces need root (uid \(getuid()))")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            Issue.record("redis-server is not installed (/usr/bin/redis-server)")
            return
        }
        var net = Network()
        var children: [Child] = []
        defer {
            for c in children { c.stop() }
            net.teardown()
        }
        if let reason = net.setUp(count: 3) {
            print("skipped: cannot create network namespaces here: \(reason)")
            return
        }
        try withTemporaryDirectory(prefix: "orbit-agents") { dir in
            let port = 20_000 + Int(getpid()) % 20_000
            let redis = try Child(["/usr/bin/redis-server", "--bind", net.serverAddress, "--port", String(port), "--protected-mode", "no",
                                   "--appendonly", "yes", "--appendfsync", "no", "--save", "", "--dir", dir, "--daemonize", "no"],
                                  log: dir + "/redis.log")
            children.append(redis)
            guard Self.waitUntil(seconds: 20, { Self.port(open: net.serverAddress, port) }) else {
                Issue.record("redis-server did not come up on \(net.serverAddress):\(port): \(redis.output)")
                return
            }
            var agents: [String] = []
            for i in 0..<3 {
                let address = "\(net.agentAddress(i)):7400"
                let child = try Child(["/usr/sbin/ip", "netns", "exec", net.namespaces[i], StoreSafetyCLITests.executable, "agent",
                                       "--listen", address, "--data-dir", dir], log: dir + "/agent-\(i).log")
                children.append(child)
                agents.append(address)
                guard Self.waitUntil(seconds: 20, { child.output.contains("listening on") }) else {
                    Issue.record("agent \(i) did not start: \(child.output)")
                    return
                }
            }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            let common = [root + "/workloads/read-heavy.yaml", "--backend", "redis", "--set", "redis.url=redis://\(net.serverAddress):\(port)",
                          "--set", "warmup_ops=0", "--set", "threads=2", "--set", "seed=\(Self.seed)", "--quiet"]

            // 1. The merged run: counts add up, percentiles are the union histogram's.
            let out = dir + "/out"
            let r = try Self.run(["run"] + common + ["--agents", agents.joined(separator: ","), "--out", out,
                                                     "--set", "record_count=3000", "--set", "operation_count=9001"])
            #expect(r.status == 0, "\(r.err)\n\(children.map(\.output).joined(separator: "\n"))")
            guard r.status == 0 else { return }
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
            let backend = (json["backends"] as! [[String: Any]])[0]
            let merged = backend["operations"] as! [[String: Any]]
            let perAgent = backend["agents"] as! [[String: Any]]
            #expect(perAgent.count == 3)
            #expect(Set(perAgent.map { $0["address"] as! String }) == Set(agents))
            let shares = perAgent.map { $0["share"] as! [String: Any] }
            #expect(shares.map { $0["insert_count"] as! Int }.reduce(0, +) == 3000)
            #expect(shares.map { $0["operation_count"] as! Int }.reduce(0, +) == 9001)
            for (x, y) in zip(shares, shares.dropFirst()) {
                #expect((x["insert_start"] as! Int) + (x["insert_count"] as! Int) == y["insert_start"] as! Int)
            }
            let summaryCSV = try String(contentsOfFile: out + "/summary.csv", encoding: .utf8)
            var checked = 0
            for m in merged {
                let phase = m["phase"] as! String, op = m["operation"] as! String
                let rows = perAgent.compactMap { a in (a["operations"] as! [[String: Any]]).first { $0["phase"] as! String == phase && $0["operation"] as! String == op } }
                #expect(rows.count == 3, "\(phase) \(op)")
                let count = (m["count"] as! NSNumber).uint64Value
                #expect(rows.map { ($0["count"] as! NSNumber).uint64Value }.reduce(0, +) == count, "\(phase) \(op)")
                var union = makeLatencyHistogram()
                for row in rows {
                    let raw = row["histogram"] as! [String: Any]
                    let wire = RawHistogram(min: (raw["min_ns"] as! NSNumber).uint64Value, max: (raw["max_ns"] as! NSNumber).uint64Value,
                                            buckets: (raw["buckets"] as! [[NSNumber]]).map { $0.map(\.uint64Value) })
                    union.add(try wire.histogram())
                }
                #expect(union.totalCount == count)
                for (key, p) in [("p50_us", 50.0), ("p75_us", 75), ("p99_us", 99), ("p999_us", 99.9), ("p9999_us", 99.99)] {
                    #expect((m[key] as! NSNumber).doubleValue == Double(union.valueAtPercentile(p)) / 1000, "\(phase) \(op) \(key)")
                }
                #expect((m["max_us"] as! NSNumber).doubleValue == Double(union.max) / 1000)
                #expect(summaryCSV.contains("redis,read-heavy,none,\(op),\(count),"), "\(op) \(count) in\n\(summaryCSV)")
                #expect(FileManager.default.fileExists(atPath: out + "/latency-redis-\(op).hgrm"))
                checked += 1
            }
            #expect(checked >= 3)  // load, get, update
            #expect(merged.contains { $0["operation"] as! String == "load" && ($0["count"] as! NSNumber).intValue == 3000 })

            // 2. An agent that cannot be reached fails the run, named.
            let unreachable = "\(net.subnet).99:7400"
            let u = try Self.run(["run"] + common + ["--agents", agents[0] + "," + unreachable, "--out", dir + "/out-unreachable",
                                                     "--set", "record_count=300", "--set", "operation_count=300", "--set", "agent_timeout_s=3"])
            #expect(u.status == 1 && u.err.contains("agent \(unreachable)") && u.err.contains("unreachable"), "\(u.err)")
            let refused = "\(net.agentAddress(1)):7499"
            let f = try Self.run(["run"] + common + ["--agents", refused, "--out", dir + "/out-refused",
                                                     "--set", "record_count=300", "--set", "operation_count=300"])
            #expect(f.status == 1 && f.err.contains("agent \(refused)") && f.err.contains("refused"), "\(f.err)")

            // 3. An agent killed mid-run fails the run, named.
            let killedOut = dir + "/out-killed"
            let coordinator = try Child([StoreSafetyCLITests.executable, "run"] + common
                                        + ["--agents", agents.joined(separator: ","), "--out", killedOut, "--set", "record_count=300",
                                           "--set", "operation_count=0", "--set", "duration_s=20"], log: dir + "/coordinator.log")
            children.append(coordinator)
            let victim = children[2]  // agent 1
            let jobs = victim.output.components(separatedBy: "job ").count
            guard Self.waitUntil(seconds: 30, { victim.output.components(separatedBy: "job ").count > jobs }) else {
                Issue.record("agent 1 got no job: \(victim.output)\n\(coordinator.output)")
                return
            }
            usleep(1_500_000)
            kill(victim.process.processIdentifier, SIGKILL)
            let ended = Self.waitUntil(seconds: 15) { !coordinator.process.isRunning }
            #expect(ended, "the coordinator did not notice the killed agent: \(coordinator.output)")
            coordinator.process.waitUntilExit()
            #expect(coordinator.process.terminationStatus == 1)
            #expect(coordinator.output.contains("agent \(agents[1])") && coordinator.output.contains("connection closed"), "\(coordinator.output)")
            #expect(!FileManager.default.fileExists(atPath: killedOut + "/summary.json"))
            // The other two agents notice their coordinator has gone and stop their run phase early
            // (duration_s is 20 s), ready for the next coordinator.
            for survivor in [children[1], children[3]] {
                let stopped = Self.waitUntil(seconds: 10) { survivor.output.contains("the coordinator went away during the run") }
                #expect(stopped, "\(survivor.output)")
            }
        }
    }
}

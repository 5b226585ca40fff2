#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import OrbitCore
import Reports
import Runner
import Workloads

/// The memory-bounded regime (`memory_limit_mb`, issue 16 item 6): every backend of a run inside a
/// memory cgroup of the same size, page cache included; refused up front where none is writable.
@Suite(.serialized)
struct MemoryLimitTests {
    /// Whether this machine lets the harness make a memory cgroup (skipped only where it does not:
    /// the reason is printed).
    static var unavailable: String? {
        do { try MemoryCgroup.check(limitMB: 64); return nil } catch { return "\(error)" }
    }

    /// The orbit-bench executable beside the test bundle (`swift build --build-tests` builds both).
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orbit-bench").path
    }

    /// The bounded run happens in a child process: the harness moves its own process into the
    /// cgroup, and this test process runs other suites in parallel, whose memory (and the servers
    /// they fork) must not be charged to a 128 MiB limit.
    @Test func everyBackendRunsInsideACgroupThatHoldsItsPageCache() throws {
        if let why = Self.unavailable {
            print("[skip] MemoryLimitTests: no writable memory cgroup here: \(why)")
            return
        }
        let out = EndToEndTests.tempDir("memlimit")
        defer { try? FileManager.default.removeItem(atPath: out) }
        // 40,000 records of 4 KiB (about 160 MiB of values, twice that written with the log) under a
        // 128 MiB limit: the page cache the writes leave must be reclaimed inside the limit. The
        // limit also holds the (debug) binary's pages faulted in meanwhile and the engines' own
        // memory (lsm's memtable and block cache kept small), or the kernel's OOM killer would end
        // the run.
        let backends = ["lsm", "lmdb"]
        var args = ["run", "workloads/write-heavy.yaml", "--out", out]
        for b in backends { args += ["--backend", b] }
        for set in ["record_count=40000", "operation_count=2000", "warmup_ops=0", "value_size=4096",
                    "lsm.memtable_size_mb=4", "lsm.block_cache_mb=4", "memory_limit_mb=128"] { args += ["--set", set] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: DocsTests.root)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let printed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(printed)")
        #expect(printed.contains("cgroup 128 MiB"), "\(printed)")

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any])
        let runs = try #require(json["backends"] as? [[String: Any]])
        #expect(runs.compactMap { $0["backend"] as? String } == backends)
        for b in runs {
            let name = b["backend"] as? String ?? "?"
            #expect((b["errors"] as? [Any])?.isEmpty == true, "\(name): \(b["errors"] ?? "")")
            let m = try #require(b["memory_regime"] as? [String: Any], "\(name) ran outside a cgroup")
            let limit = (m["limit_bytes"] as? NSNumber)?.uint64Value ?? 0, peak = (m["peak_bytes"] as? NSNumber)?.uint64Value ?? 0
            let hits = (m["limit_hits"] as? NSNumber)?.uint64Value ?? 0, oom = (m["oom_kills"] as? NSNumber)?.uint64Value ?? 1
            print("[memlimit] \(name): \(m["controller"] ?? "?") limit \(limit) peak \(peak) cache \(m["page_cache_bytes_at_end"] ?? "?") hits \(hits) oom \(oom)")
            #expect(limit == 128 << 20)
            #expect(peak > 0 && peak <= limit, "\(name): peak \(peak) of \(limit)")
            #expect(hits > 0, "\(name): writing more than the limit never met it")
            #expect(oom == 0)
        }
        let csv = try EndToEndTests.lines(out + "/summary.csv")
        let header = csv[0].split(separator: ",").map(String.init)
        let limitColumn = try #require(header.firstIndex(of: "memory_limit_mb"))
        for line in csv.dropFirst() {
            #expect(line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)[limitColumn] == "128")
        }
        // The cgroups are gone once the run is over.
        if case .success(let c) = MemoryCgroup.locate() {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: c.current))?.filter { $0.hasPrefix("orbit-bench-") } ?? []
            #expect(left.isEmpty, "left behind: \(left)")
        }
    }

    /// A harness SIGKILLed inside its cgroup (by the OOM killer of its own limit, say) cannot remove
    /// it; the next bounded run removes the cgroups of orbit-bench processes that no longer exist,
    /// and leaves those of a live process alone.
    @Test func cgroupsOfKilledRunsAreRemovedByTheNext() throws {
        if let why = Self.unavailable {
            print("[skip] MemoryLimitTests: no writable memory cgroup here: \(why)")
            return
        }
        guard case .success(let c) = MemoryCgroup.locate() else { Issue.record("no cgroup"); return }
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = c.current + "/orbit-bench-\(gone.processIdentifier)-cow-0"
        let live = c.current + "/orbit-bench-1-lmdb-0"   // pid 1 is alive
        #expect(mkdir(dead, 0o755) == 0)
        #expect(mkdir(live, 0o755) == 0)
        defer { rmdir(live); rmdir(dead) }
        try MemoryCgroup.check(limitMB: 64)
        #expect(access(dead, F_OK) != 0, "the dead run's cgroup is still there")
        #expect(access(live, F_OK) == 0, "a live process's cgroup was removed")
    }

    /// Before a bounded run the store's files leave the page cache (every engine starts cold); their
    /// bytes do not change. mincore on a mapping tells what is resident.
    @Test func evictingAStoresPageCacheChangesNoByte() throws {
        let dir = EndToEndTests.tempDir("evict")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/sub/a"))
        try Data(bytes.prefix(4096)).write(to: URL(fileURLWithPath: dir + "/b"))
        func resident(_ path: String) throws -> Int {
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            let size = 1 << 20
            let p = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
            defer { munmap(p, size) }
            var vec = [UInt8](repeating: 0, count: size / 4096)
            #expect(mincore(p, size, &vec) == 0)
            return vec.filter { $0 & 1 != 0 }.count
        }
        _ = try Data(contentsOf: URL(fileURLWithPath: dir + "/sub/a"))
        #expect(try resident(dir + "/sub/a") > 0)
        #expect(MemoryCgroup.evictPageCache(of: dir) == 2)
        #expect(try resident(dir + "/sub/a") == 0, "the file left the page cache")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/sub/a")) == Data(bytes))
    }

    /// Without a limit nothing changes: the rows say "unbounded" and no cgroup is made.
    @Test func withoutALimitTheRegimeIsUnbounded() throws {
        let out = EndToEndTests.tempDir("nolimit")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let s = try EndToEndTests.session(workload: "workloads/write-heavy.yaml", out: out,
                                          sets: ["record_count=200", "operation_count=200", "warmup_ops=0"], backends: ["memory"])
        let r = try s.run()
        #expect(r.backends.allSatisfy { $0.memory == nil })
        #expect(SummaryTable.render(r).contains("unbounded"))
        #expect(try String(contentsOfFile: out + "/summary.json", encoding: .utf8).contains("\"memory_regime\" : \"unbounded\""))
    }

    /// A bad limit is bad input (exit 2) naming the knob; nothing is written.
    @Test func aLimitOutOfRangeIsRefused() throws {
        let out = EndToEndTests.tempDir("badlimit")
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(throws: OrbitError.self) {
            _ = try EndToEndTests.session(workload: "workloads/write-heavy.yaml", out: out, sets: ["memory_limit_mb=-1"], backends: ["memory"]).run()
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

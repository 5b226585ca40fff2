import Foundation
import Testing
import OrbitCore
@testable import CrashLab

/// `orbit-bench crash` end to end, through the executable (the parent spawns and kills real worker
/// processes): the CI-sized sweep on every durable engine, the planted bugs the oracle must catch,
/// and the refusals. Seeded (the workload's seed 42); a failure prints the crash-summary table.
@Suite(.serialized)
struct KillSweepTests {
    /// The orbit-bench executable `swift build` put beside the test bundle.
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orbit-bench").path
    }

    static func crash(_ args: [String]) throws -> (status: Int32, out: String, err: String, dir: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kill-\(UUID().uuidString)").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["crash", "workloads/crash-recovery.yaml", "--out", dir, "--quiet", "--no-plot"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e, dir)
    }

    static func records(_ dir: String) throws -> [[String: String]] {
        let lines = try String(contentsOfFile: dir + "/crash.csv", encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        #expect(header == CrashRecord.csvColumns)
        return lines.dropFirst().map { line in
            // The detail column (last) may hold commas; the others never do.
            let cells = line.split(separator: ",", maxSplits: header.count - 1, omittingEmptySubsequences: false).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(header, cells))
        }
    }

    /// CI: 20 kill cycles per durable engine, every acknowledged write back, every promise held.
    @Test func ciSweepTwentyCyclesPerDurableEngine() throws {
        // cow with a page cache of 8 pages, smaller than its store: kills while pages are read on demand.
        let r = try Self.crash(["--set", "cycles=20", "--set", "record_count=500", "--set", "kill_after_ops.max=30",
                                "--set", "cow.cache_pages=8", "--seed", "42"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.status == 0, "seed 42\n\(r.out)\n\(r.err)")
        let rows = try Self.records(r.dir)
        for engine in ["rocksdb", "lsm", "cow", "lmdb"] {
            let mine = rows.filter { $0["engine"] == engine }
            #expect(mine.count == 20, "seed 42: \(engine) ran \(mine.count) cycles")
            #expect(mine.allSatisfy { $0["verdict"] == "ok" && $0["lost_synced"] == "0" && $0["resurrected"] == "0" }, "seed 42\n\(r.out)")
            #expect(mine.map { Int($0["ops_acknowledged"]!)! }.reduce(0, +) > 0)
            #expect(mine.allSatisfy { $0["ops_acknowledged"] == $0["ops_synced"] }, "every-write: every ack is synced")
        }
        #expect(r.out.contains("promises (durabilityPromise(for:))"))
        #expect(FileManager.default.fileExists(atPath: r.dir + "/crash-summary.txt"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.dir + "/summary.json"))) as! [String: Any]
        #expect(json["promises_held"] as? Bool == true)
        #expect((json["environment"] as? [String: Any])?["kernel"] != nil)
        #expect((json["crash"] as? [[String: Any]])?.count == 4)
    }

    /// Planted bug: the worker acknowledges its last write before applying it.
    @Test func droppedLastSyncedWriteBreaksTheExperiment() throws {
        let r = try Self.crash(["--backend", "lsm", "--set", "cycles=3", "--set", "record_count=200", "--set", "crash.batch_fraction=0",
                                "--set", "mix.delete=0", "--set", "mix.update=1", "--set", "kill_after_ops.max=40",
                                "--set", "crash.planted_bug=drop-last-synced"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.status == CrashExperiment.brokenExitStatus, "seed 42\n\(r.out)\n\(r.err)")
        let rows = try Self.records(r.dir)
        #expect(rows.contains { $0["verdict"] == "broken" && Int($0["lost_synced"]!)! > 0 }, "seed 42\n\(r.out)")
        #expect(r.out.contains("BROKEN"))
    }

    /// Planted bug: the verifier reads through a cache that is never invalidated (stale values).
    @Test func staleValueBreaksTheExperiment() throws {
        let r = try Self.crash(["--backend", "cow", "--set", "cycles=3", "--set", "record_count=200", "--set", "crash.planted_bug=stale-value"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.status == CrashExperiment.brokenExitStatus, "seed 42\n\(r.out)\n\(r.err)")
        let rows = try Self.records(r.dir)
        #expect(rows.contains { $0["verdict"] == "broken" }, "seed 42\n\(r.out)")
    }

    @Test func memoryAndMissingMethodsAreRefused() throws {
        let m = try Self.crash(["--backend", "memory"])
        defer { try? FileManager.default.removeItem(atPath: m.dir) }
        #expect(m.status == 2 && m.err.contains("memory keeps nothing"), "\(m.err)")
        #expect(!FileManager.default.fileExists(atPath: m.dir + "/crash.csv"))
        if let missing = CrashRecord.Method.allCases.first(where: { CrashMethods.sweep(for: $0) == nil }) {
            let r = try Self.crash(["--backend", "lsm", "--set", "crash_methods=kill,\(missing.rawValue)"])
            defer { try? FileManager.default.removeItem(atPath: r.dir) }
            #expect(r.status == 2 && r.err.contains("method \(missing.rawValue) is not in this build"), "\(r.err)")
        }
        let bad = try Self.crash(["--backend", "lsm", "--set", "cycles=0"])
        defer { try? FileManager.default.removeItem(atPath: bad.dir) }
        #expect(bad.status == 2 && bad.err.contains("cycles") && bad.err.contains("flag --set cycles=0"), "\(bad.err)")
    }
}

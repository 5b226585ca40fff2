import Foundation
import Testing
import OrbitCore
@testable import CrashLab
#if canImport(Glibc)
import Glibc
#endif

/// The resource-limits method (issue 14, "Widen the crash lab" 5), CI-sized: a child with
/// RLIMIT_NOFILE = 256 grows a store past 300 tables (cow, lmdb: 1,200 pages), reopens and checks
/// it. The full sweep (scripts/crash-sweep.sh) grows past 2,000.
@Suite(.serialized)
struct ResourceLimitsSweepTests {
    static func sweep(_ engines: [String], tables: Int = 300) throws -> (status: Int32, rows: [[String: String]], out: String) {
        let r = try KillSweepTests.crash(engines.flatMap { ["--backend", $0] }
            + ["--set", "crash_methods=resource-limits", "--set", "cycles=1", "--set", "crash.grow_tables=\(tables)",
               "--set", "durability=none", "--seed", "42"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        return (r.status, (try? KillSweepTests.records(r.dir)) ?? [], r.out + r.err)
    }

    static func limit() -> rlim_t {
        var l = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
        return l.rlim_cur
    }

    @Test func cowKeepsWorkingUnderTheLimit() throws {
        let before = Self.limit()
        let r = try Self.sweep(["cow"])
        #expect(r.rows.count == 1, "\(r.out)")
        #expect(r.rows.first?["verdict"] == "ok", "seed 42: \(r.rows.first?["detail"] ?? r.out)")
        #expect(r.rows.first?["detail"]?.contains("units=1") == true)
        #expect(Self.limit() == before, "the limit is set in the child, never in this process")
    }

    /// lsm kept one descriptor per table (issue 14 bug 7): at about 250 tables a flush failed with
    /// EMFILE. Now its table cache holds at most min(max_open_files - 10, soft RLIMIT_NOFILE / 2).
    @Test func lsmKeepsWorkingUnderTheLimit() throws {
        let r = try Self.sweep(["lsm"])
        #expect(r.rows.count == 1, "\(r.out)")
        #expect(r.rows.first?["verdict"] == "ok", "seed 42: \(r.rows.first?["detail"] ?? r.out)")
    }

    /// RocksDB and LMDB, for the record.
    @Test func peersRunForTheRecord() throws {
        let r = try Self.sweep(["rocksdb", "lmdb"])
        #expect(r.rows.map { $0["engine"]! } == ["rocksdb", "lmdb"], "\(r.out)")
        #expect(r.rows.allSatisfy { $0["detail"]!.contains("nofile") || $0["crash_point_or_time"]!.contains("nofile=256") })
    }
}

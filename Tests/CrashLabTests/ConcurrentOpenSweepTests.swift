import Foundation
import Testing
import OrbitCore
@testable import CrashLab

/// The concurrent-open method (issue 14, "Widen the crash lab" 2), through the executable: a holder
/// child keeps the store, and opens from another process and from a second instance in the
/// holder's process are tried, read-write and read-only. Two holders per run: the first closes
/// cleanly, the second is killed with the store open; both must lose nothing acknowledged.
@Suite(.serialized)
struct ConcurrentOpenSweepTests {
    static func sweep(_ engines: [String], cycles: Int, perHolder: Int) throws -> (status: Int32, rows: [[String: String]], out: String) {
        let r = try KillSweepTests.crash(engines.flatMap { ["--backend", $0] }
            + ["--set", "crash_methods=concurrent-open", "--set", "cycles=\(cycles)", "--set", "crash.opens_per_holder=\(perHolder)",
               "--set", "record_count=200", "--seed", "42"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        return (r.status, (try? KillSweepTests.records(r.dir)) ?? [], r.out + r.err)
    }

    /// lsm: 8 opens over two holders, every one refused naming LOCK and the holder's pid; the
    /// holders lose nothing.
    @Test func lsmRefusesEverySecondOpen() throws {
        let r = try Self.sweep(["lsm"], cycles: 8, perHolder: 4)
        let attempts = r.rows.filter { !$0["crash_point_or_time"]!.hasPrefix("holder") }
        #expect(attempts.count == 8, "seed 42\n\(r.out)")
        #expect(Set(attempts.map { String($0["crash_point_or_time"]!.split(separator: "#")[0]) }) == Set(ConcurrentOpenSweep.kinds))
        #expect(r.rows.filter { $0["crash_point_or_time"]!.hasPrefix("holder") }.map { $0["crash_point_or_time"]! } == ["holder", "holder-killed"])
        #expect(r.rows.allSatisfy { $0["verdict"] == "ok" }, "seed 42\n\(r.rows.filter { $0["verdict"] != "ok" }.map { $0["detail"]! })")
        #expect(attempts.allSatisfy { $0["detail"]!.contains("LOCK") && $0["detail"]!.contains("pid_named=yes") }, "\(attempts.map { $0["detail"]! })")
        #expect(r.status == 0, "\(r.out)")
    }

    /// Issue 14 bug 2: cow had no store lock; a second open succeeded, truncated the holder's WAL
    /// segments, and the killed holder's acknowledged writes were lost. Every attempt is refused now.
    @Test func cowSecondOpens() throws {
        let r = try Self.sweep(["cow"], cycles: 8, perHolder: 4)
        #expect(r.rows.count == 10, "seed 42\n\(r.out)")
        #expect(r.rows.allSatisfy { $0["verdict"] == "ok" }, "seed 42\n\(r.rows.filter { $0["verdict"] != "ok" }.map { $0["crash_point_or_time"]! + ": " + $0["detail"]!.prefix(200) })")
    }

    /// RocksDB and LMDB for the record: the sweep runs on them and writes every row.
    @Test func peersRunForTheRecord() throws {
        let r = try Self.sweep(["rocksdb", "lmdb"], cycles: 4, perHolder: 4)
        #expect(r.rows.filter { $0["engine"] == "rocksdb" }.count == 5, "\(r.out)")
        #expect(r.rows.filter { $0["engine"] == "lmdb" }.count == 5, "\(r.out)")
        // RocksDB's LOCK refuses a second read-write open from another process.
        #expect(r.rows.contains { $0["engine"] == "rocksdb" && $0["crash_point_or_time"] == "process-rw#0" && $0["detail"]!.contains("LOCK") }, "\(r.out)")
    }
}

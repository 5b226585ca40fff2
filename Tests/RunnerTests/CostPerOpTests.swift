import Foundation
import OrbitCore
import Reports
import Runner
import Testing

/// Issue 19 item 6: the cost of an operation beside its latency (CPU, context switches, the
/// process's and the device's I/O), and engine internals per interval in stats.csv.
@Suite(.serialized)
struct CostPerOpTests {
    @Test func everyRowCarriesItsPhasesCostAndLSMItsInternals() throws {
        let out = EndToEndTests.tempDir("cost")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let lsm = Engines.builtinNames.first { $0 == "lsm" }!
        let s = try EndToEndTests.session(
            workload: "workloads/write-heavy.yaml", out: out,
            sets: ["record_count=3000", "operation_count=3000", "warmup_ops=0", "durability=every-write", "interval_s=0.2"],
            backends: [lsm])
        let r = try s.run()
        #expect(r.backends.allSatisfy { $0.errors.isEmpty })
        let b = try #require(r.backends.first)
        #expect(b.costs.map(\.phase) == ["load", "run"])
        for c in b.costs {
            #expect(c.operations == 3000)
            #expect(c.usage.userSeconds + c.usage.systemSeconds > 0)
            #expect(c.usage.voluntarySwitches + c.usage.involuntarySwitches > 0)
        }
        // Every write is fdatasynced: the load phase's writes reach the block layer.
        if let written = b.costs[0].usage.processWriteBytes { #expect(written > 0) }

        let summary = try CSVTable.read(out + "/summary.csv")
        for column in ["cpu_user_us_per_op", "cpu_system_us_per_op", "context_switches_per_op",
                       "process_read_bytes_per_op", "process_write_bytes_per_op",
                       "device_read_bytes_per_op", "device_write_bytes_per_op"] {
            #expect(summary.header.contains(column), "\(column)")
        }
        let cpu = try summary.column("cpu_user_us_per_op").compactMap(Double.init)
        #expect(cpu.count == summary.rows.count && cpu.allSatisfy { $0 >= 0 })
        #expect(try summary.column("cpu_system_us_per_op").compactMap(Double.init).count == summary.rows.count)

        let stats = try CSVTable.read(out + "/stats.csv")
        let levels = try stats.column("files_per_level")
        #expect(!levels.isEmpty && levels.allSatisfy { !$0.isEmpty }, "lsm reports its files per level every interval")
        let flushed = try stats.column("flush_bytes").compactMap(UInt64.init)
        #expect(flushed.count == stats.rows.count)
        #expect(try stats.column("compaction_bytes_written").compactMap(UInt64.init).count == stats.rows.count)

        let table = SummaryTable.render(r)
        #expect(table.contains("cpu µs/op"))
        #expect(table.contains("cost per run op: CPU"))
    }

    @Test func theDataDirectorysDeviceIsFoundAndCounted() throws {
        // /proc/diskstats lists block devices; a data directory on tmpfs or overlay has none, and
        // the device columns stay empty rather than zero.
        let dir = NSTemporaryDirectory()
        let usage = ResourceUsage.now(device: ResourceUsage.device(of: dir))
        if ResourceUsage.device(of: dir) == nil {
            #expect(usage.deviceReadBytes == nil && usage.deviceWriteBytes == nil)
        } else {
            #expect(usage.deviceReadBytes != nil && usage.deviceWriteBytes != nil)
        }
        let later = ResourceUsage.now(device: nil).since(usage)
        #expect(later.deviceReadBytes == nil, "no device: no figure, not a zero")
        #expect(later.userSeconds >= 0 && later.systemSeconds >= 0)
    }
}

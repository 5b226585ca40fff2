import Testing
import Workloads
@testable import CrashLab

@Suite struct CrashRecordTests {
    @Test func header() {
        #expect(CrashCSV.render([]) ==
            "cycle,engine,durability,method,crash_point_or_time,ops_acknowledged,ops_synced,ops_recovered,lost_synced,lost_unsynced,resurrected,recovery_ms,verdict,store_bytes,detail,unavailable_write_ms,unavailable_read_ms\n")
    }

    @Test func row() {
        let r = CrashRecord(cycle: 3, engine: "lsm", durability: "every-write", method: .powerLoss,
                            crashPointOrTime: "lsm.flush.after-table-sync", opsAcknowledged: 10, opsSynced: 10,
                            opsRecovered: 10, lostSynced: 0, lostUnsynced: 0, resurrected: 0, recoveryMs: 1.23456,
                            verdict: .ok, storeBytes: 4096, detail: "a, b")
        #expect(CrashCSV.row(r.csvCells) ==
            "3,lsm,every-write,power-loss,lsm.flush.after-table-sync,10,10,10,0,0,0,1.235,ok,4096,\"a, b\",,\n")
    }

    /// Every method the crash lab runs can be asked for by `crash_methods` (node-kill once was not).
    @Test func everyMethodIsAKnobValue() {
        #expect(Set(CrashKnobs.methods) == Set(CrashRecord.Method.allCases.map(\.rawValue)))
    }
}

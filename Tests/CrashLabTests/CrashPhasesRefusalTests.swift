import Testing
import OrbitCore
import Runner
import Workloads
@testable import CrashLab

/// A crash experiment runs one operation mix: a workload with `phases:` is refused, naming where.
@Suite struct CrashPhasesRefusalTests {
    @Test func aWorkloadWithPhasesIsRefused() throws {
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/crash-recovery.yaml")
        var settings = c.settings
        try WorkloadFile.apply(yaml: "phases:\n  - {name: a, mix: {update: 1}}\n", path: "p.yaml", to: &settings)
        #expect {
            _ = try CrashPlan(settings: settings)
        } throws: { e in
            let e = e as? OrbitError
            return e?.description == "p.yaml:2:12: a crash experiment runs one operation mix; this workload has phases; drop 'phases' from a crash workload"
                && e?.exitStatus == 2
        }
    }
}

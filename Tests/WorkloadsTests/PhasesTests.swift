import Testing
import OrbitCore
import Runner
import Workloads

/// `phases:` in a workload file (issue 19 item 3): each phase's own run fields, what it takes from the
/// workload, and the errors (file:line:col, exit status 2) for a malformed phase list.
struct PhasesTests {
    static let valid = """
        name: phased
        record_count: 1000
        operation_count: 5000
        threads: 2
        value_size: 50
        mix: {read: 0.5, update: 0.5}
        phases:
          - name: writers
            mix: {update: 0.6, insert: 0.4}
            operation_count: 2000
            threads: 4
          - background: true
            mix: {scan: 1}
            scan_length: 7
            threads: 1
            target_ops_s: 50
          - name: readers
            mix: {read: 1}
            key_distribution: {type: zipfian, constant: 0.9}
            duration_s: 1.5
          - value_size: 80
        """

    @Test func phasesParseWithTheirOwnFieldsAndTheWorkloadsForTheRest() throws {
        let w = try MalformedWorkloadTests.load(Self.valid)
        #expect(w.isMultiPhase)
        #expect(w.phases.map(\.name) == ["writers", "phase-2", "readers", "phase-4"])
        #expect(w.phases.map(\.background) == [false, true, false, false])
        let (writers, scans, readers, last) = (w.phases[0].workload, w.phases[1].workload, w.phases[2].workload, w.phases[3].workload)
        // A phase's mix is its whole mix.
        #expect(writers.mix.map(\.op) == [.update, .insert])
        #expect(scans.mix.map(\.op) == [.rangeQuery])
        #expect(readers.mix.map(\.op) == [.get])
        #expect(last.mix.map(\.op) == [.get, .update])
        // Its length: operation_count or duration_s alone; a background phase without either runs until
        // the next phase ends; a phase without either takes the workload's.
        #expect(writers.operationCount == 2000 && writers.durationSeconds == 0)
        #expect(scans.operationCount == 0 && scans.durationSeconds == 0 && scans.unbounded)
        #expect(readers.operationCount == 0 && readers.durationSeconds == 1.5)
        #expect(last.operationCount == 5000 && last.durationSeconds == 0)
        #expect(writers.threads == 4 && scans.threads == 1 && readers.threads == 2)
        #expect(scans.targetOpsPerSecond == 50 && writers.targetOpsPerSecond == 0)
        #expect(scans.scanLength == 7...7 && writers.scanLength == w.scanLength)
        #expect(readers.keyDistribution == .zipfian(constant: 0.9) && writers.keyDistribution == .uniform)
        #expect(last.valueSize == 80...80 && writers.valueSize == 50...50)
        // The workload-wide fields are every phase's.
        #expect(w.phases.allSatisfy { $0.workload.recordCount == 1000 && $0.workload.seed == w.seed })
    }

    @Test func withoutPhasesTheRunIsOnePhaseNamedRun() throws {
        let w = try MalformedWorkloadTests.load("name: t\nmix: {read: 1}\noperation_count: 10\n")
        #expect(!w.isMultiPhase)
        #expect(w.runPhases.map(\.name) == ["run"])
        #expect(w.runPhases[0].workload.operationCount == 10 && !w.runPhases[0].background)
    }

    @Test func aYCSBPropertyFileIsOnePhase() throws {
        var c = Configuration()
        try c.applyPropertyFiles(["workloads/ycsb/workloada"])
        let w = try Workload(settings: c.settings, path: "workloads/ycsb/workloada")
        #expect(!w.isMultiPhase && w.runPhases.map(\.name) == ["run"])
        #expect(w.runPhases[0].workload.mix.map(\.op) == w.mix.map(\.op))
    }

    static let cases: [(name: String, yaml: String, error: String)] = [
        ("unknown field in a phase", "name: t\nmix: {read: 1}\nphases:\n  - name: a\n    mixx: {read: 1}\n",
         "w.yaml:5:5: unknown field 'mixx' in phase 1; allowed in a phase: name, background, mix, key_distribution, target_ops_s, duration_s, operation_count, threads, value_size, scan_length; the other fields are the workload's, for every phase"),
        ("workload-wide field in a phase", "name: t\nmix: {read: 1}\nphases:\n  - {name: a, record_count: 5}\n",
         "w.yaml:4:15: unknown field 'record_count' in phase 1; allowed in a phase: name, background, mix, key_distribution, target_ops_s, duration_s, operation_count, threads, value_size, scan_length; the other fields are the workload's, for every phase"),
        ("background last", "name: t\nmix: {read: 1}\nphases:\n  - {name: a, mix: {update: 1}}\n  - {name: b, background: true}\n",
         "w.yaml:5:27: the last phase ('b') cannot be a background phase; a background phase runs beside the next phase and stops when it ends; the last phase has no next one"),
        ("phases not a list", "name: t\nmix: {read: 1}\nphases: {name: a}\n",
         "w.yaml:3:9: 'phases' must be a list of phase mappings, found a mapping; e.g. phases: [{name: writers, mix: {update: 1}, operation_count: 1000}]"),
        ("empty phases", "name: t\nmix: {read: 1}\nphases: []\n",
         "w.yaml:3:9: 'phases' is empty; give at least one phase, or leave 'phases' out for a one-phase run"),
        ("phase not a mapping", "name: t\nmix: {read: 1}\nphases:\n  - writers\n",
         "w.yaml:4:5: phase 1 must be a mapping of run fields, found 'writers'; allowed in a phase: name, background, mix, key_distribution, target_ops_s, duration_s, operation_count, threads, value_size, scan_length"),
        ("phase named load", "name: t\nmix: {read: 1}\nphases:\n  - {name: load}\n",
         "w.yaml:4:12: phase name 'load' is not allowed; a phase name is 1-64 letters, digits, '-' or '_', and not 'load' (the load phase's name)"),
        ("duplicate phase name", "name: t\nmix: {read: 1}\nphases:\n  - {name: a}\n  - {name: a}\n",
         "w.yaml:5:12: phase name 'a' appears twice; give every phase its own name"),
        ("background not a boolean", "name: t\nmix: {read: 1}\nphases:\n  - {background: yes please}\n  - {name: b}\n",
         "w.yaml:4:18: a phase's 'background' must be true or false, found 'yes please'"),
        ("bad value in a phase", "name: t\nmix: {read: 1}\nphases:\n  - {threads: 0}\n",
         "w.yaml:4:15: threads: bad value 0; allowed: an integer in 1...1024"),
        ("phase mix does not add up", "name: t\nmix: {read: 1}\nphases:\n  - mix: {read: 0.5}\n",
         "w.yaml:4:17: mix proportions add up to 0.5, not 1; they must add up to 1.0; got read=0.5 (workload w.yaml:4:17)"),
        ("phase with lease operations", "name: t\nmix: {lease_get: 1}\nphases:\n  - {name: a}\n",
         "w.yaml:4:12: lease workloads run one phase; this workload has phases; drop 'phases' for a lease workload"),
    ]

    @Test(arguments: cases.indices)
    func malformedPhasesAreRefusedWithTheirLocation(_ i: Int) throws {
        let c = Self.cases[i]
        do {
            _ = try MalformedWorkloadTests.load(c.yaml)
            Issue.record("case '\(c.name)' was accepted")
        } catch let e as OrbitError {
            #expect(e.description == c.error, "case '\(c.name)'")
            #expect(e.exitStatus == 2, "case '\(c.name)': bad input must exit with status 2")
        }
    }
}

import Foundation
import OrbitCore
import Runner
import Testing
@testable import CrashLab

/// `orbit-bench crash` refuses, before anything runs or is written, a new method on an engine it
/// does not apply to and a differential replay file it cannot read; memory is taken by the methods
/// that crash nothing.
@Suite struct NewMethodsRefusalTests {
    static func experiment(_ sets: [String], _ backends: [String]) throws -> CrashExperiment {
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/crash-recovery.yaml")
        try c.applyFlags(sets: sets, backends: backends, dataDir: nil)
        return CrashExperiment(configuration: c)
    }

    @Test func aMethodOffItsEnginesIsRefused() throws {
        for (method, engine) in [("fsync-failure", "rocksdb"), ("fsync-failure", "lmdb"), ("fsync-failure", "memory")] {
            let e = try #require(throws: OrbitError.self) { try Self.experiment(["crash_methods=\(method)"], [engine]).prepare() }
            #expect(e.code == .invalidConfig && e.description.contains(engine), "\(e)")
        }
        // The methods that crash nothing take memory; the others still refuse it with their message.
        for method in ["concurrent-history", "differential"] {
            #expect(throws: Never.self) { _ = try Self.experiment(["crash_methods=\(method)"], ["memory"]).prepare() }
        }
        let kill = try #require(throws: OrbitError.self) { try Self.experiment(["crash_methods=kill,differential"], ["memory"]).prepare() }
        #expect(kill.description.contains("memory keeps nothing"), "\(kill)")
    }

    @Test func aBadReplayFileIsRefusedBeforeAnythingRuns() throws {
        let file = NSTemporaryDirectory() + "orbit-bad-replay-\(getpid()).ops"
        try "put x61 x01\nfrobnicate\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let e = try #require(throws: OrbitError.self) {
            try Self.experiment(["crash_methods=differential", "crash.differential_replay=\(file)"], ["lsm"]).prepare()
        }
        #expect(e.code == .invalidArgument && e.description.contains("line 2"), "\(e)")
        let missing = try #require(throws: OrbitError.self) {
            try Self.experiment(["crash_methods=differential", "crash.differential_replay=/nonexistent/x.ops"], ["lsm"]).prepare()
        }
        #expect(missing.description.contains("/nonexistent/x.ops"))
    }
}

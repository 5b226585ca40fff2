import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Testing
import Workloads

/// A workload that needs atomic multi-key batches (the lease model) on a backend that declares them
/// absent is refused before the engine opens: a clear error, nothing written.
struct BatchCapabilityTests {
    @Test func leaseWorkloadIsRefusedWithoutAtomicBatches() throws {
        let without = Engines.names(with: [.durable], without: [.atomicBatches])
        try #require(!without.isEmpty, "a built-in backend without atomic batches (s3)")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        for backend in without {
            var c = Configuration()
            try c.applyWorkloadFile(path: repository + "/workloads/lease-churn.yaml")
            try c.applyFlags(sets: ["record_count=10", "operation_count=10", "warmup_ops=0"], backends: [backend], dataDir: nil)
            let w = try Workload(settings: c.settings)
            try withTemporaryDirectory(prefix: "orbit-refuse") { dir in
                let store = dir + "/" + backend
                do {
                    _ = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false).run(backend: backend, directory: store)
                    Issue.record("\(backend): a lease workload ran without atomic batches")
                } catch let e as OrbitError {
                    #expect(e.code == .unsupported)
                    #expect(e.message.contains("no atomic multi-key batch"), "\(e)")
                }
                #expect(!FileManager.default.fileExists(atPath: store), "nothing written")
            }
        }
    }
}

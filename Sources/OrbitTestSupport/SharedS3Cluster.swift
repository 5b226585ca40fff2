#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import S3Engine
import Synchronization

/// One managed SeaweedFS cluster for every s3 store a test process opens through `EngineKind`.
///
/// A cluster (master, three volume servers, filer, gateway) takes seconds to start and to stop, so
/// a cluster per test case would make the conformance suite take many minutes. Instead the first s3
/// harness starts one in a temporary directory and keeps it for the life of the process; each store
/// is the same engine reached by endpoint (`s3.endpoint`, the cluster's generated credentials)
/// under an object prefix of its own, derived from the store's directory, so a store reopened in the
/// same directory finds its objects and two stores never see each other's. The cluster is stopped
/// and its directory removed at exit; its processes die with the test process anyway
/// (PR_SET_PDEATHSIG).
public enum SharedS3Cluster {
    struct Running: @unchecked Sendable {
        var engine: S3Engine
        var directory: TemporaryDirectory
        var endpoint: String
        var credentials: SigV4.Credentials
    }

    private static let state = Mutex<Running?>(nil)
    private static let prefixes = Mutex<[String: Int]>([:])

    /// The running cluster, started on first use.
    static func running() throws -> Running {
        try state.withLock { current in
            if let current { return current }
            let dir = try TemporaryDirectory(prefix: "orbit-s3-shared")
            let e = try S3Engine(directory: dir.appending("cluster"), options: S3Options(), durability: .everyWrite, access: .readWrite)
            guard let cluster = e.cluster else { fatalError("a managed s3 engine without its cluster") }
            let r = Running(engine: e, directory: dir, endpoint: "http://127.0.0.1:\(cluster.gateway.port)", credentials: cluster.credentials)
            current = r
            atexit { SharedS3Cluster.stop() }
            return r
        }
    }

    /// Closes the cluster and removes its directory (at exit).
    static func stop() {
        state.withLock { current in
            try? current?.engine.close()
            current?.directory.remove()
            current = nil
        }
    }

    /// The store's object prefix: one number per store directory, for the life of the process.
    static func prefix(for directory: String) -> String {
        prefixes.withLock { p in
            if let n = p[directory] { return "store-\(n)/" }
            let n = p.count + 1
            p[directory] = n
            return "store-\(n)/"
        }
    }

    /// `visitor` with a harness whose stores live on the shared cluster.
    static func visit<V: EngineVisitor>(_ visitor: V, kind: EngineKind, directory: String, durability: DurabilityMode) throws -> V.Result {
        let r = try running()
        var options = S3Options()
        options.endpoint = r.endpoint
        options.prefix = prefix(for: directory)
        let credentials = r.credentials
        return try visitor.visit(EngineHarness<S3Engine>(kind: kind, directory: directory, durability: durability) { [options] path, mode in
            try S3Engine(directory: path, options: options, durability: mode, access: .readWrite, credentials: credentials)
        })
    }
}

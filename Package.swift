// swift-tools-version: 6.1
// orbit-bench: a storage-engine benchmarking and research harness.
// Module layout: docs/architecture.md, "Modules" (engines depend only on OrbitCore; the CLI is thin).
import PackageDescription
import Foundation

// ORBIT_NO_JEMALLOC=1 builds without jemalloc, for sanitizer runs (scripts/tsan.sh): ThreadSanitizer
// replaces malloc/free itself, and a second allocator linked into the process makes it abort at load.
// The memory figure (jemalloc's stats.allocated) is then reported as 0.
let noJemalloc = ProcessInfo.processInfo.environment["ORBIT_NO_JEMALLOC"] != nil

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let histogram: Target.Dependency = .product(name: "Histogram", package: "hdrhistogram-swift")

let package = Package(
    name: "orbit-bench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "orbit-bench", targets: ["OrbitBench"]),
        .library(name: "OrbitCore", targets: ["OrbitCore"]),
        .library(name: "Runner", targets: ["Runner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The etcd backend: etcd's gRPC v3 API through grpc-swift 2 (messages: swift-protobuf; code generated once, committed).
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(name: "CRocksDB", path: "Sources/CRocksDB", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", providers: [.apt(["liblmdb-dev"])]),
        // zlib: Reports deflates the histograms of interval-*.hlog; the plot tests inflate PNG image data to check a plot is not blank.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJemalloc", path: "Sources/CJemalloc", providers: [.apt(["libjemalloc-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CLibpq", path: "Sources/CLibpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // fork/prctl(PR_SET_PDEATHSIG)/exec for managed servers, and TCP_INFO byte counters (C: between fork and exec only async-signal-safe calls).
        .target(name: "CServerSpawn", path: "Sources/CServerSpawn"),

        // The CPU's timestamp counter (header-only inline functions) for the metering clock.
        .systemLibrary(name: "CTimestamp", path: "Sources/CTimestamp"),

        // The file layer's encrypting wrapper uses swift-crypto (AES-256-CTR from CryptoExtras, HKDF, HMAC).
        .target(name: "OrbitCore",
                dependencies: ["CTimestamp", .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "CryptoExtras", package: "swift-crypto")],
                swiftSettings: strict),
        .target(name: "MemoryEngine", dependencies: ["OrbitCore"], swiftSettings: strict),
        .target(name: "RocksDBEngine", dependencies: ["OrbitCore", "CRocksDB"], swiftSettings: strict),
        .target(name: "LMDBEngine", dependencies: ["OrbitCore", "CLMDB"], swiftSettings: strict),
        .target(name: "CowBTree", dependencies: ["OrbitCore"], swiftSettings: strict),
        // No unsafe flags (the package stays usable as a versioned dependency): LSMTree<POSIXFileSystem>'s
        // entry points are specialized in the module itself (docs/architecture.md, "Build settings").
        .target(name: "LSMTree", dependencies: ["OrbitCore", "CLZ4"], swiftSettings: strict),
        // Managed servers (start on loopback, wait, stop, no orphans) and per-thread client connections.
        .target(name: "ServerSupport", dependencies: ["OrbitCore", "CServerSpawn"], swiftSettings: strict),
        .target(name: "PostgresEngine", dependencies: ["OrbitCore", "ServerSupport", "CLibpq"], swiftSettings: strict),
        .target(name: "RedisEngine", dependencies: ["OrbitCore", "ServerSupport", "CHiredis"], swiftSettings: strict),
        // etcd through its native gRPC v3 API (grpc-swift 2 over SwiftNIO's HTTP/2); Generated/ is protoc's output, committed.
        .target(name: "EtcdEngine",
                dependencies: ["OrbitCore", "ServerSupport",
                               .product(name: "GRPCCore", package: "grpc-swift-2"),
                               .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                               .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                               .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                               .product(name: "NIOCore", package: "swift-nio")],
                swiftSettings: strict),
        // S3's REST API signed with SigV4 (swift-crypto), over a blocking HTTP/1.1 client per thread; a managed SeaweedFS cluster.
        .target(name: "S3Engine", dependencies: ["OrbitCore", "ServerSupport", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        .target(name: "Leases", dependencies: ["OrbitCore"], swiftSettings: strict),
        // A Redis-protocol (RESP2) server over any engine: a pure parser/encoder, the command table, and a swift-nio listener.
        .target(name: "RESPServer",
                dependencies: ["OrbitCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
                swiftSettings: strict),
        .target(name: "Workloads", dependencies: ["OrbitCore", "Yams"], swiftSettings: strict),
        // The registry's composition point: the one line listing the engines of this build.
        .target(name: "BuiltinEngines", dependencies: ["OrbitCore", "MemoryEngine", "RocksDBEngine", "LMDBEngine", "CowBTree", "LSMTree",
                                                       "PostgresEngine", "RedisEngine", "EtcdEngine", "S3Engine"],
                swiftSettings: strict),
        .target(
            name: "Runner",
            dependencies: [
                "OrbitCore", "BuiltinEngines", "MemoryEngine", "RocksDBEngine", "LMDBEngine", "CowBTree", "LSMTree", "Leases", "Workloads",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ] + (noJemalloc ? [] : ["CJemalloc"]),
            swiftSettings: strict + (noJemalloc ? [.define("ORBIT_NO_JEMALLOC")] : [])),
        // Crash experiments: real kills, simulated power loss, corruption sweeps, injected I/O errors.
        .target(name: "CrashLab", dependencies: ["OrbitCore", "Runner", "Workloads", "CowBTree", "LSMTree", "RocksDBEngine", "LMDBEngine"],
                swiftSettings: strict),
        .target(
            name: "Reports",
            dependencies: ["OrbitCore", "Runner", "Workloads", "CZlib", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: strict),
        // Plots: gnuplot scripts and pictures from results directories (gnuplot-nox, run as a subprocess).
        .target(name: "Plots", dependencies: ["OrbitCore", "Reports"], swiftSettings: strict),
        // Reproductions of published tables (the origin's latency table) on this machine.
        .target(name: "Repro", dependencies: ["OrbitCore", "Runner", "Reports", "Plots", "Workloads", "Leases"], swiftSettings: strict),
        // The commands, as a library: the executable is a one-line main, and tests run the commands in-process.
        .target(
            name: "OrbitCLI",
            dependencies: [
                "OrbitCore", "Runner", "Reports", "Workloads", "CrashLab", "Plots", "Repro", "RESPServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(name: "OrbitBench", dependencies: ["OrbitCLI"], swiftSettings: strict),

        .target(name: "OrbitTestSupport", dependencies: ["OrbitCore", "BuiltinEngines", "S3Engine"], swiftSettings: strict),
        .testTarget(name: "OrbitCoreTests", dependencies: ["OrbitCore", "OrbitTestSupport"]),
        // Also the registry's acceptance test: a toy engine registered with one call is in the suite and
        // in the CLI's commands, run in-process (OrbitCLI).
        .testTarget(name: "EngineConformanceTests",
                    dependencies: ["OrbitCore", "MemoryEngine", "RocksDBEngine", "LMDBEngine", "OrbitTestSupport", "OrbitCLI", "Runner", "CrashLab"]),
        .testTarget(name: "CowBTreeTests", dependencies: ["CowBTree", "OrbitCore", "OrbitTestSupport"]),
        .testTarget(name: "LSMTreeTests", dependencies: ["LSMTree", "OrbitCore", "OrbitTestSupport"]),
        .testTarget(name: "LeasesTests", dependencies: ["Leases", "OrbitCore", "MemoryEngine", "RocksDBEngine", "OrbitTestSupport"]),
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "OrbitCore", "Runner", "OrbitTestSupport", histogram]),
        .testTarget(name: "CrashLabTests", dependencies: ["CrashLab", "Runner", "Workloads", "OrbitCore", "CowBTree", "LSMTree", "PostgresEngine", "ServerSupport", "OrbitTestSupport"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots", "Reports", "Repro", "Runner", "OrbitCore", "OrbitTestSupport", "CZlib"],
                    exclude: ["Fixtures"]),  // read by path (#filePath), not bundled
        .testTarget(name: "EtcdEngineTests", dependencies: ["EtcdEngine", "OrbitCore", "ServerSupport", "OrbitTestSupport",
                                                            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                                                            .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "RESPServerTests", dependencies: ["RESPServer", "OrbitCLI", "OrbitCore", "Runner", "ServerSupport", "MemoryEngine", "LSMTree", "CowBTree", "OrbitTestSupport"]),
        .testTarget(name: "RunnerTests", dependencies: ["Runner", "Reports", "Workloads", "OrbitCore", "LSMTree", "OrbitTestSupport", histogram]),
        .testTarget(name: "S3EngineTests", dependencies: ["S3Engine", "OrbitCore", "ServerSupport", "OrbitTestSupport"]),
        // deploy/kubernetes/'s manifests against Kubernetes' fields (Yams) and their command lines against the CLI.
        .testTarget(name: "DeployTests", dependencies: ["OrbitCLI", "Runner", "OrbitCore", .product(name: "Yams", package: "Yams")]),
    ]
)

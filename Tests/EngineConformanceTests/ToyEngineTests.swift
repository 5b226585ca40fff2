#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OrbitCLI
import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// The toy engine's one registration (issue 15's acceptance: one call, and every part of the
/// harness has the engine).
enum Toy {
    private static let once: Void = EngineRegistry.register(ToyDescriptor.self)
    static func register() {
        Engines.install()  // the built-in engines first, so registry order stays theirs, then the toy's
        once
    }
}

/// The registry's acceptance test (issue 15): a toy engine, registered with one call, is picked up
/// by `list`, `run`, `kv`, `inspect`, `crash` (run in-process through OrbitCLI) and the conformance
/// suite (`ConformanceTests.all`).
@Suite("Toy engine through the registry", .serialized)
struct ToyEngineTests {
    init() { Toy.register() }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs `orbit-bench ARGS` in this process; returns the exit status and what it printed.
    static func cli(_ args: [String]) -> (status: Int32, out: String) {
        var status: Int32 = 0
        let out = captureStandardOutput {
            do {
                var command = try OrbitBenchCLI.parseAsRoot(args)
                try command.run()
            } catch {
                status = OrbitBenchCLI.exitCode(for: error).rawValue
                if status != 0 { print("error: \(OrbitBenchCLI.fullMessage(for: error))") }
            }
        }
        return (status, out)
    }

    /// What `body` writes to file descriptors 1 and 2 (print goes through C's stdout: flushed).
    static func captureStandardOutput(_ body: () -> Void) -> String {
        let path = NSTemporaryDirectory() + "orbit-toy-stdout-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        fflush(nil)
        let saved = (dup(1), dup(2))
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        dup2(fd, 1)
        dup2(fd, 2)
        close(fd)
        body()
        fflush(nil)
        dup2(saved.0, 1)
        dup2(saved.1, 2)
        close(saved.0)
        close(saved.1)
        defer { unlink(path) }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    @Test func registryResolvesTheToyByNameAndAlias() throws {
        #expect(EngineRegistry.names.contains("toy"))
        #expect(EngineRegistry.canonicalName("Toy_Engine") == "toy")
        #expect(CoreKnobs.all.first { $0.name == "backends" }.map { "\($0.allowed)".contains("toy") } == true)
        #expect(throws: OrbitError.self) { try EngineRegistry.require("no-such-engine") }
        do { _ = try EngineRegistry.require("no-such-engine") } catch let e as OrbitError {
            #expect(e.hint?.contains("toy") == true, "\(e)")
        }
    }

    @Test func listShowsTheToyAndItsKnob() {
        let r = Self.cli(["list", "--workloads", Self.repository + "/workloads"])
        #expect(r.status == 0)
        #expect(r.out.contains("  toy        \(ToyDescriptor.summary)"), "\(r.out)")
        #expect(r.out.contains("toy.greeting = hello"), "\(r.out)")
    }

    @Test func conformanceSuiteIncludesTheToy() {
        #expect(ConformanceTests.all.contains { $0.name == "toy" })
        #expect(ConformanceTests.all.contains { $0.name == "lsm" } && ConformanceTests.all.contains { $0.name == "cow-nowal" })
    }

    @Test func runWritesResultsForTheToy() throws {
        try withTemporaryDirectory(prefix: "orbit-toy-run") { dir in
            let r = Self.cli(["run", Self.repository + "/workloads/write-heavy.yaml", "--backend", "toy", "--out", dir + "/out",
                              "--set", "record_count=300", "--set", "operation_count=600", "--set", "warmup_ops=0", "--set", "plots=false"])
            #expect(r.status == 0, "\(r.out)")
            let csv = try String(contentsOfFile: dir + "/out/summary.csv", encoding: .utf8)
            #expect(csv.contains("toy"), "\(csv.prefix(400))")
        }
    }

    @Test func kvAndInspectWorkOnAToyStore() throws {
        try withTemporaryDirectory(prefix: "orbit-toy-kv") { dir in
            #expect(Self.cli(["kv", "put", "--backend", "toy", "--data-dir", dir, "greeting", "hello toy"]).status == 0)
            let got = Self.cli(["kv", "get", "--backend", "toy", "--data-dir", dir, "greeting"])
            #expect(got.status == 0 && got.out.contains("hello toy"), "\(got.out)")
            #expect(ToyDescriptor.recognizeStore(at: dir + "/toy") == .ours(markers: ["toy.db (TOY1)"]))

            let inspected = Self.cli(["inspect", "toy", dir + "/toy"])
            #expect(inspected.status == 0 && inspected.out.contains("1 key(s)"), "\(inspected.out)")
            // The store guard knows the toy's files: another engine's inspect names it.
            let other = Self.cli(["inspect", "lsm", dir + "/toy"])
            #expect(other.status == 2 && other.out.contains("not an lsm store: it holds a toy store"), "\(other.out)")
        }
    }

    @Test func crashRunsAConcurrentHistoryOnTheToy() throws {
        try withTemporaryDirectory(prefix: "orbit-toy-crash") { dir in
            let r = Self.cli(["crash", Self.repository + "/workloads/crash-recovery.yaml", "--backend", "toy", "--method", "concurrent-history",
                              "--out", dir + "/out", "--quiet", "--no-plot", "--set", "cycles=2", "--set", "crash.history_operations=400"])
            #expect(r.status == 0, "\(r.out)")
            let csv = try String(contentsOfFile: dir + "/out/crash.csv", encoding: .utf8)
            #expect(csv.split(separator: "\n").filter { $0.contains(",toy,") && $0.contains("concurrent-history") }.count == 2, "\(csv)")
        }
    }
}

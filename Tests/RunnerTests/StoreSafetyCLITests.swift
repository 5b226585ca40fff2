import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// Issue 13 at the command line: exit statuses and the checks that live in the CLI (inspect, crash,
/// run of a YCSB property file), through the `orbit-bench` executable built beside the tests.
@Suite("Store safety (CLI)", .serialized)
struct StoreSafetyCLITests {
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("orbit-bench").path
    }

    static func run(_ args: [String], executable: String = Self.executable) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e)
    }

    static func makeStore(_ dir: String, _ backend: String) throws {
        var c = Configuration()
        try c.applyFlags(sets: [], backends: [backend], dataDir: dir)
        for i in 0..<5 {
            _ = try KVTool.perform(.put(key: Array("key\(i)".utf8), value: Array("v\(i)".utf8)), backend: backend, settings: c.settings)
        }
    }

    @Test func argumentErrorsExitTwo() throws {
        #expect(try Self.run(["run", "--no-such-flag"]).status == 2)
        #expect(try Self.run(["kv", "put", "--backend", "rocksdb", "--data-dir", "/tmp", "only-a-key"]).status == 2)
        #expect(try Self.run(["inspect", "rocksdb", "/tmp"]).status == 2)
        #expect(try Self.run(["--help"]).status == 0)
    }

    @Test func inspectOfSomethingElseIsNotCorruption() throws {
        for path in ["/etc/passwd", "/nonexistent-orbit"] {
            let r = try Self.run(["inspect", "lsm", path])
            #expect(r.status == 2)
            #expect(r.err.contains("not an lsm store"), "\(r.err)")
            #expect(!r.out.contains("CORRUPTION"))
        }
        try withTemporaryDirectory(prefix: "orbit-cli-inspect") { dir in
            try Self.makeStore(dir, "rocksdb")
            let r = try Self.run(["inspect", "cow", dir + "/rocksdb"])
            #expect(r.status == 2 && r.err.contains("not a cow store: it holds a rocksdb store"), "\(r.err)")
        }
    }

    @Test(arguments: ["lsm", "cow"]) func inspectChangesNoByte(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-cli-inspect-\(backend)") { dir in
            try Self.makeStore(dir, backend)
            let before = DirectorySnapshot.capture(dir)
            let r = try Self.run(["inspect", backend, dir + "/" + backend])
            #expect(r.status == 0, "\(r.out)\(r.err)")
            #expect(DirectorySnapshot.capture(dir).differences(from: before) == [])
        }
    }

    @Test func kvOnAMissingDirectoryIsBadInput() throws {
        let r = try Self.run(["kv", "get", "--backend", "lsm", "--data-dir", "/nonexistent-orbit", "k"])
        #expect(r.status == 2 && r.err.contains("no lsm store here"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent-orbit"))
    }

    @Test func hexRoundTrip() throws {
        try withTemporaryDirectory(prefix: "orbit-cli-hex") { dir in
            #expect(try Self.run(["kv", "put", "--backend", "lmdb", "--data-dir", dir, "--hex", "0x00ff", "0x0a09"]).status == 0)
            let get = try Self.run(["kv", "get", "--backend", "lmdb", "--data-dir", dir, "--hex", "0x00ff"])
            #expect(get.status == 0 && get.out == "0x0a09\n")
            let scan = try Self.run(["kv", "scan", "--backend", "lmdb", "--data-dir", dir])
            #expect(scan.out == "\\x00\\xff\t\\x0a\\x09\n")
            #expect(try Self.run(["kv", "get", "--backend", "lmdb", "--data-dir", dir, "--hex", "0xf"]).status == 2)
        }
    }

    @Test func crashRefusesAnExistingStoreAndUnsupportedMethods() throws {
        try withTemporaryDirectory(prefix: "orbit-cli-crash") { dir in
            try Self.makeStore(dir, "lsm")
            let before = DirectorySnapshot.capture(dir)
            for extra in [[String](), ["--fresh"], ["--reuse"]] {
                let r = try Self.run(["crash", "workloads/crash-recovery.yaml", "--backend", "lsm", "--data-dir", dir, "--out", dir + "/out",
                                      "--set", "cycles=1", "--quiet", "--no-plot"] + extra)
                #expect(r.status == 2, "\(extra): \(r.err)")
            }
            #expect(DirectorySnapshot.capture(dir).differences(from: before) == [])
            let m = try Self.run(["crash", "workloads/crash-recovery.yaml", "--backend", "rocksdb", "--set", "crash_methods=power-loss",
                                  "--out", dir + "/out2", "--quiet", "--no-plot"])
            #expect(m.status == 2 && m.err.contains("does not apply to backend rocksdb"), "\(m.err)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/out2"))
        }
    }

    @Test func ycsbLoadThenRunWorksWithoutExtraFlags() throws {
        try withTemporaryDirectory(prefix: "orbit-cli-ycsb") { dir in
            let common = ["--backend", "lmdb", "--data-dir", dir + "/data", "-p", "operationcount=200", "--quiet"]
            let load = try Self.run(["load", "workloads/ycsb/workloadc", "-p", "recordcount=300", "--out", dir + "/o1"] + common)
            #expect(load.status == 0, "\(load.err)")
            let run = try Self.run(["run", "workloads/ycsb/workloadc", "-p", "recordcount=300", "--out", dir + "/o2"] + common)
            #expect(run.status == 0, "\(run.err)")
            #expect(!run.out.split(separator: "\n").contains { $0.hasPrefix("lmdb ") && $0.contains(" load ") }, "the run loaded again: \(run.out)")
            // not_found is the cell before the last (cpu µs/op): every read found its record.
            #expect(run.out.split(separator: "\n").contains { line in
                let cells = line.split(separator: " ")
                return line.hasPrefix("lmdb ") && line.contains(" run ") && cells.count >= 2 && cells[cells.count - 2] == "0"
            }, "\(run.out)")
            let before = DirectorySnapshot.capture(dir + "/data")
            let more = try Self.run(["run", "workloads/ycsb/workloadc", "-p", "recordcount=3000", "--out", dir + "/o3"] + common)
            #expect(more.status == 2 && more.err.contains("orbit-bench load"), "\(more.err)")
            #expect(DirectorySnapshot.capture(dir + "/data").differences(from: before) == [])
        }
    }
}

extension StoreSafetyCLITests {
    /// A store in a directory the user cannot write can be read (as root permission bits do not stop
    /// writes, this runs the CLI as `nobody` through setpriv; skipped where that is not possible).
    @Test func aStoreInAnUnwritableDirectoryCanBeRead() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        func asNobody(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            try Self.run(["--reuid=65534", "--regid=65534", "--clear-groups", Self.executable] + args, executable: "/usr/bin/setpriv")
        }
        guard try asNobody(["--help"]).status == 0 else { return }  // nobody cannot run the test build
        try withTemporaryDirectory(prefix: "orbit-cli-unwritable") { dir in
            try Self.makeStore(dir, "rocksdb")
            chmod(dir, 0o755)
            let before = DirectorySnapshot.capture(dir)
            let get = try asNobody(["kv", "get", "--backend", "rocksdb", "--data-dir", dir, "key1"])
            #expect(get.status == 0 && get.out == "v1\n", "\(get.err)")
            let put = try asNobody(["kv", "put", "--backend", "rocksdb", "--data-dir", dir, "k", "v"])
            #expect(put.status == 2 && put.err.contains("no write permission"), "\(put.err)")
            #expect(DirectorySnapshot.capture(dir).differences(from: before) == [])
        }
    }
}

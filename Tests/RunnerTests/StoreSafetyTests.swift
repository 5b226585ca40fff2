import Foundation
import OrbitCore
import OrbitTestSupport
import Reports
@testable import Runner
import Testing
import Workloads

/// Issue 13, "Store safety": no command harms a store it was not asked to change. Every check is a
/// byte-identity check (`DirectorySnapshot`: every file's bytes, size and mtime and the listing,
/// lock files aside).
@Suite("Store safety")
struct StoreSafetyTests {
    static let durable = ["lsm", "rocksdb", "lmdb", "cow"]

    static func settings(_ dir: String, _ backend: String, _ sets: [String] = []) throws -> Settings {
        var c = Configuration()
        try c.applyFlags(sets: sets, backends: [backend], dataDir: dir)
        return c.settings
    }

    /// A store of `backend` in `dir/backend` holding a few keys (written through kv put, as a user would).
    static func makeStore(_ dir: String, _ backend: String) throws {
        let s = try settings(dir, backend)
        for i in 0..<5 {
            _ = try KVTool.perform(.put(key: Array("key\(i)".utf8), value: Array("value\(i)".utf8)), backend: backend, settings: s)
        }
    }

    /// Expects `body` to throw an OrbitError with exit status 2 and returns it.
    @discardableResult
    static func expectBadInput(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OrbitError? {
        do {
            try body()
            Issue.record("expected a refusal (exit status 2)", sourceLocation: sourceLocation)
            return nil
        } catch let e as OrbitError {
            #expect(e.exitStatus == 2, "\(e)", sourceLocation: sourceLocation)
            return e
        } catch {
            Issue.record("expected an OrbitError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    // MARK: 1. Wrong engine

    /// Every wrong-engine pair (4 durable owners × 4 other backends, memory included): a read, a write
    /// and a run on another engine's store are refused with exit status 2, naming the owner, and write nothing.
    @Test(arguments: durable) func wrongEngineIsRefusedAndWritesNothing(_ owner: String) throws {
        try withTemporaryDirectory(prefix: "orbit-wrong-\(owner)") { root in
            let home = root + "/home"
            try Self.makeStore(home, owner)
            for other in Self.durable + ["memory"] where other != owner {
                let dir = root + "/" + other
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: home + "/" + owner, toPath: dir + "/" + other)
                let before = DirectorySnapshot.capture(dir)
                let s = try Self.settings(dir, other)
                for action: KVTool.Action in [.get(key: Array("key1".utf8)), .put(key: Array("k".utf8), value: Array("v".utf8)),
                                              .scan(start: nil, end: nil, limit: 0), .stats, .snapshot(.list, name: nil)] {
                    let e = Self.expectBadInput { _ = try KVTool.perform(action, backend: other, settings: s) }
                    if other != "memory" {
                        let article = ["lsm", "lmdb"].contains(owner) ? "an" : "a"
                        #expect(e?.message.contains("holds \(article) \(owner) store (") == true, "\(other) on \(owner): \(e.map { "\($0)" } ?? "")")
                        #expect(e?.message.contains("use --backend \(owner)") == true)
                    }
                }
                if other != "memory" {
                    // run --reuse with the wrong engine: refused before anything is opened.
                    var c = Configuration()
                    try c.applyWorkloadFile(path: "workloads/read-heavy.yaml")
                    try c.applyFlags(sets: ["record_count=10", "operation_count=10", "load=false"], backends: [other], dataDir: dir)
                    var session = BenchmarkSession(configuration: c)
                    session.outputDirectory = root + "/out-\(other)"
                    session.dataPolicy = .reuse
                    session.showStatus = false
                    Self.expectBadInput { _ = try session.run() }
                    session.dataPolicy = .fresh
                    Self.expectBadInput { _ = try session.run() }
                    #expect(!FileManager.default.fileExists(atPath: root + "/out-\(other)"))
                }
                #expect(DirectorySnapshot.capture(dir).differences(from: before) == [], "\(other) on \(owner)'s store")
            }
        }
    }

    @Test func everyRecognizerKnowsOnlyItsOwnStore() throws {
        try withTemporaryDirectory(prefix: "orbit-recognize") { root in
            for owner in Self.durable { try Self.makeStore(root, owner) }
            for owner in Self.durable {
                for b in Self.durable {
                    let r = StoreGuard.recognize(b, at: root + "/" + owner)
                    if b == owner {
                        guard case .ours = r else { Issue.record("\(b) does not recognise its own store: \(r)"); continue }
                    } else {
                        guard case .notOurs = r else { Issue.record("\(b) claims \(owner)'s store: \(r)"); continue }
                    }
                }
                #expect(StoreGuard.recognize(owner, at: root + "/missing") == .empty)
            }
            // Files no engine wrote.
            let junk = root + "/junk"
            try FileManager.default.createDirectory(atPath: junk, withIntermediateDirectories: true)
            try "hello".write(toFile: junk + "/thesis.tex", atomically: false, encoding: .utf8)
            for b in Self.durable { #expect(StoreGuard.recognize(b, at: junk) == .notOurs(found: ["thesis.tex"])) }
        }
    }

    // MARK: 2. Read-only commands

    static func readOnlyActions() -> [KVTool.Action] {
        [.get(key: Array("key1".utf8)), .get(key: Array("absent".utf8)), .scan(start: nil, end: nil, limit: 0),
         .scan(start: Array("z".utf8), end: Array("a".utf8), limit: 0), .stats, .snapshot(.list, name: nil)]
    }

    static func checkReadOnlyCommands(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-ro-\(backend)") { dir in
            try makeStore(dir, backend)
            let s = try settings(dir, backend)
            for action in readOnlyActions() {
                let before = DirectorySnapshot.capture(dir)
                let out = try KVTool.perform(action, backend: backend, settings: s)
                #expect(DirectorySnapshot.capture(dir).differences(from: before) == [], "\(backend) \(action)")
                if case .get(let k) = action, k == Array("key1".utf8) {
                    guard case .value(let v) = out else { Issue.record("no value"); continue }
                    #expect(v == Array("value1".utf8))
                }
            }
            // A write on a read-only open is refused by the engine, too.
            #expect(throws: OrbitError.self) {
                try Engines.withEngine(backend, directory: dir + "/" + backend, settings: s, access: .readOnly, PutOne())
            }
        }
    }

    struct PutOne: EngineBody {
        func run<E: StorageEngine>(_ engine: E) throws { try engine.put(Array("x".utf8), Array("y".utf8)) }
    }

    @Test(arguments: ["rocksdb", "lmdb"]) func readOnlyCommandsChangeNoByte(_ backend: String) throws {
        try Self.checkReadOnlyCommands(backend)
    }

    /// lsm and cow: their read-only modes are written on other branches (the engines ignore `access`
    /// here); enable once those are merged.
    @Test(
          arguments: ["lsm", "cow"])
    func readOnlyCommandsChangeNoByteOnHandWrittenEngines(_ backend: String) throws {
        try Self.checkReadOnlyCommands(backend)
    }

    // MARK: 3. Inputs checked first

    @Test(arguments: durable) func refusedInputsWriteNothing(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-refused-\(backend)") { dir in
            try Self.makeStore(dir, backend)
            let s = try Self.settings(dir, backend)
            let before = DirectorySnapshot.capture(dir)
            Self.expectBadInput { _ = try KVTool.perform(.snapshot(.create, name: "../x"), backend: backend, settings: s) }
            Self.expectBadInput { _ = try KVTool.perform(.snapshot(.create, name: nil), backend: backend, settings: s) }
            Self.expectBadInput { _ = try KVTool.perform(.snapshot(.restore, name: ""), backend: backend, settings: s) }
            Self.expectBadInput { _ = try KVTool.perform(.snapshot(.list, name: "extra"), backend: backend, settings: s) }
            Self.expectBadInput { _ = try KVTool.perform(.scan(start: nil, end: nil, limit: -1), backend: backend, settings: s) }
            let limit = StoreGuard.limits(backend, settings: s).maxKeySize
            if limit < 1 << 20 {
                let key = [UInt8](repeating: 0x61, count: limit + 1)
                Self.expectBadInput { _ = try KVTool.perform(.put(key: key, value: [1]), backend: backend, settings: s) }
                Self.expectBadInput { _ = try KVTool.perform(.get(key: key), backend: backend, settings: s) }
            }
            #expect(DirectorySnapshot.capture(dir).differences(from: before) == [])
        }
    }

    @Test func keySizesBeyondAnEnginesLimitAreRefusedBeforeFreshDeletes() throws {
        try withTemporaryDirectory(prefix: "orbit-limits") { root in
            for (backend, keySize) in [("lmdb", 4096), ("cow", 4096)] {
                try Self.makeStore(root, backend)
                let before = DirectorySnapshot.capture(root)
                var c = Configuration()
                try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
                try c.applyFlags(sets: ["record_count=10", "operation_count=10", "key_size=\(keySize)"], backends: [backend], dataDir: root)
                var session = BenchmarkSession(configuration: c)
                session.outputDirectory = root + "/out"
                session.dataPolicy = .fresh
                session.showStatus = false
                let e = Self.expectBadInput { _ = try session.run() }
                #expect(e?.message.contains("\(keySize)-byte key") == true)
                #expect(DirectorySnapshot.capture(root).differences(from: before) == [])
            }
            #expect(StoreGuard.limits("lmdb", settings: try Self.settings(root, "lmdb")).maxKeySize == 510)
        }
    }

    // MARK: 5. --fresh deletes only a store of that engine

    @Test func freshDeletesOnlyTheEnginesOwnStore() throws {
        try withTemporaryDirectory(prefix: "orbit-fresh") { root in
            func session(_ backend: String) throws -> BenchmarkSession {
                var c = Configuration()
                try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
                try c.applyFlags(sets: ["record_count=20", "operation_count=20", "warmup_ops=0"], backends: [backend], dataDir: root)
                var s = BenchmarkSession(configuration: c)
                s.outputDirectory = root + "/out-\(backend)-\(UInt32.random(in: 0...UInt32.max))"
                s.dataPolicy = .fresh
                s.showStatus = false
                return s
            }
            // A user's file where the store would be: refused, kept.
            try FileManager.default.createDirectory(atPath: root + "/lsm", withIntermediateDirectories: true)
            try "\\documentclass{article}".write(toFile: root + "/lsm/thesis.tex", atomically: false, encoding: .utf8)
            var before = DirectorySnapshot.capture(root)
            let e = Self.expectBadInput { _ = try session("lsm").run() }
            #expect(e?.message.contains("thesis.tex") == true)
            #expect(DirectorySnapshot.capture(root).differences(from: before) == [])
            // A store with a stranger beside it: refused, nothing deleted.
            try Self.makeStore(root, "rocksdb")
            try "notes".write(toFile: root + "/rocksdb/notes.txt", atomically: false, encoding: .utf8)
            before = DirectorySnapshot.capture(root)
            let e2 = Self.expectBadInput { _ = try session("rocksdb").run() }
            #expect(e2?.message.contains("notes.txt") == true)
            #expect(DirectorySnapshot.capture(root).differences(from: before) == [])
            // The engine's own store alone: deleted and made again.
            try Self.makeStore(root, "lmdb")
            let r = try session("lmdb").run()
            #expect(r.backends[0].errors.isEmpty)
            #expect(r.backends[0].finalStats.totalKeys >= 20)
            let left = try KVTool.perform(.get(key: Array("key1".utf8)), backend: "lmdb", settings: try Self.settings(root, "lmdb"))
            guard case .value(let v) = left else { Issue.record("no output"); return }
            #expect(v == nil)  // the old store was deleted by --fresh
        }
    }

    // MARK: 6. No mixed results

    @Test func anOutDirectoryWithAnEarlierRunNeedsOverwrite() throws {
        try withTemporaryDirectory(prefix: "orbit-out") { root in
            let out = root + "/out"
            func session(_ backends: [String]) throws -> BenchmarkSession {
                var c = Configuration()
                try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
                try c.applyFlags(sets: ["record_count=50", "operation_count=50", "warmup_ops=0"], backends: backends, dataDir: nil)
                var s = BenchmarkSession(configuration: c)
                s.outputDirectory = out
                s.showStatus = false
                return s
            }
            _ = try session(["memory", "rocksdb"]).run()
            #expect(FileManager.default.fileExists(atPath: out + "/latency-rocksdb-load.hgrm"))
            let before = DirectorySnapshot.capture(out)
            var again = try session(["memory"])
            let e = Self.expectBadInput { _ = try again.run() }
            #expect(e?.message.contains("earlier run") == true)
            #expect(DirectorySnapshot.capture(out).differences(from: before) == [])
            again.overwrite = true
            again.dataPolicy = .fresh
            _ = try again.run()
            // No file of the earlier run is left to mix with the new one.
            #expect(!FileManager.default.fileExists(atPath: out + "/latency-rocksdb-load.hgrm"))
            #expect(!FileManager.default.fileExists(atPath: out + "/interval-rocksdb-load.csv"))
            #expect(FileManager.default.fileExists(atPath: out + "/latency-memory-load.hgrm"))
            // --overwrite never deletes what orbit-bench did not write.
            try "mine".write(toFile: out + "/thesis.tex", atomically: false, encoding: .utf8)
            let withUserFile = DirectorySnapshot.capture(out)
            let e2 = Self.expectBadInput { _ = try again.run() }
            #expect(e2?.message.contains("thesis.tex") == true)
            #expect(DirectorySnapshot.capture(out).differences(from: withUserFile) == [])
        }
    }

    // MARK: 8. Messages

    @Test func dataDirectoryProblemsAreBadInputWithClearMessages() throws {
        try withTemporaryDirectory(prefix: "orbit-datadir") { root in
            let file = root + "/a-file"
            try "x".write(toFile: file, atomically: false, encoding: .utf8)
            for b in Self.durable {
                let e = Self.expectBadInput { _ = try KVTool.perform(.get(key: [1]), backend: b, settings: try Self.settings(file, b)) }
                #expect(e?.message == "\(file) is a file, not a directory")
                let e2 = Self.expectBadInput { _ = try KVTool.perform(.put(key: [1], value: [2]), backend: b, settings: try Self.settings(file, b)) }
                #expect(e2?.message == "\(file) is a file, not a directory")
                let missing = Self.expectBadInput { _ = try KVTool.perform(.stats, backend: b, settings: try Self.settings(root + "/nope", b)) }
                #expect(missing?.message.contains("no \(b) store here") == true)
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/nope"))
        }
    }

    // MARK: 9. Honest tables

    @Test func notFoundReadsShowInTheTableAndMoveNoBytes() throws {
        try withTemporaryDirectory(prefix: "orbit-notfound") { root in
            var c = Configuration()
            try c.applyWorkloadFile(path: "workloads/read-heavy.yaml")
            try c.applyFlags(sets: ["record_count=100", "operation_count=200", "warmup_ops=0", "load=false", "mix.read=1", "mix.update=0"],
                             backends: ["memory"], dataDir: nil)
            var s = BenchmarkSession(configuration: c)
            s.outputDirectory = root + "/out"
            s.showStatus = false
            let r = try s.run()
            let get = try #require(r.backends[0].operations.first { $0.phase == "run" && $0.operation.name == "get" })
            #expect(get.notFound == get.count && get.count == 200)
            #expect(get.mbPerSecond == 0)
            let table = SummaryTable.render(r)
            #expect(table.contains("not_found"))
            let row = try #require(table.split(separator: "\n").first { $0.hasPrefix("memory") && $0.contains(" get ") })
            // The not_found cell, before the last one (cpu µs/op).
            let cells = row.split(separator: " ")
            #expect(cells.count >= 2 && cells[cells.count - 2] == "200", "\(row)")
        }
    }

    @Test func aPhaseInWhichEveryOperationFailedKeepsItsRow() throws {
        try withTemporaryDirectory(prefix: "orbit-allfail") { root in
            var c = Configuration()
            try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
            // A 1 MiB map cannot hold a 1 MiB value: every insert fails with "map full".
            try c.applyFlags(sets: ["record_count=5", "operation_count=0", "run=false", "value_size=1048000", "lmdb.map_size_mb=1"],
                             backends: ["lmdb"], dataDir: nil)
            var s = BenchmarkSession(configuration: c)
            s.outputDirectory = root + "/out"
            s.showStatus = false
            let r = try s.run()
            let load = try #require(r.backends[0].operations.first { $0.phase == "load" })
            #expect(load.count == 0 && load.errors == 5)
            let csv = try String(contentsOfFile: root + "/out/summary.csv", encoding: .utf8)
            #expect(csv.split(separator: "\n").contains { $0.hasPrefix("lmdb,") && $0.contains(",load,5,") })
            #expect(SummaryTable.render(r).split(separator: "\n").contains { $0.hasPrefix("lmdb") && $0.contains("load") })
        }
    }

    // MARK: 10. YCSB's habit, --reuse never reloads

    @Test func reuseWithTheLoadPhaseOnIsRefused() throws {
        try withTemporaryDirectory(prefix: "orbit-reuse") { root in
            try Self.makeStore(root, "rocksdb")
            let before = DirectorySnapshot.capture(root)
            var c = Configuration()
            try c.applyWorkloadFile(path: "workloads/write-heavy.yaml")
            try c.applyFlags(sets: ["record_count=10", "operation_count=10"], backends: ["rocksdb"], dataDir: root)
            var s = BenchmarkSession(configuration: c)
            s.outputDirectory = root + "/out"
            s.dataPolicy = .reuse
            s.showStatus = false
            let e = Self.expectBadInput { _ = try s.run() }
            #expect(e?.message.contains("load the records again") == true)
            #expect(DirectorySnapshot.capture(root).differences(from: before) == [])
        }
    }

    @Test func aRunWithoutLoadNeedsTheRecords() throws {
        try withTemporaryDirectory(prefix: "orbit-records") { root in
            func session(_ sets: [String]) throws -> BenchmarkSession {
                var c = Configuration()
                try c.applyPropertyFiles(["workloads/ycsb/workloadc"], overrides: ["recordcount=100", "operationcount=100"])
                try c.applyFlags(sets: sets, backends: ["lmdb"], dataDir: root)
                var s = BenchmarkSession(configuration: c)
                s.outputDirectory = root + "/out-\(UInt32.random(in: 0...UInt32.max))"
                s.showStatus = false
                return s
            }
            // `load`: the load phase only, into the data dir.
            _ = try session(["run=false", "load=true"]).run()
            let loaded = DirectorySnapshot.capture(root + "/lmdb")
            // `run`: the transaction phase on the loaded store.
            var run = try session(["load=false"])
            run.dataPolicy = .reuse
            let r = try run.run()
            let get = try #require(r.backends[0].operations.first { $0.phase == "run" })
            #expect(get.notFound == 0 && get.count == 100)
            // More records than were loaded: refused with a hint to load first, nothing written.
            var more = try session(["load=false", "record_count=1000"])
            more.dataPolicy = .reuse
            let after = DirectorySnapshot.capture(root + "/lmdb")
            let e = Self.expectBadInput { _ = try more.run() }
            #expect(e?.hint?.contains("orbit-bench load") == true)
            #expect(DirectorySnapshot.capture(root + "/lmdb").differences(from: after) == [])
            _ = loaded
        }
    }

    // MARK: 11. Binary keys

    @Test func hexKeysAndUnambiguousPrinting() throws {
        #expect(try KVTool.parseBytes("0x00ff10", hex: true, what: "KEY") == [0x00, 0xff, 0x10])
        #expect(try KVTool.parseBytes("00FF", hex: true, what: "KEY") == [0x00, 0xff])
        #expect(throws: OrbitError.self) { try KVTool.parseBytes("0x0", hex: true, what: "KEY") }
        #expect(throws: OrbitError.self) { try KVTool.parseBytes("zz", hex: true, what: "KEY") }
        #expect(KVTool.formatBytes([0x00, 0xff], hex: true) == "0x00ff")
        #expect(KVTool.formatBytes(Array("0x41".utf8), hex: false) == "0x41")
        #expect(KVTool.formatBytes([0x41], hex: false) == "A")
        #expect(KVTool.formatBytes([0x09, 0x5c, 0x0a], hex: false) == "\\x09\\\\\\x0a")
        try withTemporaryDirectory(prefix: "orbit-hex") { root in
            let s = try Self.settings(root, "rocksdb")
            let key = try KVTool.parseBytes("0x00ff", hex: true, what: "KEY")
            _ = try KVTool.perform(.put(key: key, value: [0x0a, 0x00]), backend: "rocksdb", settings: s)
            guard case .entries(let rows) = try KVTool.perform(.scan(start: [0x00], end: nil, limit: 0), backend: "rocksdb", settings: s)
            else { Issue.record("no rows"); return }
            #expect(rows.map { KVTool.formatBytes($0.key, hex: true) } == ["0x00ff"])
            #expect(rows.map { KVTool.formatBytes($0.value, hex: false) } == ["\\x0a\\x00"])
        }
    }
}

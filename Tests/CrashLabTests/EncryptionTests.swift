#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import CrashLab
import OrbitCore
import OrbitTestSupport
import Runner
import Workloads

/// Encryption at rest (`encryption_key_path`, docs/formats/encryption.md) for the file-layer
/// engines: no plaintext on disk, the key file's mode, a wrong or missing key, and the kill,
/// power-loss and corruption sweeps on encrypted stores.
@Suite(.serialized) struct EncryptionTests {
    static let engines = ["lsm", "cow"]
    static let secretKey = Array("orbit-secret-key-0001".utf8)
    static let secretValue = Array("the-plaintext-value-XYZZY-0123456789-abcdefghijklmnop".utf8)

    /// A key file of 32 seeded bytes with `mode` in `dir`.
    static func keyFile(_ dir: String, mode: mode_t = 0o600, seed: UInt64 = 1) throws -> String {
        let path = joinPath(dir, "key-\(seed)")
        var rng = SeededRNG(seed: seed)
        try POSIXFileSystem().writeFileAtomically(path, rng.bytes(32))
        #expect(chmod(path, mode) == 0)
        return path
    }

    static func settings(key: String?, durability: String = "every-write") throws -> Settings {
        var s = Settings(knobs: CoreKnobs.all + Engines.allKnobs + CrashKnobs.all)
        try s.set("durability", text: durability, from: .api)
        try s.set("lsm.memtable_size_mb", text: "1", from: .api)
        if let key { try s.set(CoreKnobs.encryptionKeyPath, text: key, from: .flag("--set encryption_key_path")) }
        return s
    }

    struct WriteSecret: EngineBody {
        func run<E: StorageEngine>(_ e: E) throws {
            try e.put(EncryptionTests.secretKey, EncryptionTests.secretValue)
            // Enough more to flush lsm's 1 MiB memtable into a table: the pair in a table and a log.
            var rng = SeededRNG(seed: 99)
            for i in 0..<14_000 { try e.put(Array("filler-\(i)".utf8), rng.bytes(100)) }
            try e.put(EncryptionTests.secretKey, EncryptionTests.secretValue)
            try e.sync()
        }
    }

    struct ReadSecret: EngineBody {
        func run<E: StorageEngine>(_ e: E) throws -> [UInt8]? { try e.get(EncryptionTests.secretKey) }
    }

    /// Every file below `dir` (raw bytes), and whether any holds `needle`.
    static func filesContain(_ dir: String, _ needle: [UInt8]) throws -> [String] {
        let fs = POSIXFileSystem()
        return try StoreLayout.listFiles(fs, dir, "").filter { rel in
            let bytes = try fs.readFile(joinPath(dir, rel))
            guard bytes.count >= needle.count else { return false }
            return bytes.withUnsafeBytes { b in
                needle.withUnsafeBytes { n in
                    for i in 0...(b.count - n.count) where memcmp(b.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                    return false
                }
            }
        }
    }

    @Test(arguments: engines)
    func noPlaintextOnDisk(_ engine: String) throws {
        try withTemporaryDirectory { dir in
            let key = try Self.keyFile(dir)
            // Plain first: the search finds both, so the test can fail.
            let plain = joinPath(dir, "plain")
            try Engines.withEngine(engine, directory: plain, settings: Self.settings(key: nil), WriteSecret())
            #expect(try !Self.filesContain(plain, Self.secretKey).isEmpty, "\(engine): the plain store should hold the key")
            #expect(try !Self.filesContain(plain, Self.secretValue).isEmpty, "\(engine): the plain store should hold the value")

            let store = joinPath(dir, "encrypted")
            let settings = try Self.settings(key: key)
            try Engines.withEngine(engine, directory: store, settings: settings, WriteSecret())
            let files = try StoreLayout.listFiles(POSIXFileSystem(), store, "")
            #expect(files.count >= 2, "\(engine): \(files)")
            #expect(try Self.filesContain(store, Self.secretKey) == [], "\(engine): plaintext key on disk")
            #expect(try Self.filesContain(store, Self.secretValue) == [], "\(engine): plaintext value on disk")
            #expect(try Engines.withEngine(engine, directory: store, settings: settings, ReadSecret()) == Self.secretValue)
            // The store is still recognised as the engine's (without its key).
            if case .ours = StoreGuard.recognize(engine, at: store) {} else {
                Issue.record("\(engine): the encrypted store is not recognised: \(StoreGuard.recognize(engine, at: store))")
            }
            // And inspect verifies it through the key.
            let d = try Engines.descriptor(engine)
            let report = try Engines.inspect(d, directory: store, settings: settings)
            #expect(report.ok, "\(report.lines)")
        }
    }

    @Test(arguments: engines)
    func wrongOrMissingKeyIsAClearErrorAndWritesNothing(_ engine: String) throws {
        try withTemporaryDirectory { dir in
            let right = try Self.keyFile(dir, seed: 1)
            let wrong = try Self.keyFile(dir, seed: 2)
            let store = joinPath(dir, "store")
            try Engines.withEngine(engine, directory: store, settings: Self.settings(key: right), WriteSecret())
            let before = DirectorySnapshot.capture(store)
            for (key, what) in [(wrong, "wrong encryption key for "), (nil, "the store is encrypted, and no key was given")] {
                do {
                    try Engines.withEngine(engine, directory: store, settings: Self.settings(key: key), ReadSecret())
                    Issue.record("\(engine): opened with \(key ?? "no key")")
                } catch let e as OrbitError {
                    #expect(e.exitStatus == 2, "\(e)")
                    #expect(e.message.contains(what), "\(e)")
                }
                do {
                    _ = try Engines.inspect(Engines.descriptor(engine), directory: store, settings: Self.settings(key: key))
                    Issue.record("\(engine): inspected with \(key ?? "no key")")
                } catch let e as OrbitError {
                    #expect(e.exitStatus == 2 && e.message.contains(what), "\(e)")
                }
            }
            #expect(DirectorySnapshot.capture(store).differences(from: before) == [], "\(engine): a refused open changed the store")
            // A plain store opened with a key: refused, not read as garbage.
            let plain = joinPath(dir, "plain")
            try Engines.withEngine(engine, directory: plain, settings: Self.settings(key: nil), WriteSecret())
            do {
                try Engines.withEngine(engine, directory: plain, settings: Self.settings(key: right), ReadSecret())
                Issue.record("\(engine): a plain store opened with a key")
            } catch let e as OrbitError {
                #expect(e.exitStatus == 2 && e.message.contains("not encrypted"), "\(e)")
            }
        }
    }

    @Test func keyFileModeIsChecked() throws {
        try withTemporaryDirectory { dir in
            let open = try Self.keyFile(dir, mode: 0o644)
            do {
                try Engines.validate("lsm", settings: Self.settings(key: open))
                Issue.record("a 0644 key file was accepted")
            } catch let e as OrbitError {
                #expect(e.exitStatus == 2 && e.location == open && e.message.contains("mode 0644"), "\(e)")
            }
            #expect(!POSIXFileSystem().isDirectory(joinPath(dir, "store")))
            let closed = try Self.keyFile(dir, mode: 0o600, seed: 3)
            try Engines.validate("lsm", settings: Self.settings(key: closed))
            // An engine that does its own I/O cannot take a key.
            do {
                try Engines.validate("memory", settings: Self.settings(key: closed))
                Issue.record("memory accepted encryption_key_path")
            } catch let e as OrbitError {
                #expect(e.exitStatus == 2 && e.message.contains("does its own I/O"), "\(e)")
            }
        }
    }

    @Test(arguments: engines)
    func powerLossSweepOnEncryptedStores(_ engine: String) throws {
        try withTemporaryDirectory { dir in
            let key = try Self.keyFile(dir)
            for mode: DurabilityMode in [.everyWrite, .none] {
                let seed: UInt64 = 0xE5C_0001 &+ UInt64(mode.description.utf8.count)
                let context = CrashSweepContext(engine: engine, durability: mode, settings: try Self.settings(key: key, durability: mode.description),
                                                seed: seed, count: 24, workDirectory: "/unused")
                var records: [CrashRecord] = []
                try PowerLossSweep.run(context) { records.append($0) }
                #expect(records.count == 24)
                for r in records where r.verdict == .broken {
                    Issue.record("seed \(seed): \(CrashCSV.row(r.csvCells))")
                }
                #expect(records.contains { $0.opsAcknowledged > 0 }, "seed \(seed)")
                #expect(records.allSatisfy { $0.detail.contains("encrypted") }, "seed \(seed): \(records.first?.detail ?? "")")
            }
        }
    }

    @Test(arguments: engines)
    func corruptionSweepOnEncryptedStores(_ engine: String) throws {
        let seed: UInt64 = 0xC0FFEE
        let tmp = try TemporaryDirectory(prefix: "corrupt-enc-\(engine)")
        let key = try Self.keyFile(tmp.path)
        var context = corruptionContext(engine, seed: seed, count: 60, dir: joinPath(tmp.path, "work"))
        try context.settings.set(CoreKnobs.encryptionKeyPath, text: key, from: .api)
        var probes: [CorruptionProbe] = []
        let summary = try CorruptionSweep.sweep(context, options: CorruptionSweep.options(for: context)) { probes.append($0) }
        print(CorruptionSummary.renderTable([summary]))
        #expect(probes.count >= 30, "seed \(seed)")
        let types = Set(probes.map(\.fileType))
        if engine == "lsm" { #expect(types.isSuperset(of: ["wal", "sstable", "manifest"]), "seed \(seed): \(types)") }
        else { #expect(types.isSuperset(of: ["data-page"]), "seed \(seed): \(types)") }
        for p in probes where (p.outcome == .silent && p.checksummed) || p.outcome == .crash || p.outcome == .hang {
            Issue.record("seed \(seed): \(CorruptionCSV.row(p))")
        }
        #expect(probes.contains { $0.outcome == .detected }, "seed \(seed): nothing detected: the damage missed the plaintext")
    }

    static func cli(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KillSweepTests.executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e)
    }

    /// `inspect` and `export` take the key (flag or variable); a wrong key or an open key file is
    /// exit 2 with the reason, and nothing is written.
    @Test(arguments: engines)
    func inspectAndExportTakeTheKey(_ engine: String) throws {
        try withTemporaryDirectory { dir in
            let key = try Self.keyFile(dir, seed: 1)
            let wrong = try Self.keyFile(dir, seed: 2)
            let data = joinPath(dir, "data")
            let store = joinPath(data, engine)
            try Engines.withEngine(engine, directory: store, settings: Self.settings(key: key), WriteSecret())
            let before = DirectorySnapshot.capture(store)

            var r = try Self.cli(["inspect", engine, store, "--encryption-key-path", key])
            #expect(r.status == 0, "\(r.out)\n\(r.err)")
            r = try Self.cli(["inspect", engine, store, "--encryption-key-path", wrong])
            #expect(r.status == 2 && (r.out + r.err).contains("wrong encryption key for"), "\(r.out)\n\(r.err)")
            r = try Self.cli(["inspect", engine, store], environment: ["ORBIT_ENCRYPTION_KEY_PATH": key])
            #expect(r.status == 0, "\(r.out)\n\(r.err)")
            r = try Self.cli(["inspect", engine, store])
            #expect(r.status == 2 && (r.out + r.err).contains("the store is encrypted"), "\(r.out)\n\(r.err)")

            let export = joinPath(dir, "out.export")
            r = try Self.cli(["export", "--backend", engine, "--data-dir", data, "--output", export, "--encryption-key-path", key])
            #expect(r.status == 0 && r.out.contains("exported 14001 records"), "\(r.out)\n\(r.err)")
            let wrongExport = joinPath(dir, "wrong.export")
            r = try Self.cli(["export", "--backend", engine, "--data-dir", data, "--output", wrongExport, "--set", "encryption_key_path=\(wrong)"])
            #expect(r.status == 2 && r.err.contains("wrong encryption key for"), "\(r.out)\n\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: wrongExport))
            #expect(chmod(key, 0o644) == 0)
            r = try Self.cli(["export", "--backend", engine, "--data-dir", data, "--output", wrongExport, "--encryption-key-path", key])
            #expect(r.status == 2 && r.err.contains("group or others") && r.err.contains(key), "\(r.out)\n\(r.err)")
            #expect(DirectorySnapshot.capture(store).differences(from: before) == [], "\(engine)")
        }
    }

    /// The kill sweep through the executable, encrypted: every acknowledged write back.
    @Test func killSweepOnEncryptedStores() throws {
        let dir = try TemporaryDirectory(prefix: "kill-enc")
        let key = try Self.keyFile(dir.path)
        let r = try KillSweepTests.crash(["--backend", "lsm", "--backend", "cow", "--method", "kill",
                                          "--set", "cycles=6", "--set", "record_count=300", "--set", "kill_after_ops.max=30",
                                          "--encryption-key-path", key, "--seed", "42"])
        defer { try? FileManager.default.removeItem(atPath: r.dir) }
        #expect(r.status == 0, "seed 42\n\(r.out)\n\(r.err)")
        let rows = try KillSweepTests.records(r.dir)
        for engine in Self.engines {
            let mine = rows.filter { $0["engine"] == engine }
            #expect(mine.count == 6, "seed 42: \(engine) ran \(mine.count) cycles\n\(r.out)")
            #expect(mine.allSatisfy { $0["verdict"] == "ok" && $0["lost_synced"] == "0" && $0["resurrected"] == "0" }, "seed 42\n\(r.out)")
            #expect(mine.map { Int($0["ops_acknowledged"]!)! }.reduce(0, +) > 0)
        }
    }
}

import Foundation
import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// Issue 20 item 2: export, import and validate (docs/formats/export.md). Round trips across
/// engines, byte-identical re-exports, read-only exports (every file hashed before and after),
/// damaged and truncated files refused naming the offset with nothing written, non-empty stores.
@Suite("Export, import, validate", .serialized)
struct TransferTests {
    /// The built-in durable backends (not an engine another suite registered in this process: the
    /// CLI tests run the executable, which knows only the built-in ones).
    static let durable = Engines.builtinNames.filter { Engines.capabilities($0)?.isSuperset(of: [.durable, .atomicBatches]) == true }
    static let embedded = durable.filter { Engines.capabilities($0)?.contains(.server) == false }

    static func settings(_ backend: String, _ dataDir: String) throws -> Settings {
        var c = Configuration()
        try c.applyFlags(sets: [], backends: [backend], dataDir: dataDir)
        return c.settings
    }

    /// A seeded data set within every durable engine's limits: binary keys (the empty key too),
    /// values from empty to larger than a chunk, so one record gets a chunk of its own.
    static func dataSet(_ test: String, count: Int = 600, big: Bool = true) -> [(key: [UInt8], value: [UInt8])] {
        var rng = TestSeed.rng(test, default: 2020)
        var maxKey = Int.max, maxValue = Int.max
        for b in durable {
            let l = StoreGuard.limits(b, settings: (try? settings(b, "/tmp")) ?? Settings(knobs: []))
            maxKey = min(maxKey, l.maxKeySize)
            maxValue = min(maxValue, l.maxValueSize)
        }
        var entries: [[UInt8]: [UInt8]] = [[]: Array("the empty key".utf8)]
        while entries.count < count {
            let k = rng.bytes(min(maxKey, 1 + Int(rng.next() % 40)))
            entries[k] = rng.bytes(Int(rng.next() % 300))
        }
        if big { entries[Array("big".utf8)] = rng.bytes(min(maxValue, ExportFormat.chunkTarget * 2 + 17)) }
        return entries.map { ($0.key, $0.value) }.sorted { compareBytes($0.key, $1.key) < 0 }
    }

    static func fill(_ backend: String, _ dataDir: String, _ data: [(key: [UInt8], value: [UInt8])]) throws {
        let s = try settings(backend, dataDir)
        let dir = dataDir + "/" + backend
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Engines.withEngine(backend, directory: dir, settings: s, Fill(data: data))
    }

    struct Fill: EngineBody {
        let data: [(key: [UInt8], value: [UInt8])]
        func run<E: StorageEngine>(_ engine: E) throws {
            var batch = WriteBatch()
            for (k, v) in data { batch.put(k, v) }
            try engine.write(batch)
        }
    }

    /// The file after its header: the chunks and the trailer, which depend only on the entries.
    static func records(_ path: String) throws -> [UInt8] {
        let bytes = try POSIXFileSystem().readFile(path)
        let text = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian) }
        return Array(bytes[(16 + text + 4)...])
    }

    @Test func roundTripsAcrossEveryEmbeddedPair() throws {
        let data = Self.dataSet("roundTripsAcrossEveryEmbeddedPair")
        try withTemporaryDirectory(prefix: "orbit-transfer-pairs") { dir in
            var exports: [String: String] = [:]
            for source in Self.embedded {
                try Self.fill(source, dir + "/src-\(source)", data)
                let file = dir + "/\(source).export"
                let s = try Transfer.export(backend: source, settings: Self.settings(source, dir + "/src-\(source)"), output: file)
                #expect(s.records == UInt64(data.count))
                exports[source] = file
            }
            let reference = try Self.records(exports[Self.embedded[0]]!)
            for source in Self.embedded {
                #expect(try Self.records(exports[source]!) == reference, "\(source)'s export differs from \(Self.embedded[0])'s")
                for target in Self.embedded where target != source {
                    let d = dir + "/\(source)-to-\(target)"
                    let s = try Self.settings(target, d)
                    let r = try Transfer.importFile(backend: target, settings: s, input: exports[source]!)
                    #expect(r.records == UInt64(data.count) && r.sourceEngine == source)
                    let v = try Transfer.validate(backend: target, settings: s, against: exports[source]!)
                    #expect(v.mismatch == nil && v.matched == UInt64(data.count), "\(source) → \(target): \(String(describing: v.mismatch))")
                    let again = d + "/re.export"
                    try Transfer.export(backend: target, settings: s, output: again)
                    #expect(try Self.records(again) == reference, "\(source) → \(target): the re-export is not byte-identical")
                    let vs = try Transfer.validate(backend: target, settings: s, againstBackend: source,
                                                   againstSettings: Self.settings(source, dir + "/src-\(source)"))
                    #expect(vs.mismatch == nil && vs.matched == UInt64(data.count))
                }
            }
        }
    }

    /// Every durable backend, servers included, in one chain: each imports the previous one's export
    /// and re-exports it byte-identically (the records part of a file depends only on the entries, so
    /// the chain covers every pair: any engine's export is the same input to every other).
    @Test func chainThroughEveryDurableBackend() throws {
        let data = Self.dataSet("chainThroughEveryDurableBackend", count: 300)
        let chain = Self.durable + [Self.durable[0]]
        try withTemporaryDirectory(prefix: "orbit-transfer-chain") { dir in
            try Self.fill(chain[0], dir + "/0", data)
            var file = dir + "/0.export"
            try Transfer.export(backend: chain[0], settings: Self.settings(chain[0], dir + "/0"), output: file)
            let reference = try Self.records(file)
            for (i, target) in chain.enumerated().dropFirst() {
                let s = try Self.settings(target, dir + "/\(i)")
                try Transfer.importFile(backend: target, settings: s, input: file)
                #expect(try Transfer.validate(backend: target, settings: s, against: file).mismatch == nil, "\(target)")
                file = dir + "/\(i).export"
                try Transfer.export(backend: target, settings: s, output: file)
                #expect(try Self.records(file) == reference, "\(chain[i - 1]) → \(target): the re-export is not byte-identical")
                #expect(try ExportReader(path: file).header.sourceEngine == target)
            }
        }
    }

    @Test(arguments: embedded) func exportChangesNoByte(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-transfer-ro-\(backend)") { dir in
            try Self.fill(backend, dir + "/data", Self.dataSet("exportChangesNoByte", count: 200))
            let before = DirectorySnapshot.capture(dir + "/data")
            try Transfer.export(backend: backend, settings: Self.settings(backend, dir + "/data"), output: dir + "/x.export")
            _ = try Transfer.validate(backend: backend, settings: Self.settings(backend, dir + "/data"), against: dir + "/x.export")
            #expect(DirectorySnapshot.capture(dir + "/data").differences(from: before) == [])
            // A second export never replaces the first.
            #expect(throws: OrbitError.self) {
                try Transfer.export(backend: backend, settings: Self.settings(backend, dir + "/data"), output: dir + "/x.export")
            }
        }
    }

    /// Truncated at every offset of the header and at seeded offsets after it, and one byte flipped at
    /// seeded offsets: `import` refuses (exit status 2, the offset named) and writes nothing;
    /// verifying the file reports corruption.
    @Test func damagedFilesAreRefusedBeforeAnythingIsWritten() throws {
        var rng = TestSeed.rng("damagedFilesAreRefusedBeforeAnythingIsWritten", default: 7)
        try withTemporaryDirectory(prefix: "orbit-transfer-damage") { dir in
            let source = Self.embedded[0]
            try Self.fill(source, dir + "/src", Self.dataSet("damaged", count: 200, big: false))
            let good = dir + "/good.export"
            try Transfer.export(backend: source, settings: Self.settings(source, dir + "/src"), output: good)
            let bytes = try POSIXFileSystem().readFile(good)
            var cuts = Array(0..<40)
            for _ in 0..<40 { cuts.append(Int(rng.next() % UInt64(bytes.count))) }
            cuts.append(bytes.count - 1)
            var flips: [Int] = []
            for _ in 0..<60 { flips.append(Int(rng.next() % UInt64(bytes.count))) }
            var damaged: [(String, [UInt8])] = cuts.map { ("truncated at \($0)", Array(bytes[0..<$0])) }
            damaged += flips.map { at in
                var b = bytes
                b[at] ^= UInt8(1 + rng.next() % 255)
                return ("byte \(at) flipped", b)
            }
            damaged.append(("a byte appended", bytes + [0]))
            let target = Self.embedded[1]
            let s = try Self.settings(target, dir + "/t")
            for (i, (what, content)) in damaged.enumerated() {
                let file = dir + "/bad\(i).export"
                #expect(FileManager.default.createFile(atPath: file, contents: Data(content)))  // no fsync: a test file
                do {
                    try Transfer.importFile(backend: target, settings: s, input: file)
                    Issue.record("\(what): imported")
                } catch let e as OrbitError {
                    #expect(e.exitStatus == 2, "\(what): \(e)")
                    #expect(e.location?.contains("@ offset") == true, "\(what): \(e)")
                }
                #expect(!FileManager.default.fileExists(atPath: dir + "/t"), "\(what): the import wrote something")
                #expect(throws: OrbitError.self, "\(what)") { try Transfer.verifyFile(file) }
            }
        }
    }

    @Test func nonEmptyAndForeignStoresAreRefusedUnlessMerge() throws {
        let (a, b) = (Self.embedded[0], Self.embedded[1])
        try withTemporaryDirectory(prefix: "orbit-transfer-merge") { dir in
            let data = Self.dataSet("merge", count: 50)
            try Self.fill(a, dir + "/src", data)
            let file = dir + "/x.export"
            try Transfer.export(backend: a, settings: Self.settings(a, dir + "/src"), output: file)
            try Self.fill(b, dir + "/dst", [(Array("zz-only-here".utf8), Array("mine".utf8))])
            let before = DirectorySnapshot.capture(dir + "/dst")
            let s = try Self.settings(b, dir + "/dst")
            #expect { try Transfer.importFile(backend: b, settings: s, input: file) } throws: { e in
                (e as? OrbitError)?.exitStatus == 2 && "\(e)".contains("not empty")
            }
            #expect(DirectorySnapshot.capture(dir + "/dst").differences(from: before) == [])
            // Another engine's store under the target's name is refused too.
            try FileManager.default.moveItem(atPath: dir + "/src/" + a, toPath: dir + "/foreign")
            try FileManager.default.createDirectory(atPath: dir + "/f", withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: dir + "/foreign", toPath: dir + "/f/" + b)
            #expect(throws: OrbitError.self) { try Transfer.importFile(backend: b, settings: Self.settings(b, dir + "/f"), input: file) }
            // --merge adds the export's entries; validate then reports the extra key as the mismatch.
            let r = try Transfer.importFile(backend: b, settings: s, input: file, merge: true)
            #expect(r.records == UInt64(data.count))
            let v = try Transfer.validate(backend: b, settings: s, against: file)
            #expect(v.mismatch == Transfer.Mismatch(key: Array("zz-only-here".utf8), expected: nil, found: Array("mine".utf8)))
        }
    }

    @Test func validateReportsTheFirstMismatch() throws {
        let (a, b) = (Self.embedded[0], Self.embedded[2 % Self.embedded.count])
        try withTemporaryDirectory(prefix: "orbit-transfer-mismatch") { dir in
            var data = Self.dataSet("validateReportsTheFirstMismatch", count: 100)
            try Self.fill(a, dir + "/a", data)
            let changed = data[40].key
            data[40].value = Array("changed".utf8)
            data.remove(at: 70)
            try Self.fill(b, dir + "/b", data)
            let v = try Transfer.validate(backend: b, settings: Self.settings(b, dir + "/b"), againstBackend: a,
                                          againstSettings: Self.settings(a, dir + "/a"))
            #expect(v.matched == 40)
            #expect(v.mismatch?.key == changed && v.mismatch?.found == Array("changed".utf8))
        }
    }

    @Test func commandLineExitStatuses() throws {
        let a = Self.embedded[0], b = Self.embedded[1]
        try withTemporaryDirectory(prefix: "orbit-transfer-cli") { dir in
            try Self.fill(a, dir + "/src", Self.dataSet("cli", count: 30))
            func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try StoreSafetyCLITests.run(args) }
            let file = dir + "/x.export"
            var r = try run(["export", "--backend", a, "--data-dir", dir + "/src", "--output", file])
            #expect(r.status == 0 && r.out.contains("exported 31 records"), "\(r.out)\(r.err)")
            r = try run(["validate", "--against", file])
            #expect(r.status == 0 && r.out.contains("ok: 31 records from \(a)"), "\(r.out)\(r.err)")
            r = try run(["import", "--backend", b, "--data-dir", dir + "/dst", "--input", file])
            #expect(r.status == 0, "\(r.out)\(r.err)")
            r = try run(["import", "--backend", b, "--data-dir", dir + "/dst", "--input", file])
            #expect(r.status == 2 && r.err.contains("--merge"), "\(r.out)\(r.err)")
            r = try run(["validate", "--backend", b, "--data-dir", dir + "/dst", "--against-backend", a, "--against-data-dir", dir + "/src"])
            #expect(r.status == 0 && r.out.contains("ok: 31 entries equal"), "\(r.out)\(r.err)")
            _ = try run(["kv", "put", "--backend", b, "--data-dir", dir + "/dst", "0", "x"])
            r = try run(["validate", "--backend", b, "--data-dir", dir + "/dst", "--against", file])
            #expect(r.status == 1 && r.out.contains("key '0'"), "\(r.out)\(r.err)")
            let bytes = try POSIXFileSystem().readFile(file)
            try POSIXFileSystem().writeFileAtomically(dir + "/cut.export", Array(bytes.dropLast(5)))
            r = try run(["import", "--backend", b, "--data-dir", dir + "/dst2", "--input", dir + "/cut.export"])
            #expect(r.status == 2 && r.err.contains("@ offset"), "\(r.out)\(r.err)")
            r = try run(["validate", "--against", dir + "/cut.export"])
            #expect(r.status == 1 && r.err.contains("truncated"), "\(r.out)\(r.err)")
        }
    }
}

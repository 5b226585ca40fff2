public import OrbitCore
import LSMTree
import Runner

/// The pristine store a corruption sweep flips bytes in, and what reading it back must give.
///
/// Built with the real engine through its public initializer, in rounds (open, write, close) so the
/// store holds every file type: the lsm tree's WAL, tables in several levels, MANIFEST and CURRENT;
/// cow's page file, both meta pages and WAL segments; RocksDB's WAL, tables, MANIFEST, CURRENT and
/// OPTIONS; LMDB's data.mdb and lock.mdb. Puts, overwrites and deletes, so a resurrected delete or a
/// stale value is visible.
struct CorruptionStore: Sendable {
    /// "closed" (closed cleanly) or "open" (copied from the open store after `sync()`: the last
    /// writes only in the log), with engine variants appended ("closed,wal=false").
    var variant: String
    /// The files, relative path → bytes.
    var files: [(path: String, bytes: [UInt8])]
    /// Every key ever written → its value, nil when deleted.
    var expected: [[UInt8]: [UInt8]?]
    /// The last writes, oldest first: key, value before (nil: absent), value after (nil: delete).
    /// A recovered prefix without the final writes is recognized from them.
    var recentWrites: [(key: [UInt8], before: [UInt8]?, after: [UInt8]?)]
    var operations: Int
    /// Described from the files' contents: for an encrypted store (`encryption_key_path`), their
    /// plaintext, whose offset `o` is byte `o + physicalShift[path]` of `files` (the encryption
    /// header; CTR flips the same plaintext bit a ciphertext flip does).
    var layouts: [FileLayout]
    var physicalShift: [String: Int] = [:]
}

/// One engine opened with the settings a sweep builds its stores with: the descriptor's
/// `damageStoreOptions` for the store's variant (small memtables, WAL segments and checkpoints, so
/// every file kind exists).
struct SweepEngineConfig: Sendable {
    var engine: String
    var durability: DurabilityMode
    var settings: Settings
    /// The store's variant ("closed", "open", "closed,wal=false": `EngineDescriptor.damageStoreVariants`).
    var variant = "closed"

    /// Opens the engine on `directory`, runs `body`, closes it (also when `body` throws).
    func with<B: EngineBody>(_ directory: String, _ body: B) throws -> B.Result {
        try EngineRegistry.visit(Engines.descriptor(engine), Open(config: self, directory: directory, body: body))
    }

    private struct Open<B: EngineBody>: EngineDescriptorVisitor {
        let config: SweepEngineConfig
        let directory: String
        let body: B

        func visit<D: EngineDescriptor>(_: D.Type) throws -> B.Result {
            let options = try D.damageStoreOptions(settings: config.settings, variant: config.variant)
            if let keyPath = Engines.encryptionKeyPath(config.settings), let f = D.self as? any FileLayerEngineDescriptor.Type {
                return try openEncrypted(f, options: options, keyPath: keyPath)
            }
            return try ClosingAfter(body).run(D.open(directory: directory, options: options, durability: config.durability,
                                                     access: .readWrite))
        }

        private func openEncrypted<F: FileLayerEngineDescriptor>(_: F.Type, options: any EngineOptions, keyPath: String) throws -> B.Result {
            let fs = try Engines.encryptingFileSystem(keyPath: keyPath, settings: config.settings)
            return try F.open(fs: fs, directory: directory, options: options as! F.Options, durability: config.durability,
                              access: .readWrite, ClosingAfter(body))
        }
    }

    /// The encrypting file system of an encrypted sweep store; nil: plain.
    func encryptingFileSystem() throws -> EncryptingFileSystem<POSIXFileSystem>? {
        try Engines.encryptionKeyPath(settings).map { try Engines.encryptingFileSystem(keyPath: $0, settings: settings) }
    }
}

/// The deterministic write history of a sweep's store.
struct CorruptionWorkload: Sendable {
    var seed: UInt64
    var keyCount: Int
    var valueSize: Int

    static func key(_ i: Int) -> [UInt8] {
        var k: [UInt8] = Array("key".utf8)
        var digits = [UInt8](repeating: 0x30, count: 8)
        var v = i
        for d in stride(from: 7, through: 0, by: -1) { digits[d] = UInt8(0x30 + v % 10); v /= 10 }
        k += digits
        return k
    }

    func value(_ key: Int, version: Int, _ rng: inout SeededRNG) -> [UInt8] {
        var v = [UInt8](repeating: 0, count: max(valueSize, 12))
        for (i, b) in withUnsafeBytes(of: UInt32(truncatingIfNeeded: key).littleEndian, Array.init).enumerated() { v[i] = b }
        for (i, b) in withUnsafeBytes(of: UInt32(truncatingIfNeeded: version).littleEndian, Array.init).enumerated() { v[4 + i] = b }
        for i in 8..<v.count { v[i] = UInt8(truncatingIfNeeded: rng.next()) }
        return v
    }

    enum Op { case put([UInt8], [UInt8]), delete([UInt8]) }

    /// Round 0: insert every key. Round 1: overwrite about half, delete about a fifth. Round 2 (the
    /// tail): a few hundred mixed writes, among them re-inserting deleted keys and deleting live ones.
    func rounds() -> [[Op]] {
        var rng = SeededRNG(seed: seed, stream: 51)
        var out: [[Op]] = []
        var version = 0
        out.append((0..<keyCount).map { i in version += 1; return .put(Self.key(i), value(i, version: version, &rng)) })
        var r1: [Op] = []
        for i in 0..<keyCount {
            let x = rng.below(10)
            if x < 5 { version += 1; r1.append(.put(Self.key(i), value(i, version: version, &rng))) }
            else if x < 7 { r1.append(.delete(Self.key(i))) }
        }
        out.append(r1)
        var r2: [Op] = []
        for _ in 0..<max(20, keyCount / 8) {
            let i = Int(rng.below(UInt64(keyCount)))
            if rng.below(4) == 0 { r2.append(.delete(Self.key(i))) }
            else { version += 1; r2.append(.put(Self.key(i), value(i, version: version, &rng))) }
        }
        // End on a put of a key not written since round 0, so the final record changes a value.
        version += 1
        r2.append(.put(Self.key(keyCount - 1), value(keyCount - 1, version: version, &rng)))
        out.append(r2)
        return out
    }
}

private struct ApplyOps: EngineBody {
    let ops: [CorruptionWorkload.Op]
    /// Copy the store's files after a sync, with the engine still open.
    let copyWhileOpen: String?
    /// lsm: flush and compact until settled before closing (tables in several levels).
    let settleLSM: Bool

    func run<E: StorageEngine>(_ engine: E) throws -> [(path: String, bytes: [UInt8])]? {
        for op in ops {
            switch op {
            case .put(let k, let v): try engine.put(k, v)
            case .delete(let k): try engine.delete(k)
            }
        }
        if settleLSM, let lsm = engine as? LSMTree<POSIXFileSystem> { try lsm.compactUntilSettled() }
        if settleLSM, let lsm = engine as? LSMTree<EncryptingFileSystem<POSIXFileSystem>> { try lsm.compactUntilSettled() }
        guard let dir = copyWhileOpen else { return nil }
        try engine.sync()
        return try CorruptionFiles.read(dir)
    }
}

enum CorruptionFiles {
    static func read(_ dir: String) throws -> [(path: String, bytes: [UInt8])] {
        let fs = POSIXFileSystem()
        return try StoreLayout.listFiles(fs, dir, "").map { ($0, try fs.readFile(joinPath(dir, $0))) }
    }

    /// Replaces `dir` with exactly `files`.
    static func write(_ dir: String, _ files: [(path: String, bytes: [UInt8])]) throws {
        let fs = POSIXFileSystem()
        try fs.removeTree(dir)
        try fs.createDirectory(dir, intermediates: true)
        for f in files {
            let path = joinPath(dir, f.path)
            try fs.createDirectory(parentDirectory(of: path), intermediates: true)
            let h = try fs.open(path, .truncate)
            try h.write(f.bytes, at: 0)
            try h.close()
        }
    }
}

extension CorruptionStore {
    /// Builds the store in `directory` (replacing what is there) and reads it into memory.
    static func build(_ config: SweepEngineConfig, workload: CorruptionWorkload, leaveOpen: Bool,
                      variant: String, directory: String) throws -> CorruptionStore {
        try POSIXFileSystem().removeTree(directory)
        let rounds = workload.rounds()
        var expected: [[UInt8]: [UInt8]?] = [:]
        var recent: [(key: [UInt8], before: [UInt8]?, after: [UInt8]?)] = []
        var files: [(path: String, bytes: [UInt8])]? = nil
        var count = 0
        for (r, ops) in rounds.enumerated() {
            let last = r == rounds.count - 1
            files = try config.with(directory, ApplyOps(ops: ops, copyWhileOpen: last && leaveOpen ? directory : nil,
                                                         settleLSM: !last))
            for op in ops {
                count += 1
                switch op {
                case .put(let k, let v):
                    recent.append((k, expected[k] ?? nil, v)); expected[k] = .some(v)
                case .delete(let k):
                    recent.append((k, expected[k] ?? nil, nil)); expected[k] = .some(nil)
                }
                if recent.count > 16 { recent.removeFirst() }
            }
        }
        let stored = try files ?? CorruptionFiles.read(directory)
        // Described as they are in the copy the probes start from (an encrypted file: its plaintext).
        var contents = stored
        var shift: [String: Int] = [:]
        if let fs = try config.encryptingFileSystem() {
            for (i, f) in stored.enumerated() where startsWithEncryptionHeader(Array(f.bytes.prefix(8))) {
                try CorruptionFiles.write((directory + "-decrypt"), [f])
                contents[i].bytes = try fs.readFile(joinPath((directory + "-decrypt"), f.path))
                shift[f.path] = f.bytes.count - contents[i].bytes.count
            }
            try? POSIXFileSystem().removeTree((directory + "-decrypt"))
        }
        let layouts = try StoreLayout.describe(engine: config.engine, files: contents)
        return CorruptionStore(variant: variant, files: stored, expected: expected, recentWrites: recent,
                               operations: count, layouts: layouts, physicalShift: shift)
    }
}

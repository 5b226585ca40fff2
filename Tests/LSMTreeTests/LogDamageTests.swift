@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Issue 14, "Widen the crash lab" (file-damage, resource-limits): a WAL that is missing, emptied,
/// truncated, from another generation or another engine is corruption naming it — refused with
/// nothing written — while the states a crash can leave still open.
@Suite("LSM log damage") struct LogDamageTests {
    func key(_ i: Int) -> [UInt8] { Array("key-\(100_000 + i)".utf8) }
    func value(_ i: Int) -> [UInt8] { Array("value-\(i)".utf8) }

    func fileSystem() throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem(seed: 1)
        try fs.createDirectory("/db", intermediates: true)
        fs.makeEverythingDurable()
        return fs
    }

    func logs(_ fs: FaultInjectingFileSystem) throws -> [String] {
        try fs.list(directory: "/db").filter { $0.hasSuffix(".log") }.sorted()
    }

    func write(_ fs: FaultInjectingFileSystem, _ path: String, _ bytes: [UInt8]) throws {
        let f = try fs.open(path, .truncate)
        try bytes.withUnsafeBytes { _ = try f.append($0) }
        try f.fsync()
        try f.close()
    }

    /// Every file's bytes, to show a refused open wrote nothing.
    func image(_ fs: FaultInjectingFileSystem) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try fs.list(directory: "/db") where name != "snapshots" { out[name] = try fs.readFile("/db/" + name) }
        return out
    }

    /// A store with `n` acknowledged writes, closed cleanly (or left open: `close` false).
    func store(_ fs: FaultInjectingFileSystem, n: Int = 20, close: Bool = true) throws -> LSMTree<FaultInjectingFileSystem>? {
        let t = try LSMTree(fs: fs, directory: "/db", durability: .everyWrite)
        for i in 0..<n { try t.put(key(i), value(i)) }
        if close { try t.close(); return nil }
        return t
    }

    /// A store with acknowledged writes: closed cleanly, or (`closed` false) a copy of its files
    /// taken while the engine holds it (the engine is returned, to close after the check).
    func damageTarget(closed: Bool) throws -> (FaultInjectingFileSystem, LSMTree<FaultInjectingFileSystem>?) {
        let fs = try fileSystem()
        let open = try store(fs, close: closed)
        if closed { return (fs, nil) }
        let copy = try fileSystem()
        for f in try fs.list(directory: "/db") where f != "snapshots" && f != "LOCK" { try write(copy, "/db/" + f, try fs.readFile("/db/" + f)) }
        try copy.createDirectory("/db/snapshots", intermediates: true)
        return (copy, open)
    }

    func expectRefused(_ fs: FaultInjectingFileSystem, naming file: String, _ comment: Comment) throws {
        let before = try image(fs)
        #expect(throws: OrbitError.self, comment) {
            do { _ = try LSMTree(fs: fs, directory: "/db", durability: .everyWrite) } catch let e as OrbitError {
                #expect(e.code == .corruption, comment)
                #expect((e.location ?? "").hasSuffix(file) || e.message.contains(file), "\(comment): \(e)")
                throw e
            }
        }
        #expect(try image(fs) == before, "\(comment): a refused open changed the store")
    }

    // MARK: 1. The header names the log's number; a foreign magic is never an empty log

    @Test func aLogOfAnotherNumberInPlaceOfTheLiveLogIsCorruption() throws {
        let fs = try fileSystem()
        try store(fs)
        let first = try logs(fs)
        let earlier = try fs.readFile("/db/" + first[0])
        // Another generation: the log of a later open has another number.
        let t = try LSMTree(fs: fs, directory: "/db", durability: .everyWrite)
        try t.put(key(99), value(99))
        try t.close()
        let live = try logs(fs)
        #expect(live != first)
        try write(fs, "/db/" + live[0], earlier)
        try expectRefused(fs, naming: live[0], "an earlier generation's log in place of the live one")
    }

    @Test(arguments: ["cow", "rocksdb", "zeros"])
    func anotherEnginesFileInPlaceOfALogIsCorruption(_ kind: String) throws {
        for closeFirst in [true, false] {
            let (fs, open) = try damageTarget(closed: closeFirst)
            let name = try logs(fs).last!
            let bytes: [UInt8] = kind == "cow" ? Array("COWWAL01".utf8) + [UInt8](repeating: 7, count: 200)
                : kind == "rocksdb" ? [0x9a, 0x3c, 0x12, 0x00, 0x20, 0x00, 0x01] + [UInt8](repeating: 1, count: 100)
                : [UInt8](repeating: 0, count: 64)
            try write(fs, "/db/" + name, bytes)
            try expectRefused(fs, naming: name, "\(kind) bytes in place of \(name) (closed \(closeFirst))")
            try open?.close()
        }
    }

    @Test func theLogReaderRejectsAWrongMagicEvenForAnUnknownNewestLog() throws {
        let fs = try fileSystem()
        try write(fs, "/db/000009.log", Array("ROCKSDB!".utf8) + [UInt8](repeating: 0, count: 8))
        let f = try fs.open("/db/000009.log", .read)
        #expect(throws: OrbitError.self) { _ = try LogReader(file: f, magic: LogFormat.walMagic, paranoid: true, number: 9).read { _, _ in } }
        // A header never synced (each byte right or zero) is still an empty log there.
        try write(fs, "/db/000010.log", Array("ORBI".utf8) + [UInt8](repeating: 0, count: 12))
        let g = try fs.open("/db/000010.log", .read)
        #expect(try LogReader(file: g, magic: LogFormat.walMagic, paranoid: true, number: 10).read { _, _ in }.records == 0)
    }

    // MARK: 2. Every live log is known to the manifest before its first record

    @Test(arguments: ["delete", "truncate-0", "truncate-8"])
    func aMissingOrHeaderlessLiveLogIsCorruption(_ damage: String) throws {
        for closeFirst in [true, false] {
            let (fs, open) = try damageTarget(closed: closeFirst)
            let name = try logs(fs).last!
            let path = "/db/" + name
            switch damage {
            case "delete": try fs.remove(path)
            case "truncate-0": try write(fs, path, [])
            default: try write(fs, path, Array(try fs.readFile(path)[0..<8]))
            }
            try expectRefused(fs, naming: name, "\(damage) \(name) (closed \(closeFirst))")
            try open?.close()
        }
    }

    /// A memtable switch records the sealed log's length and the new log in one synced manifest
    /// edit before any record goes to the new log: a sealed log cut short is corruption, in a
    /// copy of the store taken while it is open.
    @Test func aSealedLogOfAnotherLengthIsCorruption() throws {
        let fs = try fileSystem()
        var o = LSMOptions()
        o.memtableSizeBytesOverride = 4 << 10
        let t = try LSMTree(fs: fs, directory: "/db", options: o, durability: .everyWrite)
        t.state.withLock { t.backgroundPaused = true }  // the sealed memtable's log stays live
        var i = 0
        while t.manifestLock.withLock({ t.manifestLogs.logs.count }) < 2 && i < 5000 { try t.put(key(i), value(i)); i += 1 }
        let sealed = t.manifestLock.withLock { t.manifestLogs.logs.compactMap { k, v in v.map { (number: k, length: $0) } } }
        let s = try #require(sealed.first, "no sealed live log after \(i) writes")
        #expect(t.manifestLogs.tracked)
        let copy = try fileSystem()
        let name = padded(s.number) + ".log"
        for f in try fs.list(directory: "/db") where f != "snapshots" && f != "LOCK" {
            let bytes = try fs.readFile("/db/" + f)
            try write(copy, "/db/" + f, f == name ? Array(bytes[0..<(bytes.count / 2)]) : bytes)
        }
        try copy.createDirectory("/db/snapshots", intermediates: true)
        try expectRefused(copy, naming: name, "sealed \(name) cut to half in an open copy")
        t.state.withLock { t.backgroundPaused = false; t.state.broadcast() }
        try t.close()
    }

    /// A crash between a new log's creation and the manifest edit that opens it leaves a log the
    /// manifest does not know: it held no record, and the store opens (the log is removed).
    @Test func aLogTheManifestDoesNotKnowIsRemovedAfterOpen() throws {
        let fs = try fileSystem()
        try store(fs, n: 5)
        let live = try logs(fs)
        let f = try fs.open("/db/000900.log", .truncate)
        _ = try LogWriter(newFile: f, magic: LogFormat.walMagic, number: 900)
        try f.fdatasync(); try f.close()
        let t = try LSMTree(fs: fs, directory: "/db", durability: .everyWrite)
        for i in 0..<5 { #expect(try t.get(key(i)) == value(i)) }
        #expect(try !fs.exists("/db/000900.log"))
        try t.close()
        #expect(try !logs(fs).contains(live[0]))
    }

    // MARK: 3. A clean close records the live log's exact length

    @Test(arguments: ["truncate-16", "truncate-half", "extend"])
    func aCleanlyClosedLogOfAnotherLengthIsCorruption(_ damage: String) throws {
        let fs = try fileSystem()
        try store(fs)
        let name = try logs(fs).last!
        let path = "/db/" + name
        let bytes = try fs.readFile(path)
        switch damage {
        case "truncate-16": try write(fs, path, Array(bytes[0..<16]))
        case "truncate-half": try write(fs, path, Array(bytes[0..<(bytes.count / 2)]))
        default: try write(fs, path, bytes + [0, 0, 0, 0])
        }
        try expectRefused(fs, naming: name, "\(damage) of a cleanly closed \(name)")
    }

    /// The same truncations of a store copied while open are what a crash before those appends
    /// leaves (the header and a prefix of the records): they open, keeping the prefix.
    @Test func aPrefixOfTheLiveLogOfAnOpenStoreIsACrashState() throws {
        let fs = try fileSystem()
        let t = try store(fs, close: false)!
        let name = try logs(fs).last!
        let bytes = try fs.readFile("/db/" + name)
        let copy = try fileSystem()
        for f in try fs.list(directory: "/db") where f != "snapshots" && f != "LOCK" {
            try write(copy, "/db/" + f, f == name ? Array(bytes[0..<16]) : try fs.readFile("/db/" + f))
        }
        try copy.createDirectory("/db/snapshots", intermediates: true)
        let r = try LSMTree(fs: copy, directory: "/db", durability: .everyWrite)
        #expect(try r.get(key(0)) == nil)
        try r.close()
        try t.close()
    }

    @Test func aCleanCloseEndsTheManifestWithTheLogsLength() throws {
        let fs = try fileSystem()
        try store(fs)
        let name = try logs(fs).last!
        let rec = try Manifest<FaultInjectingFileSystem>.recover(fs: fs, directory: "/db", levels: 7)
        let close = try #require(rec.logs.cleanClose)
        #expect(padded(close.number) + ".log" == name)
        #expect(Int64(close.length) == (try fs.fileSize("/db/" + name)))
        #expect(rec.logs.tracked)
    }

    // MARK: 5. The table cache respects RLIMIT_NOFILE

    @Test func theTableCacheTakesAtMostHalfTheFileLimit() {
        #expect(LSMOptions.tableCacheCapacity(maxOpenFiles: 1000, fileLimit: 256) == 128)
        #expect(LSMOptions.tableCacheCapacity(maxOpenFiles: 1000, fileLimit: nil) == 990)
        #expect(LSMOptions.tableCacheCapacity(maxOpenFiles: 100, fileLimit: 1 << 20) == 90)
        #expect(LSMOptions.tableCacheCapacity(maxOpenFiles: 1000, fileLimit: 8) == 10)
        if let limit = LSMOptions.softFileLimit() { #expect(LSMOptions().tableCacheCapacity <= max(10, limit / 2)) }
    }
}

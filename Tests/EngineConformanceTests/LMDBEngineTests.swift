import Foundation
import OrbitCore
import OrbitTestSupport
import CLMDB
@testable import LMDBEngine
import Testing

/// LMDB-specific tests: knobs, durability flags, map-full errors, reopen, `mdb_dump` interoperability.
@Suite("LMDB engine")
struct LMDBEngineTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func knobsAreReadFromSettings() throws {
        var settings = Settings(knobs: CoreKnobs.all + LMDBOptions.knobs)
        try settings.applyEnvironment([
            "ORBIT_LMDB_MAP_SIZE_MB": "64", "ORBIT_LMDB_MAX_READERS": "200",
            "ORBIT_LMDB_NO_READAHEAD": "true", "ORBIT_LMDB_WRITE_MAP": "true",
        ])
        let o = LMDBOptions(settings: settings)
        #expect(o.mapSizeMB == 64 && o.maxReaders == 200 && o.noReadahead && o.writeMap)
        #expect(LMDBOptions(settings: Settings(knobs: LMDBOptions.knobs)) == LMDBOptions())
        for knob in LMDBOptions.knobs {
            #expect(knob.name.hasPrefix("lmdb."))
            #expect(knob.jsonSection == "lmdb_config")
            #expect(knob.environment == "ORBIT_LMDB_" + knob.jsonKey.uppercased())
        }
        var bad = Settings(knobs: LMDBOptions.knobs)
        #expect(throws: OrbitError.self) { try bad.set("lmdb.map_size_mb", text: "0", from: .flag("--set")) }
    }

    @Test func durabilityMapsToEnvironmentFlags() throws {
        try withTemporaryDirectory(prefix: "orbit-lmdb") { dir in
            for (mode, nosync) in [(DurabilityMode.none, true), (.everyWrite, false), (.group, false), (.periodic(milliseconds: 5), true)] {
                let e = try LMDBEngine(path: dir + "/\(mode)", options: LMDBOptions(), durability: mode)
                var flags: UInt32 = 0
                mdb_env_get_flags(e.env, &flags)
                #expect((flags & UInt32(MDB_NOSYNC) != 0) == nosync, "\(mode)")
                try e.put(Self.bytes("k"), Self.bytes("v"))
                try e.close()
            }
        }
    }

    @Test func mapFullIsAClearError() throws {
        try withTemporaryDirectory(prefix: "orbit-lmdb") { dir in
            var o = LMDBOptions()
            o.mapSizeMB = 1
            let e = try LMDBEngine(path: dir, options: o, durability: .none)
            defer { try? e.close() }
            let value = [UInt8](repeating: 7, count: 4000)
            var failure: OrbitError?
            for i in 0..<1000 {
                do { try e.put(Self.bytes("key-\(i)"), value) } catch let err as OrbitError { failure = err; break }
            }
            let f = try #require(failure)
            #expect(f.message.contains("map is full") && f.hint?.contains("lmdb.map_size_mb") == true)
        }
    }

    @Test func totalsSurviveReopen() throws {
        try withTemporaryDirectory(prefix: "orbit-lmdb") { dir in
            var e = try LMDBEngine(path: dir, options: LMDBOptions(), durability: .everyWrite)
            for i in 0..<100 { try e.put(Self.bytes("k\(i)"), [UInt8](repeating: 1, count: i)) }
            try e.delete(Self.bytes("k5"))
            let before = try e.stats()
            try e.close()
            e = try LMDBEngine(path: dir, options: LMDBOptions(), durability: .none)
            defer { try? e.close() }
            let after = try e.stats()
            #expect(after.totalKeys == 99 && after.totalSizeBytes == before.totalSizeBytes)
            #expect(after.treeHeight != nil && after.diskUsageBytes > 0)
        }
    }

    @Test func mdbDumpReadsTheStore() throws {
        let tool = "/usr/bin/mdb_dump"
        guard FileManager.default.isExecutableFile(atPath: tool) else { return }   // lmdb-utils not installed
        try withTemporaryDirectory(prefix: "orbit-lmdb") { dir in
            let e = try LMDBEngine(path: dir, options: LMDBOptions(), durability: .everyWrite)
            try e.put(Self.bytes("alpha"), Self.bytes("one"))
            try e.put(Self.bytes("beta"), Self.bytes("two"))
            try e.createSnapshot(named: "s")   // mdb_dump must not mind orbit-snapshots/
            try e.close()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-p", dir]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: out, as: UTF8.self)
            #expect(process.terminationStatus == 0, "mdb_dump said: \(text)")
            // Printable mode: each key is shown with its one-byte 0x00 prefix as "\00".
            #expect(text.contains(#" \00alpha"#) && text.contains(" one") && text.contains(#" \00beta"#), "\(text)")
        }
    }
}

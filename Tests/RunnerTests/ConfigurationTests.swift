import Foundation
import Testing
import OrbitCore
import Runner

/// Precedence: defaults < JSON config < workload file < environment < flags; each source named in errors.
struct ConfigurationTests {
    static func writeTemp(_ text: String, ext: String) -> String {
        let p = NSTemporaryDirectory() + "orbit-cfg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).\(ext)"
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    @Test func precedenceIsDefaultsConfigWorkloadEnvironmentFlags() throws {
        let json = Self.writeTemp(#"{"backend": "RocksDB", "rocksdb_config": {"block_cache_mb": 10, "write_buffer_mb": 11, "max_background_jobs": 3, "compression": true}}"#, ext: "json")
        let yaml = Self.writeTemp("name: p\nmix: {read: 1}\nconfig:\n  rocksdb: {write_buffer_mb: 21, max_background_jobs: 5}\n", ext: "yaml")
        defer { try? FileManager.default.removeItem(atPath: json); try? FileManager.default.removeItem(atPath: yaml) }
        var c = Configuration()
        try c.applyJSONConfig(path: json)
        try c.applyWorkloadFile(path: yaml)
        try c.applyEnvironment(["ORBIT_ROCKSDB_MAX_BACKGROUND_JOBS": "7", "ORBIT_ROCKSDB_COMPRESSION": "false", "PATH": "/bin"])
        try c.applyFlags(sets: ["rocksdb.compression=true"], backends: [], dataDir: nil)
        let s = c.settings
        #expect(c.backends == ["rocksdb"])
        #expect(s.int("rocksdb.block_cache_mb") == 10)        // config file
        #expect(s.int("rocksdb.write_buffer_mb") == 21)       // workload beats config
        #expect(s.int("rocksdb.max_background_jobs") == 7)    // environment beats workload
        #expect(s.bool("rocksdb.compression") == true)        // flag beats environment
        #expect(s.source("rocksdb.block_cache_mb") == .configFile(path: json, keyPath: "rocksdb_config.block_cache_mb"))
        #expect(s.source("rocksdb.max_background_jobs") == .environment(variable: "ORBIT_ROCKSDB_MAX_BACKGROUND_JOBS"))
        #expect(s.source("rocksdb.compression") == .flag("--set rocksdb.compression=true"))
        #expect(s.int("rocksdb.bloom_bits_per_key") == 10)    // default
    }

    @Test func badSettingsNameTheirSource() throws {
        let json = Self.writeTemp(#"{"rocksdb_config": {"block_cache_mb": "lots"}}"#, ext: "json")
        defer { try? FileManager.default.removeItem(atPath: json) }
        var c = Configuration()
        #expect { try c.applyJSONConfig(path: json) } throws: {
            ($0 as? OrbitError)?.description.hasPrefix("\(json): rocksdb_config.block_cache_mb: rocksdb.block_cache_mb: bad value string lots; allowed: an integer in") == true
        }
        #expect { try c.applyEnvironment(["ORBIT_ROCKSDB_BLOCK_CACHE_MB": "-1"]) } throws: {
            ($0 as? OrbitError)?.description.hasPrefix("environment variable ORBIT_ROCKSDB_BLOCK_CACHE_MB: rocksdb.block_cache_mb: bad value -1; allowed: an integer in 0...1048576") == true
        }
        #expect { try c.applyEnvironment(["ORBIT_ROCKSBD_BLOCK_CACHE_MB": "1"]) } throws: {
            ($0 as? OrbitError)?.message == "unknown environment variable ORBIT_ROCKSBD_BLOCK_CACHE_MB"
        }
        #expect { try c.applyFlags(sets: ["durability=fsync"], backends: [], dataDir: nil) } throws: {
            ($0 as? OrbitError)?.description == "flag --set durability=fsync: durability: bad value 'fsync'; allowed: one of: none, every-write, group, periodic, periodic:<ms> (1...60000)"
        }
        #expect { try c.applyFlags(sets: ["record_count"], backends: [], dataDir: nil) } throws: {
            ($0 as? OrbitError)?.message == "--set expects name=value, got 'record_count'"
        }
        #expect { try c.applyFlags(sets: [], backends: ["mongodb"], dataDir: nil) } throws: {
            // The list is the registry's (the toy-engine test may have added one in this process).
            ($0 as? OrbitError)?.description == "flag --backend mongodb: backends: bad value 'mongodb'; allowed: a list of: "
                + EngineRegistry.names.joined(separator: ", ")
        }
        // A dedicated flag (`--repeat 0`) is named as typed, not as the `--set` it stands for.
        #expect { try c.applyFlags(sets: [], backends: [], dataDir: nil, knobFlags: [("--repeat 0", "repeat", "0")]) } throws: {
            ($0 as? OrbitError)?.description == "flag --repeat 0: repeat: bad value 0; allowed: an integer in 1...1000"
        }
        // The lsm engine is built: its section is accepted and its keys are checked.
        let lsm = Self.writeTemp(#"{"lsm_config": {"memtable_size_mb": 32}}"#, ext: "json")
        defer { try? FileManager.default.removeItem(atPath: lsm) }
        try c.applyJSONConfig(path: lsm)
        #expect(c.settings.int("lsm.memtable_size_mb") == 32)
        let bad = Self.writeTemp(#"{"lsm_config": {"memtable_mb": 32}}"#, ext: "json")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect { try c.applyJSONConfig(path: bad) } throws: {
            ($0 as? OrbitError)?.description.contains("unknown setting 'memtable_mb' in 'lsm_config'") == true
        }
    }

    @Test func builderAPISetsKnobs() throws {
        let c = try Configuration().setting("backends", "memory,rocksdb").setting("rocksdb.wal", "false")
        #expect(c.backends == ["memory", "rocksdb"])
        #expect(c.settings.bool("rocksdb.wal") == false)
        #expect(c.settings.source("rocksdb.wal") == .api)
    }
}

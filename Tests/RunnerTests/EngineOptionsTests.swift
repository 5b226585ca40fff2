import Testing
import OrbitCore
import Runner

/// The engines' option tables as the harness sees them: every name the README, tests and workload
/// files use is kept, and a refused value or combination names its knobs and their sources.
struct EngineOptionsTests {
    /// Every engine knob, in `orbit-bench list` order, as before the tables (issue 15).
    static let engineKnobNames = """
        rocksdb.block_cache_mb rocksdb.write_buffer_mb rocksdb.max_background_jobs rocksdb.compression \
        rocksdb.bloom_bits_per_key rocksdb.wal rocksdb.max_open_files rocksdb.statistics rocksdb.count_read_bytes \
        rocksdb.wal_recovery_mode lmdb.map_size_mb lmdb.max_readers lmdb.no_readahead lmdb.write_map cow.page_size \
        cow.max_keys_per_node cow.wal cow.wal_buffer_size cow.wal_segment_size cow.snapshot_interval cow.checkpoint_bytes \
        cow.enable_snapshots cow.cache_mb cow.cache_pages lsm.memtable_size_mb lsm.max_memtables lsm.max_levels lsm.level_size_multiplier \
        lsm.compaction_threshold lsm.l0_slowdown_writes_trigger lsm.l0_stop_writes_trigger lsm.delayed_write_rate_mb \
        lsm.compaction_threads lsm.sstable_block_size_kb lsm.enable_bloom_filters lsm.bloom_filter_bits_per_key \
        lsm.block_cache_mb lsm.enable_compression lsm.paranoid lsm.max_open_files
        """

    @Test func everyEngineKnobKeepsItsNames() {
        let engines = ["rocksdb", "lmdb", "cow", "lsm"]
        // The built-in engines' knobs (a test in the same process may have registered a toy engine).
        let knobs = Engines.allKnobs.filter { k in engines.contains(String(k.name.prefix(while: { $0 != "." }))) }
        #expect(knobs.map(\.name).joined(separator: " ") == Self.engineKnobNames)
        for k in knobs {
            let engine = String(k.name.prefix(while: { $0 != "." }))
            let key = String(k.name.dropFirst(engine.count + 1))
            #expect(engines.contains(engine) && k.jsonSection == engine + "_config" && k.jsonKey == key, "\(k.name)")
            // The seeds' one irregular name: cow.max_keys_per_node is ORBIT_COW_MAX_KEYS.
            let env = k.name == "cow.max_keys_per_node" ? "ORBIT_COW_MAX_KEYS" : "ORBIT_" + (engine + "_" + key).uppercased()
            #expect(k.environment == env, "\(k.name)")
        }
    }

    @Test func refusedValuesNameTheKnobAndTheSource() throws {
        var c = Configuration()
        #expect { try c.applyEnvironment(["ORBIT_COW_PAGE_SIZE": "1000"]) } throws: {
            ($0 as? OrbitError)?.description
                == "environment variable ORBIT_COW_PAGE_SIZE: cow.page_size: bad value 1000; allowed: a power of two in 512...65536"
        }
        #expect { try c.applyEnvironment(["ORBIT_COW_MAX_KEYS": "2"]) } throws: {
            ($0 as? OrbitError)?.description
                == "environment variable ORBIT_COW_MAX_KEYS: cow.max_keys_per_node: bad value 2; allowed: 0 (as many as fit a page) or an integer in 4...65535"
        }
        #expect { try c.applyFlags(sets: ["rocksdb.max_open_files=5"], backends: [], dataDir: nil) } throws: {
            ($0 as? OrbitError)?.description
                == "flag --set rocksdb.max_open_files=5: rocksdb.max_open_files: bad value 5; allowed: -1 (keep all open) or an integer in 20...1000000"
        }
        try c.applyFlags(sets: ["rocksdb.max_open_files=-1", "cow.page_size=8192"], backends: [], dataDir: nil)
    }

    @Test func refusedCombinationsNameEveryKnobAndItsSource() throws {
        var c = Configuration()
        try c.applyFlags(sets: ["lsm.l0_stop_writes_trigger=10"], backends: ["lsm"], dataDir: nil)
        #expect { try Engines.validate("lsm", settings: c.settings) } throws: {
            let e = $0 as? OrbitError
            return e?.code == .invalidConfig && e?.location == "lsm.compaction_threshold from default, "
                + "lsm.l0_slowdown_writes_trigger from default, lsm.l0_stop_writes_trigger from flag --set lsm.l0_stop_writes_trigger=10"
        }
        try c.applyFlags(sets: ["lsm.l0_stop_writes_trigger=21"], backends: ["lsm"], dataDir: nil)
        try Engines.validate("lsm", settings: c.settings)
        for backend in ["memory", "rocksdb", "lmdb", "cow"] { try Engines.validate(backend, settings: c.settings) }
    }
}

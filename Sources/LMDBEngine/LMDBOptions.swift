import OrbitCore

/// The `lmdb.*` knobs, typed. Every field is applied when the environment opens (see
/// `LMDBEngine.init`); nothing here is accepted and then ignored.
///
/// Knob names are `lmdb.<key>`, the JSON section is `lmdb_config`, the environment variables
/// `ORBIT_LMDB_<KEY>`.
public struct LMDBOptions: Sendable, Hashable {
    /// The memory map size, MiB (`mdb_env_set_mapsize`): the most the data file can grow to.
    public var mapSizeMB: Int = 4096
    /// Reader slots (`mdb_env_set_maxreaders`): concurrent read transactions.
    public var maxReaders: Int = 126
    /// `MDB_NORDAHEAD`: no OS read-ahead on the map (helps random reads on stores larger than RAM).
    public var noReadahead: Bool = false
    /// `MDB_WRITEMAP`: writes go through a writable map instead of pwrite(2).
    public var writeMap: Bool = false

    public init() {}

    public static let section = "lmdb_config"

    private static func knob(_ key: String, _ kind: Knob.Kind, _ value: KnobValue, _ help: String) -> Knob {
        Knob("lmdb." + key, section: section, key: key, env: "ORBIT_LMDB_" + key.uppercased(),
             kind: kind, default: value, help: help)
    }

    public static let knobs: [Knob] = [
        knob("map_size_mb", .int(1...16_777_216), .int(4096),
             "memory map size, MiB (mdb_env_set_mapsize): the largest the data file may grow; writes past it fail with 'map full'"),
        knob("max_readers", .int(1...65_536), .int(126),
             "reader slots (mdb_env_set_maxreaders): concurrent read transactions"),
        knob("no_readahead", .bool, .bool(false),
             "MDB_NORDAHEAD: turn off OS read-ahead on the map (for stores larger than RAM)"),
        knob("write_map", .bool, .bool(false),
             "MDB_WRITEMAP: write through a writable memory map instead of pwrite(2)"),
    ]

    /// Reads every `lmdb.*` knob. `settings` must have been built with `LMDBOptions.knobs`.
    public init(settings: Settings) {
        mapSizeMB = settings.int("lmdb.map_size_mb")
        maxReaders = settings.int("lmdb.max_readers")
        noReadahead = settings.bool("lmdb.no_readahead")
        writeMap = settings.bool("lmdb.write_map")
    }

    func validate() throws {
        guard (1...16_777_216).contains(mapSizeMB), (1...65_536).contains(maxReaders) else {
            throw OrbitError(.invalidConfig, "lmdb options out of range: map_size_mb=\(mapSizeMB) max_readers=\(maxReaders)",
                             hint: Self.knobs.map { "\($0.name): \($0.allowed)" }.joined(separator: "; "))
        }
    }
}

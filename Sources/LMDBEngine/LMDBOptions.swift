import OrbitCore

/// The `lmdb.*` knobs, typed, each stated once in `optionTable`. Every field is applied when the
/// environment opens (see `LMDBEngine.init`); nothing here is accepted and then ignored. No
/// combination of them is refused.
public struct LMDBOptions: TableDrivenOptions, Hashable {
    /// The memory map size, MiB (`mdb_env_set_mapsize`): the most the data file can grow to.
    public var mapSizeMB: Int = 4096
    /// Reader slots (`mdb_env_set_maxreaders`): concurrent read transactions.
    public var maxReaders: Int = 126
    /// `MDB_NORDAHEAD`: no OS read-ahead on the map (helps random reads on stores larger than RAM).
    public var noReadahead: Bool = false
    /// `MDB_WRITEMAP`: writes go through a writable map instead of pwrite(2).
    public var writeMap: Bool = false

    public init() {}

    public static let optionTable = OptionTable<LMDBOptions>(engine: LMDBDescriptor.name, [
        .int("map_size_mb", \.mapSizeMB, 1...16_777_216,
             "memory map size, MiB (mdb_env_set_mapsize): the largest the data file may grow; writes past it fail with 'map full'"),
        .int("max_readers", \.maxReaders, 1...65_536,
             "reader slots (mdb_env_set_maxreaders): concurrent read transactions"),
        .bool("no_readahead", \.noReadahead,
              "MDB_NORDAHEAD: turn off OS read-ahead on the map (for stores larger than RAM)"),
        .bool("write_map", \.writeMap,
              "MDB_WRITEMAP: write through a writable memory map instead of pwrite(2)"),
    ])
}

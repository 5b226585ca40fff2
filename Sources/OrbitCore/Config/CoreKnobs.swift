/// Knobs every run has, whatever the engine.
public enum CoreKnobs {
    public static let backendNames = ["memory", "rocksdb", "lmdb", "cow", "lsm"]

    public static let all: [Knob] = [
        Knob("backends", key: "backend", env: "ORBIT_PERSISTENCE_BACKEND", kind: .list(backendNames), default: .string("memory"),
             help: "engines to run, comma-separated (JSON config: \"backend\"; workload: backends; flag: --backend, repeatable)"),
        Knob("data_dir", env: "ORBIT_DATA_DIR", kind: .string, default: .string(""),
             help: "directory under which each backend keeps its store (<data_dir>/<backend>); run defaults to <results dir>/data"),
        Knob("durability", env: "ORBIT_DURABILITY", kind: .durability, default: .string("none"),
             help: "when writes are acknowledged: none, every-write, group, periodic[:ms]"),
    ]

    /// Seeds' spellings of backend names ("RocksDB", "LsmTree", "CowBTree") mapped to ours.
    public static func canonicalBackend(_ name: String) -> String {
        switch name.lowercased().replacingUnderscores() {
        case "memory", "inmemory", "mem": "memory"
        case "rocksdb": "rocksdb"
        case "lsm", "lsmtree": "lsm"
        case "cow", "cowbtree", "btree": "cow"
        case "lmdb": "lmdb"
        default: name
        }
    }
}

extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" && $0 != "-" }) }
}

/// Knobs every run has, whatever the engine.
public enum CoreKnobs {
    /// The knob naming the encryption key file (empty: stores are not encrypted).
    public static let encryptionKeyPath = "encryption_key_path"

    /// The knobs, with the backends the registry holds now (so an engine a test registers is allowed).
    public static var all: [Knob] { [
        Knob("backends", key: "backend", env: "ORBIT_PERSISTENCE_BACKEND", kind: .list(EngineRegistry.names),
             default: .string(EngineRegistry.names.first ?? ""),  // the first registered engine: memory, the harness's floor
             help: "engines to run, comma-separated (JSON config: \"backend\"; workload: backends; flag: --backend, repeatable)"),
        Knob("data_dir", env: "ORBIT_DATA_DIR", kind: .string, default: .string(""),
             help: "directory under which each backend keeps its store (<data_dir>/<backend>); run defaults to <results dir>/data"),
        Knob("durability", env: "ORBIT_DURABILITY", kind: .durability, default: .string("none"),
             help: "when writes are acknowledged: none, every-write, group, periodic[:ms]"),
        Knob(encryptionKeyPath, env: "ORBIT_ENCRYPTION_KEY_PATH", kind: .string, default: .string(""),
             help: "encryption at rest for the engines on the file layer: a key file of 32 bytes or 64 hex digits, "
                 + "mode 0600 (refused when group or others can read it); empty: not encrypted (docs/formats/encryption.md)"),
    ] }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLMDB
public import OrbitCore

/// Store recognition and limits (docs: README "Your stores are safe").
extension LMDBEngine: StoreRecognizing {
    /// LMDB's `MDB_MAGIC` (lmdb.h / mdb.c: `0xBEEFC0DE`), the first field of the meta record, which
    /// follows the 16-byte page header (`PAGEHDRSZ` on 64-bit builds) of meta pages 0 and 1.
    static let metaMagic: UInt32 = 0xBEEF_C0DE
    static let metaMagicOffset = 16

    /// `.empty` for a missing or empty directory; `.ours` when `data.mdb` holds LMDB's meta page
    /// magic at its documented offset (docs/formats/lmdb.md); `.notOurs` otherwise, naming a few of
    /// the entries found (a `data.mdb` without the magic is named as such). Reads 20 bytes; never writes.
    public static func recognizeStore(at directory: String) -> StoreRecognition {
        StoreRecognition.judging(directory) { names in
            guard names.contains("data.mdb") else {
                // An environment whose first open failed leaves lock.mdb alone.
                if names == ["lock.mdb"] { return .ours(markers: ["lock.mdb"]) }
                return .notOurs(found: StoreDirectoryListing.few(names))
            }
            if let b = StoreDirectoryListing.head(of: "data.mdb", in: directory, count: metaMagicOffset + 4), b.count == metaMagicOffset + 4 {
                let magic = UInt32(b[16]) | UInt32(b[17]) << 8 | UInt32(b[18]) << 16 | UInt32(b[19]) << 24
                if magic == metaMagic { return .ours(markers: ["data.mdb (meta page magic)"]) }
            }
            return .notOurs(found: StoreDirectoryListing.few(names.map { $0 == "data.mdb" ? "data.mdb (no LMDB meta page magic)" : $0 }))
        }
    }

    /// Whether `name` (an entry of the store directory) is a file LMDB or this wrapper writes: what
    /// `--fresh` may delete. Anything else in the directory makes `--fresh` refuse.
    public static func isStoreEntry(_ name: String) -> Bool {
        ["data.mdb", "lock.mdb", "data.mdb.restore", snapshotDirName].contains(name)
    }

    /// The longest key (LMDB's `mdb_env_get_maxkeysize`, 511 in Debian's build, less the one-byte
    /// prefix every key carries: docs/formats/lmdb.md) and value (32-bit sizes; the map size bounds
    /// it further) this engine stores. Asks LMDB without opening any environment.
    public static func limits(options: LMDBOptions) -> EngineLimits {
        var env: OpaquePointer? = nil
        var maxKey = 511
        if mdb_env_create(&env) == 0, let env {
            maxKey = Int(mdb_env_get_maxkeysize(env))
            mdb_env_close(env)
        }
        return EngineLimits(maxKeySize: maxKey - 1, maxValueSize: min(Int(UInt32.max) - 1, options.mapSizeMB << 20))
    }
}

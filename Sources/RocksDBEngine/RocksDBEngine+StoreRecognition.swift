public import OrbitCore

/// Store recognition and limits (docs: README "Your stores are safe").
extension RocksDBEngine: StoreRecognizing {
    /// `.empty` for a missing or empty directory; `.ours` when RocksDB's own markers are there:
    /// `IDENTITY` or an `OPTIONS-*` file (every RocksDB store since 4.x writes both), with `CURRENT`;
    /// `.notOurs` otherwise, naming a few of the entries found. (`CURRENT` and `MANIFEST-*` alone do
    /// not decide it: the lsm engine writes files of those names too.) Reads no file; never writes.
    public static func recognizeStore(at directory: String) -> StoreRecognition {
        StoreRecognition.judging(directory) { names in
            var markers: [String] = []
            if names.contains("IDENTITY") { markers.append("IDENTITY") }
            if names.contains("CURRENT") { markers.append("CURRENT") }
            if let options = names.last(where: { $0.hasPrefix("OPTIONS-") }) { markers.append(options) }
            if markers.contains(where: { $0 == "IDENTITY" || $0.hasPrefix("OPTIONS-") }) { return .ours(markers: markers) }
            return .notOurs(found: StoreDirectoryListing.few(names))
        }
    }

    /// Whether `name` (an entry of the store directory) is a file RocksDB or this wrapper writes: what
    /// `--fresh` may delete. Anything else in the directory makes `--fresh` refuse.
    public static func isStoreEntry(_ name: String) -> Bool {
        if ["CURRENT", "IDENTITY", "LOCK", "LOG", snapshotDirName].contains(name) { return true }
        for prefix in ["MANIFEST-", "OPTIONS-", "LOG.old", "CURRENT."] where name.hasPrefix(prefix) { return true }
        for suffix in [".log", ".sst", ".blob", ".dbtmp", ".ldb"] where name.hasSuffix(suffix) { return true }
        return false
    }

    /// RocksDB stores a key and a value with 32-bit lengths (varint32 in the write batch and WAL);
    /// the harness keeps both below 4 GiB.
    public static var limits: EngineLimits {
        EngineLimits(maxKeySize: Int(UInt32.max) - 1, maxValueSize: Int(UInt32.max) - 1)
    }
}

public import OrbitCore

/// Store recognition (docs: README "Your stores are safe"): whether a directory holds an lsm store,
/// decided from the engine's own markers before anything is opened or created there.
extension LSMTree: StoreRecognizing {
    /// `.empty` for a missing or empty directory; `.ours` when a `MANIFEST-*` (or a `<n>.log`) begins
    /// with this engine's log magic (`LogFormat.manifestMagic`, `LogFormat.walMagic`: docs/formats/lsm-log.md);
    /// `.notOurs` otherwise, naming a few of the entries found.
    ///
    /// A store whose manifest is unreadable (0 bytes, damaged header) is still ours when CURRENT names a
    /// `MANIFEST-*` and nothing of RocksDB's (IDENTITY, OPTIONS-*) is there: the engine's open then
    /// reports the damage itself rather than the harness calling it someone else's files.
    /// Reads at most 16 bytes of a few files; never writes.
    public static func recognizeStore(at directory: String) -> StoreRecognition {
        StoreRecognition.judging(directory) { recognize(directory, names: $0) }
    }

    private static func recognize(_ directory: String, names: [String]) -> StoreRecognition {
        let fs = POSIXFileSystem()
        func startsWithMagic(_ name: String, _ magic: UInt64) -> Bool {
            guard let head = StoreDirectoryListing.head(of: name, in: directory, count: 8), head.count == 8 else { return false }
            // An encrypted store (encryption_key_path): its files begin with the encryption header.
            return head.withUnsafeBytes { loadFixed64($0, 0) } == magic || startsWithEncryptionHeader(head)
        }
        let manifests = names.filter { $0.hasPrefix("MANIFEST-") }
        var markers: [String] = []
        if names.contains("CURRENT") { markers.append("CURRENT") }
        let magicManifests = manifests.filter { startsWithMagic($0, LogFormat.manifestMagic) }
        markers += magicManifests
        if !magicManifests.isEmpty { return .ours(markers: markers) }
        let logs = names.filter { $0.hasSuffix(".log") && UInt64($0.dropLast(4)) != nil }
        if let wal = logs.first(where: { startsWithMagic($0, LogFormat.walMagic) }) {
            return .ours(markers: markers + [wal])
        }
        let rocksMarkers = names.contains("IDENTITY") || names.contains { $0.hasPrefix("OPTIONS-") }
        if !rocksMarkers, names.contains("CURRENT"), !manifests.isEmpty,
           let current = try? fs.readFile(joinPath(directory, "CURRENT")),
           String(decoding: current, as: UTF8.self).hasPrefix("MANIFEST-") {
            return .ours(markers: ["CURRENT"] + manifests.prefix(2) + ["(manifest unreadable: the open reports the damage)"])
        }
        // A store whose first open failed after taking its lock leaves only LOCK (with our "pid N" note).
        if names == ["LOCK"], let note = try? fs.readFile(joinPath(directory, "LOCK")),
           note.isEmpty || String(decoding: note, as: UTF8.self).hasPrefix("pid ") {
            return .ours(markers: ["LOCK"])
        }
        return .notOurs(found: StoreDirectoryListing.few(names))
    }

    /// Whether `name` (an entry of the store directory) is a file this engine writes: what `--fresh`
    /// may delete. Anything else in the directory makes `--fresh` refuse.
    public static func isStoreEntry(_ name: String) -> Bool {
        if ["CURRENT", "LOCK", "snapshots"].contains(name) { return true }
        if name.hasPrefix("MANIFEST-") || name.hasPrefix("CURRENT.") { return true }
        for suffix in [".log", ".sst", ".tmp"] where name.hasSuffix(suffix) {
            let stem = name.dropLast(suffix.count)
            if !stem.isEmpty, stem.allSatisfy({ $0.isNumber || $0 == "." || $0.isLetter }) { return true }
        }
        return false
    }
}

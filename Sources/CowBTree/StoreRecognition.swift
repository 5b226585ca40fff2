public import OrbitCore

/// Store recognition (docs: README "Your stores are safe"): whether a directory holds a cow store,
/// decided from the engine's own markers before anything is opened or created there.
extension CowBTree: StoreRecognizing {
    /// `.empty` for a missing or empty directory; `.ours` when `cow.db` holds a meta page that begins
    /// with `MetaPage.magic` (page 0 at offset 0, or page 1 at the page size that page 0 records:
    /// docs/formats/cow-meta-page.md); `.notOurs` otherwise, naming a few of the entries found.
    ///
    /// A `cow.db` without the magic (0 bytes, torn, damaged) beside the engine's other files (WAL
    /// segments, the lock file) is still ours: the engine's open then reports the damage itself,
    /// rather than the harness calling it someone else's files. Reads at most two meta pages; never writes.
    public static func recognizeStore(at directory: String) -> StoreRecognition {
        StoreRecognition.judging(directory) { recognize(directory, names: $0) }
    }

    private static func recognize(_ directory: String, names: [String]) -> StoreRecognition {
        let page = pageFileName
        let segments = names.filter { $0.hasPrefix(CowEngine.segmentPrefix) }
        if names.contains(page) {
            let magic = MetaPage.magic
            if let head = StoreDirectoryListing.head(of: page, in: directory, count: MetaPage.encodedSize), head.count >= 20 {
                if Array(head[0..<magic.count]) == magic { return .ours(markers: ["\(page) (meta page magic)"]) }
                if startsWithEncryptionHeader(head) { return .ours(markers: ["\(page) (encrypted: encryption_key_path)"]) }
                // Page 0 torn: page 1 sits at the page size; page 0's own field may be damaged too,
                // so try the sizes the engine allows.
                for shift in 9...16 {
                    let size = 1 << shift  // cow.page_size: a power of two in 512...65536
                    if StoreDirectoryListing.head(of: page, in: directory, count: magic.count, at: Int64(size)) == magic {
                        return .ours(markers: ["\(page) (meta page 1 magic)"])
                    }
                }
            }
            let others = names.filter { $0 == walFileName || $0.hasPrefix(CowEngine.segmentPrefix) || $0 == "cow.lock" }
            if !others.isEmpty {
                return .ours(markers: [page] + others.prefix(2) + ["(no meta page magic: the open reports the damage)"])
            }
            return .notOurs(found: StoreDirectoryListing.few(names.map { $0 == page ? "\(page) (no cow meta page magic)" : $0 }))
        }
        if !segments.isEmpty, names.allSatisfy(isStoreEntry) {
            return .ours(markers: Array(segments.prefix(2)) + ["(no \(page): the open reports the damage)"])
        }
        if names == ["cow.lock"] { return .ours(markers: ["cow.lock"]) }
        return .notOurs(found: StoreDirectoryListing.few(names))
    }

    /// Whether `name` (an entry of the store directory) is a file this engine writes: what `--fresh`
    /// may delete. Anything else in the directory makes `--fresh` refuse.
    public static func isStoreEntry(_ name: String) -> Bool {
        name == pageFileName || name == walFileName || name.hasPrefix("cow.") || name == "snapshots"
    }
}

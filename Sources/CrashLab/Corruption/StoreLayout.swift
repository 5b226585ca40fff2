import OrbitCore
import Runner

/// What an engine says about its store's files, for CrashLab's sweeps: each file's layout (regions,
/// checksum coverage, header fields) and its kind, from the engine's own module (`LSMStoreLayout`,
/// `CowStoreLayout`, `RocksDBStoreLayout`, `LMDBStoreLayout`). CrashLab keeps only the generic
/// parts: listing files and, in the sweeps, choosing offsets.
struct StoreFormat: Sendable {
    /// The layout of one file (path relative to the store directory, its bytes).
    var fileLayout: @Sendable (_ relativePath: String, _ bytes: [UInt8]) -> FileLayout?
    /// The kind of a file ("wal", "sstable", "data-page", ...): the `fileType` of its layout.
    var fileKind: @Sendable (_ relativePath: String) -> String

    /// The format of a registered engine's store, from its descriptor; nil for an engine that keeps
    /// no files CrashLab describes (no durable store).
    static func of(engine: String) -> StoreFormat? {
        Engines.install()
        guard let d = EngineRegistry.descriptor(named: engine), d.capabilities.contains(.durable) else { return nil }
        return StoreFormat(fileLayout: { d.fileLayout(relativePath: $0, bytes: $1) }, fileKind: { d.fileKind(relativePath: $0) })
    }

    /// The kind of the file at `path` (absolute, or relative to `directory`) for a sweep's record:
    /// "directory" for the store directory itself, the engine's kind, or the file's name when the
    /// engine does not know it.
    func kind(ofPath path: String, in directory: String) -> String {
        if path == directory || path.hasSuffix("/") { return "directory" }
        let relative = path.hasPrefix(directory + "/") ? String(path.dropFirst(directory.count + 1)) : path
        let kind = fileKind(relative)
        return kind == "other" ? String(FileLayout.baseName(relative)) : kind
    }
}

enum StoreLayout {
    /// The layout of every non-empty file of a store (`files`: relative path and bytes, in listing order).
    static func describe(engine: String, files: [(path: String, bytes: [UInt8])]) throws -> [FileLayout] {
        guard let format = StoreFormat.of(engine: engine) else {
            throw OrbitError(.invalidArgument, "corruption sweep: no store format for '\(engine)'",
                             hint: "engines with a store: " + Engines.names(with: .durable).joined(separator: ", "))
        }
        return files.compactMap { f in format.fileLayout(f.path, f.bytes).flatMap { $0.size > 0 ? $0 : nil } }
    }

    /// The files below `root`, relative to it, depth first in name order.
    static func listFiles(_ fs: POSIXFileSystem, _ root: String, _ prefix: String) throws -> [String] {
        var out: [String] = []
        let dir = prefix.isEmpty ? root : joinPath(root, prefix)
        for name in try fs.list(directory: dir) {
            let rel = prefix.isEmpty ? name : joinPath(prefix, name)
            let full = joinPath(root, rel)
            if (try? fs.list(directory: full)) != nil {
                out += try listFiles(fs, root, rel)
            } else {
                out.append(rel)
            }
        }
        return out
    }
}

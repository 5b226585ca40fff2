import OrbitCore

/// The files of a store directory, relative path → bytes, as the new crash methods compare them:
/// a refused open must leave the directory listing and every file's bytes as they were.
///
/// Lock files are set aside (COMMON rule "lock files aside"): an open that is refused may still
/// have created or rewritten its lock file's holder note (`LOCK`, `*.lock`), and LMDB writes its
/// reader table into `lock.mdb` on every open.
struct StoreImage: Sendable, Equatable {
    var files: [String: [UInt8]]

    static func read(_ directory: String) throws -> StoreImage {
        var files: [String: [UInt8]] = [:]
        for f in try CorruptionFiles.read(directory) { files[f.path] = f.bytes }
        return StoreImage(files: files)
    }

    /// Replaces `directory` with exactly these files.
    func write(_ directory: String) throws {
        try CorruptionFiles.write(directory, files.keys.sorted().map { ($0, files[$0]!) })
    }

    static func isLockFile(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name == "LOCK" || name == "lock.mdb" || name.hasSuffix(".lock")
    }

    /// What changed from `self` to `after`, lock files aside: "removed X", "added Y", "changed Z
    /// (size a -> b)". Empty when nothing did.
    func changes(to after: StoreImage) -> [String] {
        var out: [String] = []
        for (p, b) in files.sorted(by: { $0.key < $1.key }) where !Self.isLockFile(p) {
            guard let a = after.files[p] else { out.append("removed \(p)"); continue }
            if a != b { out.append("changed \(p) (\(b.count) -> \(a.count) bytes)") }
        }
        for p in after.files.keys.sorted() where files[p] == nil && !Self.isLockFile(p) { out.append("added \(p)") }
        return out
    }

    var totalBytes: Int64 { files.values.reduce(0) { $0 + Int64($1.count) } }
}

/// What kind of file a name is, across the four durable engines' layouts, so "another engine's
/// file of the same name" can fall back to a file of the same role when no name matches exactly
/// (cow's `cow.db` ↔ LMDB's `data.mdb`, cow's WAL segments ↔ a log).
enum StoreFileKind: String, Sendable {
    case current, manifest, log, table, pageFile = "page-file", lock, options, identity, infoLog = "info-log", snapshot, other

    init(_ path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if path.hasPrefix("snapshots/") { self = .snapshot }
        else if name == "CURRENT" { self = .current }
        else if name.hasPrefix("MANIFEST-") { self = .manifest }
        else if name == "LOG" || name.hasPrefix("LOG.old") { self = .infoLog }
        else if name.hasSuffix(".log") || name.hasPrefix("cow.wal.") { self = .log }
        else if name.hasSuffix(".sst") { self = .table }
        else if name == "cow.db" || name == "data.mdb" { self = .pageFile }
        else if StoreImage.isLockFile(name) { self = .lock }
        else if name.hasPrefix("OPTIONS-") { self = .options }
        else if name == "IDENTITY" { self = .identity }
        else { self = .other }
    }
}

/// Small parsing helpers for the lab's child-process line protocols.
enum LabText {
    /// One line, at most `limit` characters (a CSV detail cell stays readable).
    static func oneLine(_ s: String, limit: Int = 400) -> String {
        var t = s.replacing("\n", with: " ").replacing("\r", with: " ").replacing("\t", with: " ")
        if t.count > limit { t = String(t.prefix(limit)) + "..." }
        return t
    }

    /// The number after "name=" in a "a=1;b=2" detail string.
    static func field(_ name: String, in text: String) -> Double? {
        guard let r = text.range(of: name + "=") else { return nil }
        return Double(text[r.upperBound...].prefix { $0 != ";" && $0 != " " })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a store directory holds, for the engines' `recognizeStore(at:)` functions (StoreRecognition):
/// one place that lists a directory without following a symbolic link to a file and without writing.
public enum StoreDirectoryListing: Sendable, Equatable {
    /// The path does not exist.
    case missing
    /// The path is a file (or something else that is not a directory); the payload says what.
    case notADirectory(String)
    /// The directory cannot be listed (permissions); the payload says why.
    case unreadable(String)
    /// The entries, sorted by their bytes, "." and ".." left out.
    case entries([String])

    public static func list(_ path: String) -> StoreDirectoryListing {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            // ENOTDIR: a file on the way (a/file/b): nothing is there; callers name the file.
            return e == ENOENT || e == ENOTDIR ? .missing : .unreadable("\(lastComponent(path)) (stat: \(String(cString: strerror(e))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return .notADirectory("\(lastComponent(path)) (a file, not a directory)") }
        guard let dir = opendir(path) else {
            return .unreadable("\(lastComponent(path)) (cannot list: \(String(cString: strerror(errno))))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .entries(names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    /// At most `limit` names, and "… (N more)" when there are more: for messages.
    public static func few(_ names: [String], limit: Int = 4) -> [String] {
        names.count <= limit ? names : Array(names.prefix(limit)) + ["… (\(names.count - limit) more)"]
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

extension StoreDirectoryListing {
    /// Up to `count` bytes at `offset` of the file `name` in `directory` (fewer at its end); nil when it
    /// cannot be opened or read. Reads only.
    public static func head(of name: String, in directory: String, count: Int, at offset: Int64 = 0) -> [UInt8]? {
        guard let file = try? POSIXFileSystem().open(joinPath(directory, name), .read) else { return nil }
        defer { try? file.close() }
        return try? file.read(count: count, at: offset)
    }
}

extension StoreRecognition {
    /// Every recogniser's frame: lists `directory` and hands its entries (sorted) to `judge`. A missing
    /// or empty directory is `.empty`, a file or an unreadable directory `.notOurs` naming it, without
    /// asking `judge`.
    public static func judging(_ directory: String, _ judge: ([String]) -> StoreRecognition) -> StoreRecognition {
        switch StoreDirectoryListing.list(directory) {
        case .missing: return .empty
        case .notADirectory(let what), .unreadable(let what): return .notOurs(found: [what])
        case .entries(let names): return names.isEmpty ? .empty : judge(names)
        }
    }
}

/// An engine type that recognises its own stores (README "Store safety"); its descriptor forwards
/// `recognizeStore(at:)` and `isStoreEntry(_:)` to it.
public protocol StoreRecognizing {
    static func recognizeStore(at directory: String) -> StoreRecognition
    static func isStoreEntry(_ name: String) -> Bool
}

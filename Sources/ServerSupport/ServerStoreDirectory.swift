#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore

/// A server backend's store directory (`<data-dir>/<backend>`): what orbit-bench creates there and
/// how it recognises its own. A managed server keeps its files in it (`server/`, the server's own
/// data directory, and `server.log`); an external one leaves only the marker.
///
/// The marker `ORBIT-SERVER` holds one line, `orbit-bench <backend> server`, so another engine's
/// store, or a directory of files nobody here wrote, is never taken for a server's.
public enum ServerStoreDirectory {
    public static let marker = "ORBIT-SERVER"
    /// The server's own data directory (PostgreSQL's PGDATA, Redis's `dir`).
    public static let serverData = "server"
    public static let log = "server.log"
    /// Files orbit-bench writes beside them (a generated redis.conf).
    public static func entries(extra: [String] = []) -> Set<String> { Set([marker, serverData, log] + extra) }

    static func markerLine(_ backend: String) -> String { "orbit-bench \(backend) server\n" }

    /// What `directory` holds, for `backend` (`EngineDescriptor.recognizeStore`). Reads only.
    public static func recognize(_ directory: String, backend: String) -> StoreRecognition {
        guard case .entries(let names) = StoreDirectoryListing.list(directory), !names.isEmpty else { return .empty }
        if names.contains(marker), let bytes = try? POSIXFileSystem().readFile(joinPath(directory, marker)),
           String(decoding: bytes, as: UTF8.self) == markerLine(backend) {
            return .ours(markers: ["\(marker) (\(backend))"])
        }
        return .notOurs(found: StoreDirectoryListing.few(names.sorted()))
    }

    /// Creates the directory (with its parents) and the marker, unless they are there. Refuses a
    /// directory that holds something else.
    public static func prepare(_ directory: String, backend: String) throws {
        let fs = POSIXFileSystem()
        switch recognize(directory, backend: backend) {
        case .ours: return
        case .notOurs(let found):
            throw OrbitError(.invalidArgument, "\(directory) holds no \(backend) server directory (\(found.joined(separator: ", ")))",
                             hint: "point --data-dir at another directory; nothing was written")
        case .empty:
            try fs.createDirectory(directory, intermediates: true)
            try fs.writeFileAtomically(joinPath(directory, marker), Array(markerLine(backend).utf8))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import OrbitCore

/// A managed server's log file: what an error shows of it.
public enum ServerLog {
    /// The last `lines` lines of the file (empty when it cannot be read).
    public static func tail(_ path: String, lines: Int = 8, from offset: Int = 0) -> [String] {
        guard let bytes = try? POSIXFileSystem().readFile(path), offset <= bytes.count else { return [] }
        let start = max(offset, bytes.count - 16_384)
        let text = String(decoding: bytes[start...], as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).map(String.init))
    }

    /// "its log's last lines: ... | ..." for an error's hint.
    public static func tailHint(_ path: String, lines: Int = 8) -> String {
        let t = tail(path, lines: lines)
        return t.isEmpty ? "its log \(path) is empty" : "last lines of \(path): " + t.joined(separator: " | ")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// Every entry under a directory — its path, kind, size, mtime and a digest of its bytes — so a test
/// can show that a command changed nothing (README "Your stores are safe"):
///
///     let before = DirectorySnapshot.capture(dir, ignoring: DirectorySnapshot.lockFiles)
///     try runTheReadOnlyCommand()
///     #expect(DirectorySnapshot.capture(dir, ignoring: DirectorySnapshot.lockFiles).differences(from: before) == [])
///
/// Files named in `ignoring` (lock files: LMDB's reader table, a LOCK file's holder note) must still
/// exist in both, but their bytes, size and mtime are not compared. Directories' mtimes are compared
/// (an entry created and removed again shows there). Symbolic links are recorded, not followed.
public struct DirectorySnapshot: Equatable, Sendable, CustomStringConvertible {
    public struct Entry: Equatable, Sendable {
        public var kind: Character  // "f" file, "d" directory, "l" link, "o" other
        public var size: Int64
        public var mtimeNanos: Int64
        public var digest: UInt64
    }

    /// Lock files whose contents a read-only open may change: LMDB's reader table and the holder note
    /// ("pid N") an exclusive lock writes into LOCK or cow.lock.
    public static let lockFiles: Set<String> = ["lock.mdb", "LOCK", "cow.lock"]

    public let root: String
    /// Relative path → entry; a missing root has no entries.
    public let entries: [String: Entry]
    public let ignored: Set<String>

    public static func capture(_ root: String, ignoring: Set<String> = lockFiles) -> DirectorySnapshot {
        var entries: [String: Entry] = [:]
        walk(root, relative: "", into: &entries, ignoring: ignoring)
        return DirectorySnapshot(root: root, entries: entries, ignored: ignoring)
    }

    /// What differs from `earlier`, one line per path (empty when nothing changed).
    public func differences(from earlier: DirectorySnapshot) -> [String] {
        var out: [String] = []
        for path in Set(entries.keys).union(earlier.entries.keys).sorted() {
            switch (earlier.entries[path], entries[path]) {
            case (nil, .some): out.append("added \(path)")
            case (.some, nil): out.append("removed \(path)")
            case (.some(let a), .some(let b)) where a != b:
                var what: [String] = []
                if a.kind != b.kind { what.append("kind \(a.kind) → \(b.kind)") }
                if a.size != b.size { what.append("size \(a.size) → \(b.size)") }
                if a.digest != b.digest { what.append("bytes") }
                if a.mtimeNanos != b.mtimeNanos { what.append("mtime") }
                out.append("changed \(path): " + what.joined(separator: ", "))
            default: break
            }
        }
        return out
    }

    public var description: String {
        entries.keys.sorted().map { "\($0) \(entries[$0]!.size)" }.joined(separator: "\n")
    }

    private static func walk(_ path: String, relative: String, into entries: inout [String: Entry], ignoring: Set<String>) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let name = relative.split(separator: "/").last.map(String.init) ?? ""
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if !relative.isEmpty { entries[relative] = Entry(kind: "d", size: 0, mtimeNanos: mtime, digest: 0) }
            guard case .entries(let names) = StoreDirectoryListing.list(path) else { return }
            for n in names { walk(path + "/" + n, relative: relative.isEmpty ? n : relative + "/" + n, into: &entries, ignoring: ignoring) }
        case S_IFREG:
            if ignoring.contains(name) { entries[relative] = Entry(kind: "f", size: -1, mtimeNanos: 0, digest: 0); return }
            entries[relative] = Entry(kind: "f", size: Int64(st.st_size), mtimeNanos: mtime, digest: digest(path))
        case S_IFLNK:
            entries[relative] = Entry(kind: "l", size: Int64(st.st_size), mtimeNanos: mtime, digest: 0)
        default:
            entries[relative] = Entry(kind: "o", size: 0, mtimeNanos: mtime, digest: 0)
        }
    }

    /// FNV-1a 64 of the file's bytes.
    private static func digest(_ path: String) -> UInt64 {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            for i in 0..<n { h = (h ^ UInt64(buffer[i])) &* 0x100_0000_01b3 }
        }
        return h
    }
}

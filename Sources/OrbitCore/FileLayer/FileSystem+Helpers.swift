// Conveniences built only on the `FileSystem` and `FileHandleProtocol` requirements, so they behave
// the same, and are seen the same by a fault injector, on every implementation.

extension FileSystem {
    /// Replaces the file at `path` with `bytes` so that after a crash it holds either the old
    /// contents or the new, never a mix: writes `path + ".tmp"`, fsyncs it, renames it over `path`,
    /// then fsyncs the directory. The pattern for small metadata files (CURRENT, meta pointers).
    ///
    /// When it returns, the new contents are durable. When it throws, `path` holds the old or the
    /// new contents (which is durable is unknown) and the temporary file may remain; the next call
    /// truncates it. Not safe to run concurrently for one `path`.
    public func writeFileAtomically(_ path: String, _ bytes: UnsafeRawBufferPointer) throws {
        let temp = path + ".tmp"
        let file = try open(temp, .truncate)
        do {
            try file.write(bytes, at: 0)
            try file.fsync()
            try file.close()
        } catch {
            try? file.close()
            try? remove(temp)
            throw error
        }
        try crashPoint("file.write-atomically.before-rename")
        try rename(temp, to: path)
        try crashPoint("file.write-atomically.before-directory-sync")
        try syncDirectory(parentDirectory(of: path))
    }

    public func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeFileAtomically(path, $0) }
    }

    /// The whole file at `path` (for small files: metadata, tests, tools).
    public func readFile(_ path: String) throws -> [UInt8] {
        let file = try open(path, .read)
        defer { try? file.close() }
        let size = Int(try file.size())
        var bytes = [UInt8](repeating: 0, count: size)
        let n = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        bytes.removeSubrange(n...)  // the file shrank since size() was taken
        return bytes
    }

    /// The file at `path` read to its end, at most `limit` bytes: for files whose size stat(2) does
    /// not tell (`/proc/self/maps` reports 0). `readFile` for ordinary files.
    public func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let file = try open(path, .read)
        defer { try? file.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(limit, 65_536))
        while bytes.count < limit {
            let n = try chunk.withUnsafeMutableBytes { try file.read(into: $0, at: Int64(bytes.count)) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<min(n, limit - bytes.count)])
        }
        return bytes
    }

    /// Copies the file `source` to `destination` (replacing it) and fsyncs the copy; 1 MiB at a time.
    public func copyFile(_ source: String, to destination: String) throws {
        let from = try open(source, .read)
        defer { try? from.close() }
        let to = try open(destination, .truncate)
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var offset: Int64 = 0
            while true {
                let n = try buffer.withUnsafeMutableBytes { try from.read(into: $0, at: offset) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try to.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: offset) }
                offset += Int64(n)
            }
            try to.fsync()
            try to.close()
        } catch {
            try? to.close()
            throw error
        }
    }

    /// fsync(2) of the existing file `path` (by a handle opened for it).
    public func syncFile(_ path: String) throws {
        let file = try open(path, .read)
        defer { try? file.close() }
        try file.fsync()
    }
}

extension FileHandleProtocol {
    /// Reads exactly `buffer.count` bytes at `offset`; a file that ends first is corruption
    /// (a truncated block or record), reported with the path, offset and sizes.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        let n = try read(into: buffer, at: offset)
        guard n == buffer.count else {
            throw OrbitError(.corruption, "short read: wanted \(buffer.count) bytes, file ends after \(n)",
                             at: "\(path) @ offset \(offset)")
        }
    }

    /// Up to `count` bytes at `offset` (fewer at end of file), in a new array.
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        bytes.removeSubrange(n...)
        return bytes
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    @discardableResult
    public func append(_ bytes: [UInt8]) throws -> Int64 {
        try bytes.withUnsafeBytes { try append($0) }
    }
}

/// The directory holding `path`: "a/b" → "a", "/a" → "/", "a" → ".".
public func parentDirectory(of path: String) -> String {
    var p = Substring(path)
    while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "." }
    let parent = p[..<slash]
    if parent.isEmpty { return "/" }
    var q = parent
    while q.count > 1 && q.hasSuffix("/") { q = q.dropLast() }
    return String(q)
}

/// `directory` and `name` joined with one "/".
public func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

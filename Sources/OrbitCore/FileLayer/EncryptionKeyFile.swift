/// Reading the master key of `encryption_key_path` (README "Encryption at rest").
///
/// The file holds the 32 key bytes raw, or as 64 hexadecimal digits (a trailing newline allowed).
/// Like ssh with a private key, it is refused when its group or others may read or write it
/// (mode & 0o077 != 0): a key anyone on the machine can read protects nothing.
extension EncryptionKey {
    /// The key in the file `path`; `setting` names where the path came from, for messages
    /// ("encryption_key_path (flag --set)").
    public static func load(path: String, setting: String = "encryption_key_path") throws -> EncryptionKey {
        let origin = "key file \(path)"
        let st: (mode: UInt32, isRegular: Bool)
        do { st = try system_statMode(path) } catch {
            if error == .noSuchFile {
                throw OrbitError(.invalidConfig, "encryption key file not found", at: path,
                                 hint: "\(setting) names a file of 32 random bytes; make one with "
                                     + "`head -c 32 /dev/urandom > \(path) && chmod 600 \(path)`")
            }
            throw OrbitError(.invalidConfig, "encryption key file unreadable", at: path, cause: .errno(error))
        }
        guard st.isRegular else {
            throw OrbitError(.invalidConfig, "encryption key file is not a regular file", at: path,
                             hint: "\(setting) names a file of 32 bytes (or 64 hex digits)")
        }
        guard st.mode & 0o077 == 0 else {
            throw OrbitError(.invalidConfig,
                             "encryption key file is accessible by group or others (mode \(octal(st.mode)))", at: path,
                             hint: "allowed: readable by its owner only (mode 0600 or 0400); run `chmod 600 \(path)`")
        }
        let bytes: [UInt8]
        do { bytes = try POSIXFileSystem().readFile(path, limit: 4096) } catch {
            throw OrbitError(.invalidConfig, "encryption key file unreadable", at: path, cause: (error as? OrbitError)?.cause)
        }
        return try EncryptionKey(bytes: try parse(bytes, path: path), origin: origin)
    }

    /// 32 raw bytes, or 64 hex digits with optional trailing whitespace.
    static func parse(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        if bytes.count == 32 { return bytes }
        var text = bytes
        while let last = text.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { text.removeLast() }
        if text.count == 64, let key = hexBytes(text) { return key }
        throw OrbitError(.invalidConfig, "encryption key file holds \(bytes.count) bytes that are not a key", at: path,
                         hint: "allowed: exactly 32 bytes, or 64 hexadecimal digits (an optional newline after them)")
    }

    private static func hexBytes(_ text: [UInt8]) -> [UInt8]? {
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var i = 0
        while i < text.count {
            guard let h = digit(text[i]), let l = digit(text[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    private static func octal(_ mode: UInt32) -> String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

extension EncryptingFileSystem {
    /// Checks `key` against the encrypted files directly in `directory` (and one level below),
    /// before an engine opens the store, so a wrong key is refused before anything is read or
    /// written: throws "wrong encryption key for <file>" on the first file that disagrees, and
    /// "not encrypted" when `isStoreFile` names files there that carry no encryption header
    /// (a plain store). Files that are absent, empty or whose header never reached the disk pass.
    public func verifyKey(directory: String, isStoreFile: (String) -> Bool) throws {
        guard try base.exists(directory) else { return }
        for name in try base.list(directory: directory) where isStoreFile(name) {
            let path = joinPath(directory, name)
            guard let file = try? base.open(path, .read) else { continue }  // a directory, or gone
            defer { try? file.close() }
            _ = try EncryptionHeader.read(from: file, key: key)
        }
    }
}

/// Whether the file at `path` of `fs` starts with the encryption header's magic (a store written
/// with `encryption_key_path`).
public func hasEncryptionHeader<FS: FileSystem>(_ fs: FS, _ path: String) -> Bool {
    guard let file = try? fs.open(path, .read) else { return false }
    defer { try? file.close() }
    return (try? EncryptionHeader.hasMagic(file.read(count: 8, at: 0))) ?? false
}

/// Whether `head`, a file's first bytes, begins with the encryption header's magic "ORBITENC"
/// (store recognition: an encrypted store is recognised without its key).
public func startsWithEncryptionHeader(_ head: [UInt8]) -> Bool { EncryptionHeader.hasMagic(head) }

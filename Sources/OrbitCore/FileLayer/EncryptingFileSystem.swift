import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Encryption at rest under an engine: a `FileSystem` that keeps every file of `Base` encrypted
/// with AES-256 in counter mode, and hands the engine plaintext. Format and threat model:
/// docs/formats/encryption.md.
///
/// Each file starts with a physical header of `headerSize` bytes (magic, a random 128-bit file id,
/// a key check value, a CRC) that the wrapper hides: logical offset = physical offset −
/// `headerSize`, and sizes are reported without it. Byte `i` of a file's contents is XORed with
/// byte `i` of the AES-256-CTR keystream of a key derived from the master key and the file id
/// (HKDF-SHA256), counter block `i / 16`. The cipher is length-preserving and byte-granular, so a
/// write, a torn write, a lost write or a truncation means exactly what it means on plaintext, and
/// the engines' checksums and recovery work unchanged.
///
/// Directory operations, `crashPoint`, `syncDirectory` and locks pass through to `Base`; lock files
/// are not encrypted (they hold only "pid N"). File names and sizes are not hidden.
///
/// A file whose header is absent or all zeros (created, never synced, then a power loss) reads as
/// empty; a wrong key is an `invalidConfig` error "wrong encryption key for <file>" at open, before
/// any content is read; a file without the header is "not encrypted".
public struct EncryptingFileSystem<Base: FileSystem>: FileSystem {
    public typealias File = EncryptedFile<Base.File>

    /// Bytes of the physical header before a file's contents: one 4 KiB page, so logical pages stay
    /// aligned with the disk's (and the fault injector's) sectors.
    public static var headerSize: Int64 { EncryptionHeader.size }

    public let base: Base
    public let key: EncryptionKey

    public init(base: Base, key: EncryptionKey) {
        self.base = base
        self.key = key
    }

    public func open(_ path: String, _ mode: OpenMode) throws -> EncryptedFile<Base.File> {
        let file = try base.open(path, mode)
        do {
            let header: EncryptionHeader
            var empty = false
            switch mode {
            case .truncate, .createNew:
                header = try EncryptionHeader.fresh(key)
                try header.write(to: file)
            case .read, .readWrite, .create:
                switch try EncryptionHeader.read(from: file, key: key) {
                case .valid(let h):
                    header = h
                case .absent:
                    // Never synced since it was created (its header is the first thing written):
                    // its contents are empty, whatever unsynced sectors survived.
                    header = try EncryptionHeader.fresh(key)
                    if mode == .read {
                        empty = true
                    } else {
                        try file.truncate(to: 0)
                        try header.write(to: file)
                    }
                }
            }
            let physical = try file.size()
            let size = empty ? 0 : max(0, physical - EncryptionHeader.size)
            return EncryptedFile(base: file, key: header.fileKey, size: size, empty: empty)
        } catch {
            try? file.close()
            throw error
        }
    }

    public func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    public func remove(_ path: String) throws { try base.remove(path) }
    public func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
    public func list(directory path: String) throws -> [String] { try base.list(directory: path) }
    public func createDirectory(_ path: String, intermediates: Bool) throws {
        try base.createDirectory(path, intermediates: intermediates)
    }
    public func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    public func exists(_ path: String) throws -> Bool { try base.exists(path) }

    /// The logical size (without the header); 0 for a file whose header never reached the disk.
    public func fileSize(_ path: String) throws -> Int64 {
        let file = try open(path, .read)
        defer { try? file.close() }
        return try file.size()
    }

    @inline(__always)
    public func crashPoint(_ name: StaticString) throws { try base.crashPoint(name) }
    public func ioStatistics() -> FileIOStatistics { base.ioStatistics() }
    public func lock(_ path: String) throws -> FileLock { try base.lock(path) }
    public func lockShared(_ path: String) throws -> FileLock { try base.lockShared(path) }
}

/// An open file of `EncryptingFileSystem`: the base handle, the file's AES key, and the logical end
/// offset appends go to.
public final class EncryptedFile<BaseFile: FileHandleProtocol>: FileHandleProtocol {
    public let base: BaseFile
    private let cipher: FileCipher
    /// Where the next append goes (logical): the size at open, moved by writes, appends and
    /// truncates through this handle, as `POSIXFile`'s.
    private let end: Atomic<Int64>
    /// Opened read-only on a file whose header never became durable: it reads as empty.
    private let empty: Bool

    init(base: BaseFile, key: SymmetricKey, size: Int64, empty: Bool) {
        self.base = base
        self.cipher = FileCipher(key: key)
        self.end = Atomic(size)
        self.empty = empty
    }

    public var path: String { base.path }

    @inline(__always) private func physical(_ offset: Int64) -> Int64 { offset + EncryptionHeader.size }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        precondition(offset >= 0, "negative file offset")
        if empty { return try base.read(into: UnsafeMutableRawBufferPointer(start: buffer.baseAddress, count: 0), at: 0) }
        let n = try base.read(into: buffer, at: physical(offset))
        if n > 0 { try decrypt(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), at: offset) }
        return n
    }

    /// Decrypts in place the ciphertext `part` read at logical `offset`, except that a 16-byte
    /// cipher block that is all zeros on disk reads as 16 plaintext zeros.
    ///
    /// A write that was lost (never synced before a power loss) or a hole leaves zeros on the disk,
    /// and an engine reading plaintext would see zeros there: a WAL segment or page that was never
    /// written. Decrypted, those zeros would be key stream — garbage an engine's recovery cannot
    /// tell from damage. The ciphertext of 16 bytes is all zeros with probability 2⁻¹²⁸, so the rule
    /// changes no written data. Only whole blocks count: a block the read covers in part is decided
    /// on all its 16 bytes (one more read of the base, only when the part seen is zeros), and a
    /// block cut short by the end of the file is always decrypted, since a few zero bytes of
    /// ciphertext are not rare. Runs of non-zero blocks are decrypted with one cipher call each.
    private func decrypt(_ part: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        let count = part.count
        var pending = 0  // start of the run of blocks not yet decrypted
        var i = 0
        while i < count {
            let inBlock = Int((offset + Int64(i)) & 15)
            let length = min(16 - inBlock, count - i)
            if Self.isZero(UnsafeRawBufferPointer(rebasing: part[i..<(i + length)])),
               try length == 16 || wholeBlockIsZero(at: offset + Int64(i) - Int64(inBlock)) {
                if pending < i {
                    let run = UnsafeMutableRawBufferPointer(rebasing: part[pending..<i])
                    cipher.apply(UnsafeRawBufferPointer(run), at: offset + Int64(pending), into: run)
                }
                pending = i + length
            }
            i += length
        }
        if pending < count {
            let run = UnsafeMutableRawBufferPointer(rebasing: part[pending..<count])
            cipher.apply(UnsafeRawBufferPointer(run), at: offset + Int64(pending), into: run)
        }
    }

    /// Whether the 16-byte cipher block at logical `blockOffset` is whole on disk and all zeros.
    private func wholeBlockIsZero(at blockOffset: Int64) throws -> Bool {
        var block: (UInt64, UInt64) = (1, 1)
        let n = try withUnsafeMutableBytes(of: &block) { try base.read(into: $0, at: physical(blockOffset)) }
        return n == 16 && block.0 | block.1 == 0
    }

    @inline(__always)
    private static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count == 16 {
            return bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self) | bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == 0
        }
        for b in bytes where b != 0 { return false }
        return true
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        precondition(offset >= 0, "negative file offset")
        if offset > end.load(ordering: .relaxed) && !bytes.isEmpty { try fillGap(before: offset, upTo: offset + Int64(bytes.count)) }
        try writeEncrypted(bytes, at: offset)
        guard !bytes.isEmpty else { return }
        raiseFileEnd(end, to: offset + Int64(bytes.count))
    }

    /// A write past the end: the gap must read as zeros, and the disk's zeros are not the
    /// ciphertext of zeros, so the gap is written as encrypted zeros first. The end is moved past
    /// the write before the gap is filled (one compare-exchange), so a concurrent append goes
    /// after it and no two writers fill the same gap.
    private func fillGap(before offset: Int64, upTo newEnd: Int64) throws {
        var start = end.load(ordering: .relaxed)
        let physicalEnd = max(0, try base.size() - EncryptionHeader.size)  // another handle may have extended it
        while true {
            guard start < offset else { return }
            let (exchanged, original) = end.compareExchange(expected: start, desired: newEnd, ordering: .relaxed)
            if exchanged { break }
            start = original
        }
        try writeZeros(from: max(start, min(physicalEnd, offset)), to: offset)
    }

    /// Encrypted zeros over logical bytes `from..<to`, 64 KiB at a time.
    private func writeZeros(from: Int64, to: Int64) throws {
        guard from < to else { return }
        let chunk = Int(min(to - from, 1 << 16))
        let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        var at = from
        while at < to {
            let n = Int(min(to - at, Int64(chunk)))
            try writeEncrypted(UnsafeRawBufferPointer(rebasing: zeros[0..<n]), at: at)
            at += Int64(n)
        }
    }

    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
        let offset = end.wrappingAdd(Int64(bytes.count), ordering: .relaxed).oldValue
        try writeEncrypted(bytes, at: offset)
        return offset
    }

    /// The one place this handle writes: the ciphertext of `bytes`, in one write of the base.
    private func writeEncrypted(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        guard !bytes.isEmpty else { return try base.write(bytes, at: physical(offset)) }
        try cipher.encrypt(bytes, at: offset) { try base.write($0, at: physical(offset)) }
    }

    public func fsync() throws { try base.fsync() }
    public func fdatasync() throws { try base.fdatasync() }

    /// Cutting is the base's truncate; extending writes encrypted zeros (the disk's zeros would
    /// decrypt to the key stream).
    public func truncate(to size: Int64) throws {
        precondition(size >= 0, "negative file size")
        let current = max(0, try base.size() - EncryptionHeader.size)
        if size > current && !empty {
            try writeZeros(from: current, to: size)
        } else {
            try base.truncate(to: physical(size))
        }
        end.store(size, ordering: .relaxed)
    }

    public func size() throws -> Int64 {
        if empty { _ = try base.size(); return 0 }
        return max(0, try base.size() - EncryptionHeader.size)
    }

    public func close() throws { try base.close() }
}

/// AES-256-CTR of one file: byte `i` of the contents is XORed with byte `i % 16` of AES(key,
/// counter block `i / 16`), the block number big-endian in the block's last 8 bytes.
struct FileCipher: Sendable {
    let key: SymmetricKey

    /// `output[j] = input[j] ^ keystream[offset + j]`; `output` may be `input`'s memory.
    ///
    /// swift-crypto's AES-CTR (`AES._CTR`, BoringSSL's AES-NI counter mode) takes whole messages
    /// from a counter block and returns a new `Data`: one call for the 16-byte-aligned part, and for
    /// a start inside a block one more for that block's keystream.
    func apply(_ input: UnsafeRawBufferPointer, at offset: Int64, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count)
        var done = 0
        var block = UInt64(offset) >> 4
        let skip = Int(offset & 15)
        if skip != 0 {
            var keystream: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &keystream) { ks in
                let zeros = (UInt64(0), UInt64(0))
                withUnsafeBytes(of: zeros) { z in
                    let d = crypt(z, block: block)
                    d.withUnsafeBytes { ks.copyMemory(from: $0) }
                }
                let n = min(16 - skip, input.count)
                for j in 0..<n { output[j] = input[j] ^ ks[skip + j] }
                done = n
            }
            block += 1
        }
        guard done < input.count else { return }
        let rest = UnsafeRawBufferPointer(rebasing: input[done...])
        let d = crypt(rest, block: block)
        d.withUnsafeBytes { c in
            UnsafeMutableRawBufferPointer(rebasing: output[done..<(done + c.count)]).copyMemory(from: c)
        }
    }

    /// Calls `body` with the ciphertext of `plain` at `offset`: one `AES._CTR` call, whose result
    /// is written from directly (an offset inside a block first copies `plain` behind the block's
    /// first bytes, so the call starts at the block's counter).
    func encrypt(_ plain: UnsafeRawBufferPointer, at offset: Int64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let block = UInt64(offset) >> 4
        let skip = Int(offset & 15)
        if skip == 0 {
            try crypt(plain, block: block).withUnsafeBytes { try body($0) }
            return
        }
        let staged = UnsafeMutableRawBufferPointer.allocate(byteCount: skip + plain.count, alignment: 16)
        defer { staged.deallocate() }
        UnsafeMutableRawBufferPointer(rebasing: staged[skip...]).copyMemory(from: plain)
        for j in 0..<skip { staged[j] = 0 }
        try crypt(UnsafeRawBufferPointer(staged), block: block).withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[skip...])) }
    }

    private func crypt(_ bytes: UnsafeRawBufferPointer, block: UInt64) -> Data {
        let counter = (UInt64(0), block.bigEndian)
        // Neither call can fail: the key is 256 bits and the counter block 16 bytes.
        let nonce = withUnsafeBytes(of: counter) { try! AES._CTR.Nonce(nonceBytes: $0) }
        return try! AES._CTR.encrypt(bytes, using: key, nonce: nonce)
    }
}

/// The master key (`encryption_key_path`: 32 bytes) and the keys derived from it with HKDF-SHA256:
/// one that makes each file's AES key (with the file's id as salt), one for key check values.
public struct EncryptionKey: Sendable {
    let fileKeyBase: SymmetricKey
    let checkKey: SymmetricKey
    /// Where the key came from, for messages ("key file /etc/orbit/key").
    public let origin: String

    static let salt = Array("orbit-bench encryption at rest v1".utf8)

    /// A key from its 32 bytes.
    public init(bytes: [UInt8], origin: String) throws {
        guard bytes.count == 32 else {
            throw OrbitError(.invalidConfig, "an encryption key is 32 bytes, got \(bytes.count)", at: origin)
        }
        let master = SymmetricKey(data: bytes)
        fileKeyBase = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: Self.salt, info: Array("file keys".utf8), outputByteCount: 32)
        checkKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: Self.salt, info: Array("key check".utf8), outputByteCount: 32)
        self.origin = origin
    }

    /// The AES-256 key of the file with id `fileID`.
    func fileKey(_ fileID: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKeyBase, salt: fileID, info: Array("aes-256-ctr".utf8), outputByteCount: 32)
    }

    /// HMAC-SHA256 under the check key of a constant and the file id: proves the key without
    /// revealing anything about it or the file key.
    func checkValue(_ fileID: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: checkKey)
        mac.update(data: Array("orbit-bench key check".utf8))
        mac.update(data: fileID)
        return Array(mac.finalize())
    }
}

/// The physical header of an encrypted file (docs/formats/encryption.md):
///
/// | offset | size | field |
/// |--------|------|-------|
/// | 0 | 8 | magic "ORBITENC" |
/// | 8 | 4 | format version, 1 (little-endian) |
/// | 12 | 4 | header size, 4096 (little-endian) |
/// | 16 | 16 | file id: random, new for every file created or truncated by open |
/// | 32 | 32 | key check value: HMAC-SHA256(check key, "orbit-bench key check" ‖ file id) |
/// | 64 | 4 | CRC32C of bytes 0..<64 (little-endian) |
/// | 68 | 4028 | zeros |
struct EncryptionHeader {
    static let size: Int64 = 4096
    static let used = 68
    static let magic = Array("ORBITENC".utf8)
    static let version: UInt32 = 1

    let fileID: [UInt8]
    let fileKey: SymmetricKey
    let bytes: [UInt8]

    static func fresh(_ key: EncryptionKey) throws -> EncryptionHeader {
        var rng = SystemRandomNumberGenerator()
        var id = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { id[i] = UInt8.random(in: 0...255, using: &rng) }
        var b = [UInt8](repeating: 0, count: Int(size))
        b.replaceSubrange(0..<8, with: magic)
        put32(&b, 8, version)
        put32(&b, 12, UInt32(size))
        b.replaceSubrange(16..<32, with: id)
        b.replaceSubrange(32..<64, with: key.checkValue(id))
        put32(&b, 64, b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<64])) })
        return EncryptionHeader(fileID: id, fileKey: key.fileKey(id), bytes: b)
    }

    func write<F: FileHandleProtocol>(to file: F) throws { try file.write(bytes, at: 0) }

    enum Found {
        case valid(EncryptionHeader)
        /// No header: the file is empty or its first sector is zeros (never synced).
        case absent
    }

    /// The header of `file`, checked against `key`.
    static func read<F: FileHandleProtocol>(from file: F, key: EncryptionKey) throws -> Found {
        let b = try file.read(count: Int(size), at: 0)
        let head = b.prefix(used)
        if head.allSatisfy({ $0 == 0 }) { return .absent }
        guard b.count >= used, Array(b[0..<8]) == magic else {
            throw OrbitError(.invalidConfig, "not encrypted: no orbit-bench encryption header", at: file.path,
                             hint: "the store was written without encryption_key_path (or this file's first bytes are damaged); "
                                 + "open it without a key, or export it and import it into an encrypted store")
        }
        let crc = b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<64])) }
        guard crc == get32(b, 64) else {
            throw OrbitError(.corruption, "encryption header checksum mismatch", at: "\(file.path) @ offset 0")
        }
        guard get32(b, 8) == version, get32(b, 12) == UInt32(size) else {
            throw OrbitError(.unsupported, "encryption header version \(get32(b, 8)), header size \(get32(b, 12))",
                             at: file.path, hint: "this build reads version \(version) with a \(size)-byte header")
        }
        let id = Array(b[16..<32])
        guard constantTimeEqual(Array(b[32..<64]), key.checkValue(id)) else {
            throw OrbitError(.invalidConfig, "wrong encryption key for \(file.path)", at: key.origin,
                             hint: "the store was encrypted with another key; give the key it was written with")
        }
        return .valid(EncryptionHeader(fileID: id, fileKey: key.fileKey(id), bytes: b))
    }

    /// Whether `bytes` (a file's first bytes) start with the header's magic.
    static func hasMagic(_ bytes: [UInt8]) -> Bool { bytes.count >= 8 && Array(bytes[0..<8]) == magic }

    private static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
    private static func get32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * $1) }
    }
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var d: UInt8 = 0
        for i in a.indices { d |= a[i] ^ b[i] }
        return d == 0
    }
}

import OrbitCore

/// A meta page (docs/formats/cow-meta-page.md): pages 0 and 1 of the page file, written
/// alternately (txid even → page 0, odd → page 1). On open the valid one with the larger txid wins;
/// a torn or corrupt newest meta falls back to the other.
///
/// | off | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `ORBCOWDB` |
/// | 8 | 4 | format version (2; 1 is read) |
/// | 12 | 4 | masked CRC-32C of bytes 0..<128 except this field |
/// | 16 | 4 | page size |
/// | 20 | 4 | max_keys_per_node the store was written with (informational) |
/// | 24 | 8 | txid |
/// | 32 | 8 | root page (0 = empty tree) |
/// | 40 | 8 | tree height |
/// | 48 | 8 | page count: pages 0..<count are in use or free |
/// | 56 | 8 | first free-list page (0 = none) |
/// | 64 | 8 | free pages listed |
/// | 72 | 8 | first snapshot-list page (0 = none) |
/// | 80 | 8 | keys |
/// | 88 | 8 | key bytes |
/// | 96 | 8 | value bytes |
/// | 104 | 8 | checkpoints so far |
/// | 112 | 8 | first WAL segment replay reads (0 = every segment; written by older builds) |
/// | 120 | 8 | file slot of segment `walSeq`, plus 1 (0 = not named: older builds, or no segment was started) |
struct MetaPage: Equatable {
    static let magic: [UInt8] = Array("ORBCOWDB".utf8)
    /// 2 adds the WAL segment field (offset 112); version 1 pages (zero there) are still read.
    static let version: UInt32 = 2
    static let encodedSize = 128
    /// The start of every field in the table above.
    static let fieldOffsets = [0, 8, 12, 16, 20] + Array(stride(from: 24, to: encodedSize, by: 8))
    /// The page sizes a meta page may name (powers of two).
    static let smallestPageSize = 512, largestPageSize = 65_536

    var pageSize: Int
    var maxKeysPerNode: Int
    var txid: UInt64 = 0
    var root: UInt64 = 0
    var height: UInt64 = 0
    var pageCount: UInt64 = Layout.firstDataPage
    var freeListPage: UInt64 = 0
    var freeCount: UInt64 = 0
    var snapshotPage: UInt64 = 0
    var keys: UInt64 = 0
    var keyBytes: UInt64 = 0
    var valueBytes: UInt64 = 0
    var checkpoints: UInt64 = 0
    /// The sequence number of the first WAL segment that may hold records newer than `txid`; older
    /// segments are covered by this meta page and are recycled once it is durable.
    var walSeq: UInt64 = 0
    /// The file slot (`cow.wal.<slot>`) of segment `walSeq`, when that segment was started — its
    /// header durable — before this meta page was written: the file must then hold that segment's
    /// header (replay refuses a missing, torn or older one). nil: nothing named (older builds wrote 0).
    var walSlot: Int? = nil

    /// Which of the two meta pages this txid goes to.
    var slot: UInt64 { txid & 1 }

    func encode() -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(Self.encodedSize)
        b.append(contentsOf: Self.magic)
        b.appendU32(Self.version)
        b.appendU32(0)
        b.appendU32(UInt32(pageSize))
        b.appendU32(UInt32(maxKeysPerNode))
        let slotField = walSlot.map { UInt64($0) + 1 } ?? 0
        for v in [txid, root, height, pageCount, freeListPage, freeCount, snapshotPage, keys, keyBytes, valueBytes, checkpoints, walSeq, slotField] {
            b.appendU64(v)
        }
        while b.count < Self.encodedSize { b.append(0) }
        let crc = CRC32C.mask(Self.checksum(b))
        b.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self) }
        return b
    }

    static func checksum(_ b: [UInt8]) -> UInt32 {
        b.withUnsafeBytes { raw in
            CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<12])),
                          UnsafeRawBufferPointer(rebasing: raw[16..<encodedSize]))
        }
    }

    enum DecodeError: Error, CustomStringConvertible {
        case badMagic, badVersion(UInt32), badChecksum, badField(String)
        var description: String {
            switch self {
            case .badMagic: "no meta page magic (not a cow store, or never written)"
            case .badVersion(let v): "format version \(v) is not supported (this build reads versions 1 and \(MetaPage.version))"
            case .badChecksum: "checksum mismatch (torn or corrupt)"
            case .badField(let f): "bad field: \(f)"
            }
        }
    }

    static func decode(_ b: [UInt8]) -> Result<MetaPage, DecodeError> {
        guard b.count >= encodedSize else { return .failure(.badChecksum) }
        guard Array(b[0..<8]) == magic else { return .failure(b[0..<8].allSatisfy { $0 == 0 } ? .badChecksum : .badMagic) }
        return b.withUnsafeBytes { raw -> Result<MetaPage, DecodeError> in
            let stored = raw.u32(12)
            guard stored == CRC32C.mask(checksum(b)) else { return .failure(.badChecksum) }
            let version = raw.u32(8)
            guard version == Self.version || version == 1 else { return .failure(.badVersion(version)) }
            var m = MetaPage(pageSize: Int(raw.u32(16)), maxKeysPerNode: Int(raw.u32(20)))
            m.txid = raw.u64(24); m.root = raw.u64(32); m.height = raw.u64(40); m.pageCount = raw.u64(48)
            m.freeListPage = raw.u64(56); m.freeCount = raw.u64(64); m.snapshotPage = raw.u64(72)
            m.keys = raw.u64(80); m.keyBytes = raw.u64(88); m.valueBytes = raw.u64(96); m.checkpoints = raw.u64(104)
            m.walSeq = raw.u64(112)
            let slotField = raw.u64(120)
            guard slotField <= UInt64(Int32.max) + 1 else { return .failure(.badField("WAL segment slot \(slotField)")) }
            m.walSlot = slotField == 0 ? nil : Int(slotField - 1)
            guard m.pageSize >= smallestPageSize, m.pageSize <= largestPageSize, m.pageSize & (m.pageSize - 1) == 0 else {
                return .failure(.badField("page size \(m.pageSize)"))
            }
            guard m.pageCount >= Layout.firstDataPage, m.root < m.pageCount, m.freeListPage < m.pageCount,
                  m.snapshotPage < m.pageCount else {
                return .failure(.badField("page number past page count \(m.pageCount)"))
            }
            // Converted to Int at open: a checksum-valid page with absurd values is refused, never a trap.
            guard m.pageCount <= UInt64(Int64.max) / UInt64(m.pageSize) else {
                return .failure(.badField("page count \(m.pageCount)"))
            }
            guard m.height <= 64, (m.root == 0) == (m.height == 0) else { return .failure(.badField("tree height \(m.height)")) }
            guard m.keys <= UInt64(Int64.max), m.keyBytes <= UInt64(Int64.max), m.valueBytes <= UInt64(Int64.max) else {
                return .failure(.badField("key or byte counts out of range"))
            }
            return .success(m)
        }
    }
}

/// A snapshot record (docs/formats/btree-page.md, "Snapshot-list pages"): a durably pinned root.
struct SnapshotRecord: Equatable {
    var name: String
    var root: UInt64
    var height: UInt64
    var txid: UInt64
    var keys: UInt64
    var keyBytes: UInt64
    var valueBytes: UInt64

    /// name length u16, name (UTF-8), root, height, txid, keys, key bytes, value bytes (u64 each).
    func encode(into b: inout [UInt8]) {
        let n = Array(name.utf8)
        b.appendU16(n.count)
        b.append(contentsOf: n)
        for v in [root, height, txid, keys, keyBytes, valueBytes] { b.appendU64(v) }
    }

    var encodedSize: Int { 2 + name.utf8.count + 48 }
}

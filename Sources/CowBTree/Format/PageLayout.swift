import OrbitCore

/// The byte layout of a B+tree page (docs/formats/btree-page.md). Every page but the two meta
/// pages starts with this 40-byte header:
///
/// | off | size | field |
/// |---|---|---|
/// | 0 | 4 | masked CRC-32C of bytes 4..<page_size |
/// | 4 | 1 | type (PageType) |
/// | 5 | 1 | reserved (0) |
/// | 6 | 2 | count: slots (leaf entries, branch children, free-list or snapshot records) |
/// | 8 | 8 | page number (catches misdirected writes) |
/// | 16 | 8 | txid of the commit/checkpoint that wrote it |
/// | 24 | 8 | next page of a chain (overflow, free list, snapshot list), 0 = end |
/// | 32 | 4 | upper: offset where the entry heap starts (entries grow down from the page end) |
/// | 36 | 4 | dead bytes in the heap (reclaimed by compaction) |
/// | 40 | 2×count | slots: u16 offsets of entries, in key order (leaf, branch) |
enum PageType: UInt8 {
    case leaf = 1, branch = 2, overflow = 3, freeList = 4, snapshotList = 5
}

enum Layout {
    static let headerSize = 40
    static let slotSize = 2
    // Header offsets.
    static let checksumOffset = 0, typeOffset = 4, countOffset = 6, pageNoOffset = 8, txidOffset = 16
    static let nextOffset = 24, upperOffset = 32, deadOffset = 36
    /// Every header field, for the fields a corruption sweep probes (`CowStoreLayout`).
    static let headerFieldOffsets = [checksumOffset, typeOffset, countOffset, pageNoOffset, txidOffset, nextOffset, upperOffset, deadOffset]
    /// Leaf entry: flags u8, key length u16, value length u32, key, value (inline) or first overflow page u64.
    static let leafEntryHeader = 7
    /// Branch entry: child page u64, key length u16, key.
    static let branchEntryHeader = 10
    static let flagOverflow: UInt8 = 1
    /// Overflow page payload starts right after the header.
    static let overflowPayloadOffset = headerSize
    /// Page numbers 0 and 1 are the meta pages.
    static let firstDataPage: UInt64 = 2
}

// Little-endian loads and stores on raw memory.
extension UnsafeMutableRawPointer {
    @inline(__always) func u16(_ o: Int) -> Int { Int(UInt16(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt16.self))) }
    @inline(__always) func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
    @inline(__always) func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
    @inline(__always) func setU16(_ o: Int, _ v: Int) { storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, toByteOffset: o, as: UInt16.self) }
    @inline(__always) func setU32(_ o: Int, _ v: Int) { storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, toByteOffset: o, as: UInt32.self) }
    @inline(__always) func setU64(_ o: Int, _ v: UInt64) { storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self) }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendU16(_ v: Int) { Swift.withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { append(contentsOf: $0) } }
    @inline(__always) mutating func appendU32(_ v: UInt32) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    @inline(__always) mutating func appendU64(_ v: UInt64) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
}

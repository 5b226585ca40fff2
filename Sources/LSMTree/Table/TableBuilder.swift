import OrbitCore

/// Writes one immutable sorted table (docs/formats/lsm-sstable.md): data blocks, one filter block,
/// one index block, the footer. Entries (internal keys) must come in increasing order.
///
/// Output is gathered in a buffer and appended in large writes; `finish()` syncs the file.
final class TableBuilder<File: FileHandleProtocol> {
    let file: File
    let blockSize: Int
    let bloomBitsPerKey: Int
    /// Compress data blocks with LZ4 (`lsm.enable_compression`); index and filter stay plain.
    let compress: Bool
    private var compressed: [UInt8] = []
    private var anyCompressed = false
    private var data = BlockBuilder()
    private var index = BlockBuilder(restartInterval: 1)
    private var out: [UInt8] = []
    private var offset: UInt64 = 0
    private var hashes: [UInt32] = []
    private var lastUserKey = KeyBuffer()
    private var hasLast = false
    private var handleScratch: [UInt8] = []

    private(set) var entries: UInt64 = 0
    private(set) var deletes: UInt64 = 0
    private(set) var rawPutBytes: UInt64 = 0
    private(set) var rawKeyBytes: UInt64 = 0
    private(set) var smallest: [UInt8] = []
    private(set) var largest: [UInt8] = []

    init(file: File, blockSize: Int, bloomBitsPerKey: Int, compress: Bool = false) {
        self.file = file
        self.blockSize = blockSize
        self.bloomBitsPerKey = bloomBitsPerKey
        self.compress = compress
        out.reserveCapacity(1 << 18)
    }

    /// Bytes written so far plus the block being built.
    var fileSizeEstimate: UInt64 { offset + UInt64(out.count + data.sizeEstimate) }

    func add(_ ikey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        if entries == 0 { smallest = [UInt8](ikey) }
        let uk = userKey(ikey)
        if bloomBitsPerKey > 0 && !(hasLast && compareBytes(lastUserKey.bytes, uk) == 0) {
            hashes.append(BloomFilter.hash(uk))
        }
        lastUserKey.set(uk)
        hasLast = true
        data.add(ikey, value)
        entries += 1
        if ikey[ikey.count - trailerSize] == ValueType.delete.rawValue {
            deletes += 1
        } else {
            rawPutBytes += UInt64(uk.count + value.count)
            rawKeyBytes += UInt64(uk.count)
        }
        if data.sizeEstimate >= blockSize { try flushDataBlock() }
    }

    private func flushDataBlock() throws {
        guard !data.isEmpty else { return }
        data.finish()
        let handle = data.buffer.withUnsafeBytes { block in
            if compress && BlockCompression.compressLZ4(block, into: &compressed) {
                anyCompressed = true
                return compressed.withUnsafeBytes { writeBlock($0, type: .lz4) }
            }
            return writeBlock(block)
        }
        handleScratch.removeAll(keepingCapacity: true)
        handle.encode(&handleScratch)
        data.lastKey.withUnsafeBytes { k in handleScratch.withUnsafeBytes { index.add(k, $0) } }
        if largest.isEmpty || true { largest = data.lastKey }
        data.reset()
        if out.count >= 1 << 18 { try drain() }
    }

    /// Appends a block as stored (compressed or not) and its trailer to the output buffer.
    private func writeBlock(_ block: UnsafeRawBufferPointer, type: BlockCompression = .plain) -> BlockHandle {
        let handle = BlockHandle(offset: offset + UInt64(out.count), size: UInt64(block.count))
        out.append(contentsOf: block)
        out.append(type.rawValue)
        var crc = CRC32C.update(0, block)
        crc = withUnsafeBytes(of: type.rawValue) { CRC32C.update(crc, $0) }
        putFixed32(&out, CRC32C.mask(crc))
        return handle
    }

    private func drain() throws {
        try out.withUnsafeBytes { _ = try file.append($0) }
        offset += UInt64(out.count)
        out.removeAll(keepingCapacity: true)
    }

    /// Writes the filter, index and footer and syncs the file. Returns the file size.
    func finish() throws -> UInt64 {
        try flushDataBlock()
        var filterHandle = BlockHandle(offset: 0, size: 0)
        if bloomBitsPerKey > 0 {
            let filter = BloomFilter.build(hashes: hashes, bitsPerKey: bloomBitsPerKey)
            filterHandle = filter.withUnsafeBytes { writeBlock($0) }
        }
        index.finish()
        let indexHandle = index.buffer.withUnsafeBytes { writeBlock($0) }
        out.append(contentsOf: Footer(filter: filterHandle, index: indexHandle, entries: entries, compressed: anyCompressed).encode())
        try drain()
        try file.fdatasync()
        return offset
    }
}

import OrbitCore
import Synchronization

/// An open table file (docs/formats/lsm-sstable.md). The footer, index block and filter are read
/// and checked when it opens and kept in memory; data blocks are read on demand through the block
/// cache, each checked against its checksum before use — a bad block is an error naming the file
/// and offset, never served.
///
/// The file is not held open: a block read borrows a handle from the `TableCache` (bounded by
/// `lsm.max_open_files`).
///
/// Thread-safe: immutable after open; reads use positioned I/O.
final class TableReader<File: FileHandleProtocol>: @unchecked Sendable {
    let path: String
    let tables: TableCache<File>
    let number: UInt64
    let size: UInt64
    let index: Block
    let filter: Block?
    let entries: UInt64
    let cache: BlockCache

    init(path: String, number: UInt64, size: UInt64, cache: BlockCache, tables: TableCache<File>) throws {
        self.path = path
        self.tables = tables
        self.number = number
        self.size = size
        self.cache = cache
        guard size >= UInt64(Footer.size), size <= UInt64(Int64.max) else {
            throw corruption("table of \(size) bytes is shorter than its footer (or impossibly large)", path, 0)
        }
        let footerOffset = Int64(size) - Int64(Footer.size)
        (entries, index, filter) = try tables.withFile(number, path: path) { file in
            let footerBytes = try file.read(count: Footer.size, at: footerOffset)
            guard footerBytes.count == Footer.size else { throw corruption("table ends inside its footer", path, footerOffset) }
            let footer = try footerBytes.withUnsafeBytes { try Footer.decode($0, path: path, offset: footerOffset) }
            let index = try Self.readBlock(file, footer.index, fileSize: size, what: "index block")
            let filter = footer.filter.size > 0 ? try Self.readBlock(file, footer.filter, fileSize: size, what: "filter block", isFilter: true) : nil
            return (footer.entries, index, filter)
        }
    }

    /// Bytes held in memory for this table (index and filter).
    var memoryUsage: Int { index.bytes.count + (filter?.bytes.count ?? 0) }

    /// Reads and checks one block.
    static func readBlock(_ file: File, _ h: BlockHandle, fileSize: UInt64, what: String, isFilter: Bool = false) throws -> Block {
        let path = file.path
        // Checked without overflow: the handle's fields are any 64-bit values a CRC-valid block holds.
        guard h.offset <= fileSize, h.size < UInt64(Int32.max),
              h.size + UInt64(Footer.blockTrailerSize) <= fileSize - h.offset else {
            throw corruption("\(what) handle (offset \(h.offset), size \(h.size)) points past the end of the file", path, Int64(clamping: h.offset))
        }
        let n = Int(h.size) + Footer.blockTrailerSize
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 8)
        let buf = UnsafeMutableRawBufferPointer(start: storage, count: n)
        do {
            try file.readExactly(into: buf, at: Int64(h.offset))
        } catch {
            storage.deallocate()
            throw error
        }
        let raw = UnsafeRawBufferPointer(buf)
        let body = UnsafeRawBufferPointer(rebasing: raw[0..<(Int(h.size) + 1)])
        let stored = loadFixed32(raw, Int(h.size) + 1)
        guard CRC32C.mask(CRC32C.checksum(body)) == stored else {
            storage.deallocate()
            throw corruption("\(what) checksum mismatch", path, Int64(h.offset))
        }
        switch BlockCompression(rawValue: raw[Int(h.size)]) {
        case .plain:
            return try Block(owning: storage, count: Int(h.size), path: path, offset: Int64(h.offset), raw: isFilter)
        case .lz4:
            defer { storage.deallocate() }
            let (plain, count) = try BlockCompression.decompressLZ4(UnsafeRawBufferPointer(rebasing: raw[0..<Int(h.size)]),
                                                                    path: path, offset: Int64(h.offset), what: what)
            return try Block(owning: plain, count: count, path: path, offset: Int64(h.offset), raw: isFilter)
        case nil:
            let t = raw[Int(h.size)]
            storage.deallocate()
            throw corruption("\(what) has unknown compression type \(t) (known: 0 none, 4 LZ4)", path, Int64(h.offset))
        }
    }

    /// A data block, from the cache or the file. `fillCache: false` (compaction input) leaves a
    /// block read from the file out of the cache, so a compaction does not evict the reads' blocks.
    func dataBlock(_ h: BlockHandle, fillCache: Bool = true) throws -> Block {
        let key = BlockCache.Key(file: number, offset: h.offset)
        if fillCache {
            if let b = cache.lookup(key) { return b }
        } else if let b = cache.peek(key) {
            return b
        }
        let b = try tables.withFile(number, path: path) { try Self.readBlock($0, h, fileSize: size, what: "data block") }
        if fillCache { cache.insert(key, b) }
        return b
    }

    @inline(__always) func mayContain(_ userKeyHash: UInt32) -> Bool {
        guard let filter else { return true }
        return BloomFilter.mayContain(filter.bytes, hash: userKeyHash)
    }

    /// Finds the first entry >= `ikey` (a seek key) and, if it has the same user key, calls `body`
    /// with its type and value. Returns nil when the table has no entry for the user key.
    func get<R>(_ ikey: UnsafeRawBufferPointer, _ body: (ValueType, UnsafeRawBufferPointer) throws -> R) throws -> R? {
        var it = BlockIterator(index)
        it.seek(ikey)
        if it.corrupt { throw corruption("malformed index block entry", path, 0) }
        guard it.valid else { return nil }
        guard let h = BlockHandle.decode(it.value) else { throw corruption("malformed block handle in index", path, 0) }
        let block = try dataBlock(h)
        var d = BlockIterator(block)
        d.seek(ikey)
        if d.corrupt { throw corruption("malformed data block entry", path, Int64(truncatingIfNeeded: h.offset)) }
        guard d.valid else { return nil }
        let k = d.key
        guard compareBytes(userKey(k), userKey(ikey)) == 0 else { return nil }
        let type: ValueType = k[k.count - trailerSize] == 0 ? .delete : .put
        return try body(type, d.value)
    }

    /// Reads every block and checks every checksum and entry (for `inspect`). Returns entries seen.
    func verify() throws -> UInt64 {
        var it = BlockIterator(index)
        it.seekToFirst()
        var n: UInt64 = 0
        while it.valid {
            guard let h = BlockHandle.decode(it.value) else { throw corruption("malformed block handle in index", path, 0) }
            let b = try tables.withFile(number, path: path) { try Self.readBlock($0, h, fileSize: size, what: "data block") }
            var d = BlockIterator(b)
            d.seekToFirst()
            while d.valid { n += 1; d.next() }
            if d.corrupt { throw corruption("malformed data block entry", path, Int64(h.offset)) }
            it.next()
        }
        if it.corrupt { throw corruption("malformed index block entry", path, 0) }
        guard n == entries else { throw corruption("table holds \(n) entries, its footer says \(entries)", path, Int64(size) - Int64(Footer.size)) }
        return n
    }
}

/// Two-level iterator over a table: the index block, then each data block in turn.
struct TableIterator<File: FileHandleProtocol> {
    let table: TableReader<File>
    let fillCache: Bool
    var indexIt: BlockIterator
    var dataIt: BlockIterator?

    init(_ table: TableReader<File>, fillCache: Bool = true) {
        self.table = table
        self.fillCache = fillCache
        indexIt = BlockIterator(table.index)
    }

    var valid: Bool { dataIt?.valid ?? false }
    var key: UnsafeRawBufferPointer { dataIt!.key }
    var value: UnsafeRawBufferPointer { dataIt!.value }

    private mutating func loadBlock() throws {
        guard indexIt.valid else { dataIt = nil; return }
        guard let h = BlockHandle.decode(indexIt.value) else { throw corruption("malformed block handle in index", table.path, 0) }
        dataIt = BlockIterator(try table.dataBlock(h, fillCache: fillCache))
    }

    /// Moves past exhausted blocks.
    private mutating func skipEmpty() throws {
        while let d = dataIt, !d.valid {
            if d.corrupt { throw corruption("malformed data block entry", table.path, 0) }
            indexIt.next()
            try loadBlock()
            dataIt?.seekToFirst()
        }
    }

    mutating func seekToFirst() throws {
        indexIt.seekToFirst()
        try loadBlock()
        dataIt?.seekToFirst()
        try skipEmpty()
    }

    mutating func seek(_ target: UnsafeRawBufferPointer) throws {
        indexIt.seek(target)
        try loadBlock()
        dataIt?.seek(target)
        try skipEmpty()
    }

    mutating func next() throws {
        dataIt!.next()
        try skipEmpty()
    }
}

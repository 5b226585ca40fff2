import OrbitCore

/// Reads and verifies pages of a cow page file (`cow.db`) outside the cache: open's chains, the
/// inspector, and the full check of a short page file.
///
/// Every page read is checked: checksum, stored page number, type, txid not newer than the meta
/// page in use, and a structurally sound slot array. A failure is `OrbitError(.corruption)` naming
/// the file, page number and byte offset, and what to do.
struct PageFile<File: FileHandleProtocol> {
    let file: File
    let pageSize: Int
    let maxTxid: UInt64
    let pageCount: UInt64

    func corruption(_ no: UInt64, _ what: String) -> OrbitError {
        OrbitError(.corruption, "page \(no): \(what)", at: "\(file.path) @ offset \(no * UInt64(pageSize))",
                   hint: "the store is damaged; restore it from a copy (orbit-bench inspect cow <dir> lists every bad page)")
    }

    /// Reads page `no` into a new `Page` and verifies it.
    func read(_ no: UInt64, expect: PageType) throws -> Page {
        guard no >= Layout.firstDataPage, no < pageCount else {
            throw corruption(no, "page number out of range (page count \(pageCount)); expected a \(expect) page")
        }
        let p = Page(size: pageSize, pageNo: no)
        try file.readExactly(into: UnsafeMutableRawBufferPointer(start: p.bytes, count: pageSize), at: Int64(no) * Int64(pageSize))
        try verify(p, no, expect: expect)
        return p
    }

    func verify(_ p: Page, _ no: UInt64, expect: PageType?) throws {
        if let problem = pageProblem(p, no, expect: expect, pageSize: pageSize, maxTxid: maxTxid) { throw corruption(no, problem) }
    }

    /// Reads and verifies every page of the tree under `root` and its overflow chains, keeping
    /// none (`visited` holds the page numbers checked, shared between trees). Open runs it only
    /// when the page file is shorter than its meta page's page count (a store from an older build,
    /// or a truncated file): otherwise pages are read on demand (`PageCache`).
    func verifyTree(_ root: UInt64, visited: inout Set<UInt64>, depth: Int = 0) throws {
        guard visited.insert(root).inserted else { return }
        guard depth < 64 else { throw corruption(root, "tree deeper than 64 levels (a cycle?)") }
        let p = Page(size: pageSize, pageNo: root)
        guard root >= Layout.firstDataPage, root < pageCount else { throw corruption(root, "page number out of range (page count \(pageCount))") }
        try file.readExactly(into: UnsafeMutableRawBufferPointer(start: p.bytes, count: pageSize), at: Int64(root) * Int64(pageSize))
        try verify(p, root, expect: nil)
        switch p.type {
        case .leaf:
            for i in 0..<p.count {
                let v = p.leafValue(i)
                if v.overflow { _ = try loadOverflow(p.bytes.u64(v.offset), length: v.length) }
            }
        case .branch:
            guard p.count >= 1 else { throw corruption(root, "branch page with no children") }
            for i in 0..<p.count { try verifyTree(p.branchChildNo(i), visited: &visited, depth: depth + 1) }
        default:
            throw corruption(root, "is a \(p.type.map { "\($0)" } ?? "?") page where a tree page was expected")
        }
    }

    func loadOverflow(_ first: UInt64, length: Int) throws -> OverflowValue {
        let per = pageSize - Layout.overflowPayloadOffset
        guard length <= Int(pageCount - Layout.firstDataPage) * per else {
            throw corruption(first, "overflow value of \(length) bytes is longer than the whole page file holds")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        var pages: [UInt64] = []
        var no = first
        while bytes.count < length {
            guard no != 0, pages.count <= length else { throw corruption(first, "overflow chain ends after \(bytes.count) of \(length) bytes") }
            let p = try read(no, expect: .overflow)
            let n = p.count
            guard n <= pageSize - Layout.overflowPayloadOffset, bytes.count + n <= length else {
                throw corruption(no, "overflow page holds \(n) bytes, more than the value needs")
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: p.bytes + Layout.overflowPayloadOffset, count: n))
            pages.append(no)
            no = p.bytes.u64(Layout.nextOffset)
        }
        return OverflowValue(bytes: bytes, pages: pages)
    }

    /// The page numbers of a chain (free list, snapshot list) and its pages.
    func loadChain(_ first: UInt64, type: PageType) throws -> [Page] {
        var out: [Page] = []
        var no = first
        while no != 0 {
            guard out.count < Int(pageCount) else { throw corruption(first, "\(type) chain loops") }
            let p = try read(no, expect: type)
            out.append(p)
            no = p.bytes.u64(Layout.nextOffset)
        }
        return out
    }

    /// The free page numbers a free-list chain lists. A checksum-valid page may still hold a count
    /// past its end or an entry that is no free page: an entry of 0 or 1 would let the allocator
    /// overwrite a meta page, one at or past the page count is garbage, and one listed twice would
    /// be handed out twice. Each is corruption naming the page.
    func freeListEntries(_ pages: [Page]) throws -> [UInt64] {
        var out: [UInt64] = []
        var seen: Set<UInt64> = []
        let perPage = (pageSize - Layout.headerSize) / 8
        for p in pages {
            guard p.count <= perPage else {
                throw corruption(p.pageNo, "free-list page lists \(p.count) entries, more than a page holds (\(perPage))")
            }
            for i in 0..<p.count {
                let no = p.bytes.u64(Layout.headerSize + i * 8)
                guard no >= Layout.firstDataPage, no < pageCount else {
                    throw corruption(p.pageNo, "free-list entry \(i) is page \(no), outside the data pages \(Layout.firstDataPage)..<\(pageCount)")
                }
                guard seen.insert(no).inserted else { throw corruption(p.pageNo, "free-list entry \(i) lists page \(no) twice") }
                out.append(no)
            }
        }
        return out
    }

    func snapshotRecords(_ pages: [Page]) throws -> [SnapshotRecord] {
        var out: [SnapshotRecord] = []
        for p in pages {
            var o = Layout.headerSize
            for _ in 0..<p.count {
                guard o + 2 <= pageSize else { throw corruption(p.pageNo, "snapshot record runs off the page") }
                let n = p.bytes.u16(o)
                guard o + 2 + n + 48 <= pageSize else { throw corruption(p.pageNo, "snapshot record runs off the page") }
                let name = String(decoding: UnsafeRawBufferPointer(start: p.bytes + o + 2, count: n), as: UTF8.self)
                let b = o + 2 + n
                let r = SnapshotRecord(name: name, root: p.bytes.u64(b), height: p.bytes.u64(b + 8), txid: p.bytes.u64(b + 16),
                                       keys: p.bytes.u64(b + 24), keyBytes: p.bytes.u64(b + 32), valueBytes: p.bytes.u64(b + 40))
                // Restoring it converts these to Int: out-of-range values must be refused here.
                guard r.root < pageCount, r.height <= 64, r.keys <= UInt64(Int64.max), r.keyBytes <= UInt64(Int64.max),
                      r.valueBytes <= UInt64(Int64.max) else {
                    throw corruption(p.pageNo, "snapshot record '\(name)' holds out-of-range fields (root \(r.root), height \(r.height))")
                }
                out.append(r)
                o = b + 48
            }
        }
        return out
    }
}

/// What is wrong with page `no` as read (nil: nothing): checksum, stored page number, type, txid
/// not newer than the meta page in use, and a structurally sound slot array.
func pageProblem(_ p: Page, _ no: UInt64, expect: PageType?, pageSize: Int, maxTxid: UInt64) -> String? {
    guard Page.checksumIsValid(p.bytes, pageSize) else { return "checksum mismatch" }
    let stored = p.bytes.u64(Layout.pageNoOffset)
    guard stored == no else { return "holds page number \(stored) (misdirected write)" }
    guard let type = p.type else { return "unknown page type \(p.bytes.load(fromByteOffset: 4, as: UInt8.self))" }
    if let expect, type != expect { return "is a \(type) page where a \(expect) page was expected" }
    let txid = p.bytes.u64(Layout.txidOffset)
    guard txid <= maxTxid else { return "written by txid \(txid), newer than the meta page's \(maxTxid)" }
    if type == .leaf || type == .branch {
        let n = p.count
        guard Layout.headerSize + n * 2 <= p.upper, p.upper <= pageSize else { return "slot array overlaps the entry heap" }
        for i in 0..<n {
            let o = p.slot(i)
            guard o >= p.upper, o + (type == .leaf ? Layout.leafEntryHeader : Layout.branchEntryHeader) <= pageSize,
                  o + p.entrySize(at: o) <= pageSize else { return "entry \(i) at offset \(o) runs off the page" }
        }
    }
    return nil
}

/// Reads both meta pages of a page file: (slot, meta or why it is not valid).
func readMetaPages<File: FileHandleProtocol>(_ file: File, preferredPageSize: Int) throws -> [(slot: Int, meta: Result<MetaPage, MetaPage.DecodeError>)] {
    let m0 = MetaPage.decode(try file.read(count: MetaPage.encodedSize, at: 0))
    var sizes: [Int] = []
    if case .success(let m) = m0 { sizes.append(m.pageSize) }
    sizes.append(preferredPageSize)
    var s = 512
    while s <= 65_536 { if !sizes.contains(s) { sizes.append(s) }; s <<= 1 }
    var m1: Result<MetaPage, MetaPage.DecodeError> = .failure(.badChecksum)
    for size in sizes {
        let r = MetaPage.decode(try file.read(count: MetaPage.encodedSize, at: Int64(size)))
        if case .success(let m) = r, m.pageSize == size { m1 = r; break }
        if size == sizes[0] { m1 = r }
    }
    return [(0, m0), (1, m1)]
}

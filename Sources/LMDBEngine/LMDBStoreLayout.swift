public import OrbitCore

/// LMDB's on-disk format, as far as the harness describes it, named from LMDB 0.9's mdb.c
/// (`MDB_page`, `MDB_meta`, `MDB_db`) on a 64-bit build. LMDB keeps no checksums anywhere.
enum LMDBFormat {
    /// PAGEHDRSZ: mp_pgno (8), mp_pad (2), mp_flags (2), mp_lower (2), mp_upper (2).
    static let pageHeaderSize = 16
    static let pageHeaderFields = [0, 8, 10, 12, 14]
    /// Pages 0 and 1 are meta pages (NUM_METAS).
    static let metaPages = 2
    /// The meta page's region: MDB_meta after the page header — mm_magic, mm_version (4 each),
    /// mm_address, mm_mapsize (8 each), mm_dbs[2] (48 each), mm_last_pg, mm_txnid (8 each): 136
    /// bytes, to offset 152. The region is drawn to 160, as the corruption sweep has always named
    /// it (results stay comparable); bytes 152..<160 are unused.
    static let metaRegionEnd = 160
    /// mm_psize: `mm_dbs[FREE_DBI].md_pad`, the first field of the first MDB_db, at meta offset 24.
    static let pageSizeOffset = pageHeaderSize + 24
    static let defaultPageSize = 4096
    static let smallestPageSize = 512, largestPageSize = 65_536
}

/// The on-disk layout of an LMDB store, one file at a time: what CrashLab's corruption sweep
/// damages and how it names it. Region names are part of its results (`corruption.csv`).
public enum LMDBStoreLayout: StoreFileLayouts {
    /// The file's kind: "data" (`data.mdb`), "lock" (`lock.mdb`), else "other".
    public static func fileKind(relativePath: String) -> String {
        let name = FileLayout.baseName(relativePath)
        if name == "data.mdb" { return "data" }
        if name == "lock.mdb" { return "lock" }
        return "other"
    }

    /// The layout of one file of the store (`relativePath` below the store directory, `bytes` its
    /// content), with the page size from meta page 0. Nothing is checksummed.
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? {
        switch fileKind(relativePath: relativePath) {
        case "data": FileLayout.of(relativePath, bytes, fileType: "data", region: "page-body", checksummed: false) { addPages(&$0, bytes) }
        case "lock": FileLayout.of(relativePath, bytes, fileType: "lock", region: "reader-table", checksummed: false)
        default: FileLayout.unknown(relativePath, bytes)
        }
    }

    static func addPages(_ l: inout FileLayout, _ b: [UInt8]) {
        var pageSize = LMDBFormat.defaultPageSize
        if b.count >= LMDBFormat.pageSizeOffset + 8 {
            let ps = Int(b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: LMDBFormat.pageSizeOffset, as: UInt32.self)) })
            if ps >= LMDBFormat.smallestPageSize && ps <= LMDBFormat.largestPageSize && ps & (ps - 1) == 0 { pageSize = ps }
        }
        let header = Int64(LMDBFormat.pageHeaderSize)
        var p = 0
        while p * pageSize < b.count {
            let base = Int64(p * pageSize)
            if p < LMDBFormat.metaPages {
                l.add(base, base + header, "meta-page-header", false)
                l.add(base + header, base + Int64(LMDBFormat.metaRegionEnd), "meta-page", false)
                for o in stride(from: LMDBFormat.pageHeaderSize, to: LMDBFormat.metaRegionEnd, by: 8) { l.header(base + Int64(o)) }
            } else {
                l.add(base, base + header, "page-header", false)
            }
            for o in LMDBFormat.pageHeaderFields { l.header(base + Int64(o)) }
            p += 1
        }
    }
}

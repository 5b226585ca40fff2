import OrbitCore

/// `orbit-bench inspect cow DIR`: both meta pages, the tree's shape per level, the free list and
/// the snapshots, and a check of every page in use (checksum, page number, type, structure).
/// Reads the files only; never writes.
public struct CowInspection: Sendable {
    /// Human-readable report, one line each.
    public var lines: [String] = []
    /// False when any page or meta page in use is corrupt (the CLI exits non-zero).
    public var ok = true
    /// Pages in use: the current tree, snapshot trees, overflow chains, free-list and snapshot-list pages.
    public var usedPages: [UInt64] = []
    /// Pages of the current tree (and its overflow chains).
    public var treePages: Set<UInt64> = []
    public var height = 0
    public var maxEntriesPerNode = 0
}

public enum CowInspector {
    public static func inspect(directory: String) throws -> CowInspection {
        try inspect(fs: POSIXFileSystem(), directory: directory)
    }

    /// As above, reading through `fs` (an encrypted store: `EncryptingFileSystem`).
    public static func inspect<FS: FileSystem>(fs: FS, directory: String) throws -> CowInspection {
        let path = joinPath(directory, CowEngine.pageFileName)
        guard try fs.exists(path) else {
            throw OrbitError(.notFound, "no cow page file", at: path, hint: "give the directory of a cow store (<data_dir>/cow)")
        }
        let file = try fs.open(path, .read)
        defer { try? file.close() }
        var r = CowInspection()
        let fileSize = try file.size()
        r.lines.append("file \(path): \(fileSize) bytes")
        var best: (MetaPage, Int)? = nil
        for (slot, m) in try readMetaPages(file, preferredPageSize: 4096) {
            switch m {
            case .success(let m):
                r.lines.append("meta page \(slot): txid \(m.txid), page size \(m.pageSize), root \(m.root), height \(m.height), "
                               + "pages \(m.pageCount), free list @\(m.freeListPage) (\(m.freeCount) free), snapshots @\(m.snapshotPage), "
                               + "keys \(m.keys), key bytes \(m.keyBytes), value bytes \(m.valueBytes), checkpoints \(m.checkpoints), "
                               + "WAL from segment \(m.walSeq)" + (m.walSlot.map { " in \(CowEngine.segmentName($0))" } ?? ""))
                if best == nil || m.txid > best!.0.txid { best = (m, slot) }
            case .failure(let e):
                r.lines.append("meta page \(slot): invalid: \(e)")
            }
        }
        guard let (meta, slot) = best else {
            r.ok = false
            r.lines.append("CORRUPT: no valid meta page")
            return r
        }
        r.lines.append("using meta page \(slot) (txid \(meta.txid))")
        let pf = PageFile(file: file, pageSize: meta.pageSize, maxTxid: meta.txid, pageCount: meta.pageCount)
        var used: Set<UInt64> = []
        var seenTree: Set<UInt64> = []
        func bad(_ e: any Error) {
            r.ok = false
            r.lines.append("CORRUPT: " + ((e as? OrbitError).map { "\($0.message) (\($0.location ?? path))" } ?? "\(e)"))
        }

        // A tree, level by level; each page read and verified once.
        func walk(_ root: UInt64, label: String, tree: Bool) {
            guard root != 0 else { r.lines.append("\(label): empty"); return }
            var level: [UInt64] = [root]
            var depth = 0
            while !level.isEmpty && depth < 64 {
                var next: [UInt64] = []
                var entries = 0, leaves = 0, branches = 0, overflowPages = 0, shared = 0
                for no in level {
                    if !tree && seenTree.contains(no) { shared += 1; continue }
                    do {
                        let p = try pf.read(no, expect: try peekType(no))
                        guard p.type == .leaf || p.type == .branch else {
                            throw pf.corruption(no, "is a \(p.type!) page where a tree page was expected")
                        }
                        used.insert(no)
                        if tree { r.treePages.insert(no); seenTree.insert(no) }
                        entries += p.count
                        r.maxEntriesPerNode = max(r.maxEntriesPerNode, p.count)
                        if p.isLeaf {
                            leaves += 1
                            for i in 0..<p.count where p.leafValue(i).overflow {
                                let v = p.leafValue(i)
                                do {
                                    let ov = try pf.loadOverflow(p.bytes.u64(v.offset), length: v.length)
                                    for n in ov.pages { used.insert(n); if tree { r.treePages.insert(n) } }
                                    overflowPages += ov.pages.count
                                } catch { bad(error) }
                            }
                        } else {
                            branches += 1
                            for i in 0..<p.count { next.append(p.branchChildNo(i)) }
                        }
                    } catch { bad(error) }
                }
                r.lines.append("\(label) level \(depth): \(branches) branch + \(leaves) leaf pages, \(entries) entries"
                               + (overflowPages > 0 ? ", \(overflowPages) overflow pages" : "")
                               + (shared > 0 ? ", \(shared) pages shared with the current tree" : ""))
                level = next
                depth += 1
            }
            if tree { r.height = depth }
        }
        func peekType(_ no: UInt64) throws -> PageType {
            let b = try file.read(count: 8, at: Int64(no) * Int64(meta.pageSize))
            return b.count > 4 ? PageType(rawValue: b[4]) ?? .leaf : .leaf
        }
        walk(meta.root, label: "tree", tree: true)

        var free: [UInt64] = []
        do {
            let pages = try pf.loadChain(meta.freeListPage, type: .freeList)
            for p in pages { used.insert(p.pageNo) }
            free = try pf.freeListEntries(pages)
            r.lines.append("free list: \(pages.count) pages listing \(free.count) free pages")
        } catch { bad(error) }
        do {
            let pages = try pf.loadChain(meta.snapshotPage, type: .snapshotList)
            for p in pages { used.insert(p.pageNo) }
            let records = try pf.snapshotRecords(pages)
            r.lines.append("snapshots: \(records.count)")
            for s in records {
                r.lines.append("snapshot '\(s.name)': root \(s.root), height \(s.height), txid \(s.txid), keys \(s.keys)")
                walk(s.root, label: "snapshot '\(s.name)'", tree: false)
            }
        } catch { bad(error) }

        // WAL segments (cow-wal.md): which hold records the meta page does not cover yet.
        for name in try fs.list(directory: directory) where name.hasPrefix(CowEngine.segmentPrefix) {
            let p = joinPath(directory, name)
            let bytes = try fs.readFile(p)
            switch try? WALFormat.decodeHeader(Array(bytes.prefix(WALFormat.segmentHeaderSize)), path: p) {
            case .segment(let h)?:
                let records = WALFormat.records(segment: bytes, seq: h.seq)
                let newer = records.filter { $0.txid > meta.txid }.count
                r.lines.append("wal \(name): \(bytes.count) bytes, segment \(h.seq), previous txid \(h.prevTxid), written under \(h.mode), \(records.count) records, "
                               + (h.seq >= meta.walSeq ? "\(newer) newer than the meta page" : "covered by the meta page (spare)"))
            case .spare?:
                r.lines.append("wal \(name): \(bytes.count) bytes, spare")
            case nil:
                r.ok = false
                r.lines.append("CORRUPT: wal \(name): not a cow WAL segment of a supported version")
            }
        }

        let freeSet = Set(free)
        for no in freeSet.sorted() where used.contains(no) {
            r.ok = false
            r.lines.append("CORRUPT: page \(no): listed as free but in use")
        }
        let leaked = (Layout.firstDataPage..<meta.pageCount).filter { !used.contains($0) && !freeSet.contains($0) }
        r.lines.append("pages: \(meta.pageCount) total, \(used.count) in use, \(freeSet.count) free, \(leaked.count) unaccounted")
        if Int64(meta.pageCount) * Int64(meta.pageSize) > fileSize {
            r.ok = false
            r.lines.append("CORRUPT: the file ends before page \(meta.pageCount - 1)")
        }
        r.usedPages = used.sorted()
        r.lines.append(r.ok ? "OK: every page in use verified" : "CORRUPT: see above")
        return r
    }
}

import OrbitCore

/// Merges sorted sources — memtables, level-0 tables, deeper levels — into one sequence of
/// internal keys in `compareInternal` order (for equal user keys, newest first).
///
/// Sources are kept in typed arrays (no existentials) and mutated in place; the smallest is found
/// by a linear pass, which beats a heap for the handful of sources an LSM-tree has.
struct MergingIterator<File: FileHandleProtocol> {
    var mems: [MemtableIterator]
    var tables: [TableIterator<File>]
    var levels: [LevelIterator<File>]
    /// The current source: index into mems, then tables, then levels; -1 when exhausted.
    private(set) var current = -1

    /// `fillCache: false` for compactions: table blocks they read stay out of the block cache.
    init(mems: [Memtable], tables: [TableReader<File>], levels: [[TableFile<File>]], fillCache: Bool = true) {
        self.mems = mems.map { MemtableIterator($0) }
        self.tables = tables.map { TableIterator($0, fillCache: fillCache) }
        self.levels = levels.map { LevelIterator($0) }
    }

    var valid: Bool { current >= 0 }

    @inline(__always) private func sourceValid(_ s: Int) -> Bool {
        if s < mems.count { return mems[s].valid }
        let t = s - mems.count
        if t < tables.count { return tables[t].valid }
        return levels[t - tables.count].valid
    }

    @inline(__always) private func sourceKey(_ s: Int) -> UnsafeRawBufferPointer {
        if s < mems.count { return mems[s].key }
        let t = s - mems.count
        if t < tables.count { return tables[t].key }
        return levels[t - tables.count].key
    }

    var key: UnsafeRawBufferPointer { sourceKey(current) }

    var value: UnsafeRawBufferPointer {
        let s = current
        if s < mems.count { return mems[s].value }
        let t = s - mems.count
        if t < tables.count { return tables[t].value }
        return levels[t - tables.count].value
    }

    private var sourceCount: Int { mems.count + tables.count + levels.count }

    private mutating func findSmallest() {
        var best = -1
        var bestKey = UnsafeRawBufferPointer(start: nil, count: 0)
        for s in 0..<sourceCount where sourceValid(s) {
            let k = sourceKey(s)
            if best < 0 || compareInternal(k, bestKey) < 0 { best = s; bestKey = k }
        }
        current = best
    }

    mutating func seekToFirst() throws {
        for i in mems.indices { mems[i].seekToFirst() }
        for i in tables.indices { try tables[i].seekToFirst() }
        for i in levels.indices { try levels[i].seekToFirst() }
        findSmallest()
    }

    mutating func seek(_ target: UnsafeRawBufferPointer) throws {
        for i in mems.indices { mems[i].seek(target) }
        for i in tables.indices { try tables[i].seek(target) }
        for i in levels.indices { try levels[i].seek(target) }
        findSmallest()
    }

    mutating func next() throws {
        let s = current
        if s < mems.count { mems[s].next() }
        else if s - mems.count < tables.count { try tables[s - mems.count].next() }
        else { try levels[s - mems.count - tables.count].next() }
        findSmallest()
    }
}

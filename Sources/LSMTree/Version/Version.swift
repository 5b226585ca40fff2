import OrbitCore
import Synchronization

/// A live table: what the manifest says about it and its reader.
///
/// A table that leaves the store (compacted away, replaced by a restore, its snapshot dropped) is
/// *retired*: its file is removed when the last `Version` (or reader, or compaction job) holding
/// this object lets go, never while a reader may still read it. So a reader of an old version can
/// always reopen the file by its path (the table cache closes idle handles), and no descriptor is
/// held for an unlinked table.
final class TableFile<File: FileHandleProtocol>: @unchecked Sendable {
    let meta: FileMeta
    let reader: TableReader<File>
    private let onRetire = Lock<(@Sendable () -> Void)?>(nil)
    init(meta: FileMeta, reader: TableReader<File>) { self.meta = meta; self.reader = reader }

    /// Runs `remove` once this object is freed (the manifest no longer names the table).
    func retire(_ remove: @escaping @Sendable () -> Void) { onRetire.withLock { $0 = remove } }

    deinit { onRetire.withLock { $0 }?() }

    var smallestUserKey: UnsafeRawBufferPointer { meta.smallest.withUnsafeBytes { userKey($0) } }

    /// Whether the user key lies within this table's range.
    @inline(__always) func covers(_ key: UnsafeRawBufferPointer) -> Bool {
        meta.smallest.withUnsafeBytes { compareBytes(key, userKey($0)) >= 0 }
            && meta.largest.withUnsafeBytes { compareBytes(key, userKey($0)) <= 0 }
    }
}

/// A weak reference to a table object (`LSMTree.liveTables`).
struct WeakTable<File: FileHandleProtocol> {
    weak var table: TableFile<File>?
    init(_ t: TableFile<File>) { table = t }
}

/// An immutable set of live tables per level. Level 0 is ordered oldest to newest (its tables may
/// overlap); every other level is ordered by smallest key and its tables do not overlap.
/// Readers hold a `Version` for the length of a get or scan; the files it names stay open.
final class Version<File: FileHandleProtocol>: @unchecked Sendable {
    let levels: [[TableFile<File>]]

    init(levels: [[TableFile<File>]]) { self.levels = levels }

    static func empty(levels: Int) -> Version { Version(levels: Array(repeating: [], count: levels)) }

    func levelBytes(_ l: Int) -> UInt64 { levels[l].reduce(0) { $0 + $1.meta.size } }

    var allFiles: [(level: Int, file: TableFile<File>)] {
        levels.enumerated().flatMap { l, files in files.map { (l, $0) } }
    }

    func contains(_ number: UInt64) -> Bool { levels.contains { $0.contains { $0.meta.number == number } } }

    /// The version after `edit`; `opened` supplies readers for the files it adds.
    func applying(_ edit: VersionEdit, _ opened: [UInt64: TableFile<File>]) -> Version {
        var ls = levels
        for d in edit.deleted { ls[d.level].removeAll { $0.meta.number == d.number } }
        for a in edit.added { ls[a.level].append(opened[a.meta.number]!) }
        for l in ls.indices {
            if l == 0 { ls[l].sort { $0.meta.number < $1.meta.number } }
            else { ls[l].sort { compareInternalArrays($0.meta.smallest, $1.meta.smallest) < 0 } }
        }
        return Version(levels: ls)
    }

    /// Index of the first table in level `l` (≥ 1) whose largest user key >= `key`.
    @inline(__always) func findFile(_ l: Int, _ key: UnsafeRawBufferPointer) -> Int {
        let files = levels[l]
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if files[mid].meta.largest.withUnsafeBytes({ compareBytes(userKey($0), key) < 0 }) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Whether any table in a level deeper than `level` may hold `key`.
    func deeperLevelsMayHold(_ key: UnsafeRawBufferPointer, below level: Int) -> Bool {
        var l = level + 1
        while l < levels.count {
            let i = findFile(l, key)
            if i < levels[l].count && levels[l][i].covers(key) { return true }
            l += 1
        }
        return false
    }
}

func compareInternalArrays(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareInternal(pa, pb) } }
}

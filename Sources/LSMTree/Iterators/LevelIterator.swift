import OrbitCore

/// Walks one level ≥ 1 (sorted, non-overlapping tables) as one sequence, opening a table iterator
/// only for the table it is in.
struct LevelIterator<File: FileHandleProtocol> {
    let files: [TableFile<File>]
    let fillCache: Bool
    var index: Int
    var it: TableIterator<File>?

    /// `fillCache: false` for compactions: blocks read from the files stay out of the block cache.
    init(_ files: [TableFile<File>], fillCache: Bool = true) { self.files = files; self.fillCache = fillCache; index = files.count }

    var valid: Bool { it?.valid ?? false }
    var key: UnsafeRawBufferPointer { it!.key }
    var value: UnsafeRawBufferPointer { it!.value }

    private mutating func open(_ i: Int) {
        index = i
        it = i < files.count ? TableIterator(files[i].reader, fillCache: fillCache) : nil
    }

    private mutating func skipExhausted() throws {
        while it != nil && !it!.valid {
            open(index + 1)
            try it?.seekToFirst()
        }
    }

    mutating func seekToFirst() throws {
        open(0)
        try it?.seekToFirst()
        try skipExhausted()
    }

    mutating func seek(_ target: UnsafeRawBufferPointer) throws {
        // First table whose largest key >= target.
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if files[mid].meta.largest.withUnsafeBytes({ compareInternal($0, target) < 0 }) { lo = mid + 1 } else { hi = mid }
        }
        open(lo)
        try it?.seek(target)
        try skipExhausted()
    }

    mutating func next() throws {
        try it!.next()
        try skipExhausted()
    }
}

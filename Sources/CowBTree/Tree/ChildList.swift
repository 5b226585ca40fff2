/// A branch page's child pages, in chunks of 16 shared between page versions.
///
/// Copy-on-write of a branch copies its child list; with a flat `[Page]` the first change then
/// retains every child (~150 for 4 KiB pages) and the old version later releases them all. Here a
/// copy shares the chunks, and replacing one child copies only the chunk array and one chunk.
/// Inserting or removing (splits and merges, far rarer than replacements) re-chunks the list.
/// A nil child is one the branch does not link: it is found by its page number (`PageCache`).
struct ChildList: RandomAccessCollection {
    final class Chunk {
        var items: [Page?]
        init(_ items: [Page?]) { self.items = items }
    }
    static let shift = 4
    static let size = 1 << shift

    private var chunks: [Chunk] = []
    private(set) var count = 0

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    @inline(__always)
    subscript(i: Int) -> Page? {
        get { chunks[i >> Self.shift].items[i & (Self.size - 1)] }
        set {
            let c = i >> Self.shift
            if !isKnownUniquelyReferenced(&chunks[c]) { chunks[c] = Chunk(chunks[c].items) }
            chunks[c].items[i & (Self.size - 1)] = newValue
        }
    }

    mutating func append(_ p: Page?) {
        if count & (Self.size - 1) == 0 {
            var items: [Page?] = []
            items.reserveCapacity(Self.size)
            items.append(p)
            chunks.append(Chunk(items))
        } else {
            let c = chunks.count - 1
            if !isKnownUniquelyReferenced(&chunks[c]) { chunks[c] = Chunk(chunks[c].items) }
            chunks[c].items.append(p)
        }
        count += 1
    }

    /// Re-chunks from a flat list: one allocation per chunk, no per-child uniqueness checks.
    private mutating func rebuild(_ all: [Page?]) {
        chunks.removeAll(keepingCapacity: true)
        var s = 0
        while s < all.count {
            let e = Swift.min(s + Self.size, all.count)
            var items: [Page?] = []
            items.reserveCapacity(Self.size)
            items.append(contentsOf: all[s..<e])
            chunks.append(Chunk(items))
            s = e
        }
        count = all.count
    }

    /// Every child in order, gathered chunk by chunk.
    private func flattened() -> [Page?] {
        var all: [Page?] = []
        all.reserveCapacity(count)
        for c in chunks { all.append(contentsOf: c.items) }
        return all
    }

    /// Inserts at `i` by shifting within chunks: the chunk at `i` takes the child, and each full chunk
    /// passes its last child on to the next (every chunk but the last stays full). Copies only the
    /// chunks it changes that are shared with another version.
    mutating func insert(_ p: Page?, at i: Int) {
        if i == count { append(p); return }
        var carry = p
        var c = i >> Self.shift
        var at = i & (Self.size - 1)
        while c < chunks.count {
            if !isKnownUniquelyReferenced(&chunks[c]) { chunks[c] = Chunk(chunks[c].items) }
            let chunk = chunks[c]
            chunk.items.insert(carry, at: at)
            if chunk.items.count <= Self.size { count += 1; return }
            carry = chunk.items.removeLast()
            c += 1
            at = 0
        }
        var items: [Page?] = []
        items.reserveCapacity(Self.size)
        items.append(carry)
        chunks.append(Chunk(items))
        count += 1
    }

    mutating func remove(at i: Int) {
        var all = flattened()
        all.remove(at: i)
        rebuild(all)
    }

    mutating func removeAll(keepingCapacity: Bool = false) {
        chunks.removeAll(keepingCapacity: keepingCapacity)
        count = 0
    }

    /// `n` unlinked children (a branch read from disk, before its first change).
    init(unlinked n: Int) {
        var s = 0
        while s < n {
            let e = Swift.min(s + Self.size, n)
            var items: [Page?] = Array(repeating: nil, count: e - s)
            items.reserveCapacity(Self.size)
            chunks.append(Chunk(items))
            s = e
        }
        count = n
    }

    init() {}

    mutating func reserveCapacity(_ n: Int) { chunks.reserveCapacity((n + Self.size - 1) >> Self.shift) }
}

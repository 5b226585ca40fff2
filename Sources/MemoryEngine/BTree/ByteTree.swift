/// A sorted map from byte keys to byte values: a copy-on-write B+tree of `Node`s, kept in
/// `compareBytes` order.
///
/// A value type. Copying a `ByteTree` is O(1) and shares every node; the first mutation of either
/// copy duplicates only the nodes on the root-to-leaf path it changes (checked with
/// `isKnownUniquelyReferenced`). That is how `MemoryEngine` takes snapshots.
///
/// Not thread-safe by itself: `MemoryEngine` serializes mutations and lets reads run together.
/// Reads never mutate (no lazy caches, no reference counting of nodes), so any number of them may
/// run at once on one tree.
///
/// Balance: nodes split when full (`Node.needsSplit`). On deletion an empty node is removed and an
/// underfull one is merged into a sibling when the two fit in one node; otherwise it is left as it
/// is (no borrowing), so a delete-heavy workload can leave leaves under a quarter full, but never
/// empty, and the tree loses levels as internal nodes drain.
struct ByteTree {
    private(set) var root = Node.make(isLeaf: true)
    /// Number of keys.
    private(set) var count = 0
    /// Sum of key lengths.
    private(set) var keyBytes = 0
    /// Sum of value lengths.
    private(set) var valueBytes = 0
    /// Levels, counting the leaves (1 for a lone leaf).
    private(set) var height = 1

    init() {}

    // MARK: Reads

    /// Calls `body` with the value of `key`, or nil when absent.
    /// - Complexity: O(log n).
    func withValue<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let prefix = keyPrefix(key)
        return try Self.leaf(for: key, prefix, from: root)._withUnsafeGuaranteedRef { leaf in
            let (i, found) = leaf.find(key, prefix)
            guard found else { return try body(nil) }
            return try body(leaf.valueBytes(leaf.slots[i]))
        }
    }

    /// The leaf whose range holds `key`, found without retaining the nodes on the way: readers on
    /// several threads would otherwise bounce the upper nodes' reference counts between cores.
    /// Valid while the tree is not mutated (the caller holds the engine's lock).
    @inline(__always)
    static func leaf(for key: UnsafeRawBufferPointer, _ prefix: UInt64, from root: Node) -> Unmanaged<Node> {
        var node = Unmanaged.passUnretained(root)
        while let next = node._withUnsafeGuaranteedRef({ $0.isLeaf ? nil : $0.child(at: $0.childIndex(key, prefix)) }) {
            node = next
        }
        return node
    }

    /// Visits the entries of [start, end) in ascending order; see `StorageEngine.scan`.
    /// - Complexity: O(log n + k) for k entries visited.
    func scan(from start: UnsafeRawBufferPointer?, to end: UnsafeRawBufferPointer?, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) rethrows -> Int {
        var bounds = ScanBounds(start: start, end: end, limit: limit)
        _ = try Self.scan(Unmanaged.passUnretained(root), &bounds, useStart: true, visit)
        return bounds.visited
    }

    private struct ScanBounds {
        let start: UnsafeRawBufferPointer?
        let startPrefix: UInt64
        let end: UnsafeRawBufferPointer?
        let endPrefix: UInt64
        let limit: Int
        var visited = 0

        init(start: UnsafeRawBufferPointer?, end: UnsafeRawBufferPointer?, limit: Int) {
            self.start = start
            self.startPrefix = start.map(keyPrefix) ?? 0
            self.end = end
            self.endPrefix = end.map(keyPrefix) ?? 0
            self.limit = limit
        }
    }

    /// Returns false once the scan is over (end bound, limit, or the visitor said stop).
    /// Only the leftmost path of the scan looks at `start`: every key in a later child is >= the
    /// separator before it, which is > start.
    private static func scan(_ unmanaged: Unmanaged<Node>, _ b: inout ScanBounds, useStart: Bool,
                             _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) rethrows -> Bool {
        try unmanaged._withUnsafeGuaranteedRef { node in
            let slots = node.slots
            var i = 0
            if node.isLeaf {
                if useStart, let start = b.start { i = node.find(start, b.startPrefix).index }
                while i < node.count {
                    let s = slots[i]
                    if let end = b.end, node.compare(s, end, b.endPrefix) >= 0 { return false }
                    b.visited += 1
                    guard try visit(node.keyBytes(s), node.valueBytes(s)) else { return false }
                    if b.limit > 0 && b.visited >= b.limit { return false }
                    i += 1
                }
                return true
            }
            if useStart, let start = b.start { i = node.childIndex(start, b.startPrefix) }
            let first = i
            while i < node.childCount {
                // Every key in child i is >= separator i-1; if that is >= end, the scan is over.
                if i > 0, let end = b.end, node.compare(slots[i - 1], end, b.endPrefix) >= 0 { return false }
                guard try scan(node.child(at: i), &b, useStart: useStart && i == first, visit) else { return false }
                i += 1
            }
            return true
        }
    }

    // MARK: Writes

    /// Inserts or overwrites.
    /// - Complexity: O(log n), plus a copy of each shared node on the path.
    mutating func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        let prefix = keyPrefix(key)
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
        var replaced: Int? = nil
        if let (separator, right) = Self.insert(root, key, value, prefix, &replaced) {
            let newRoot = Node.make(isLeaf: false)
            newRoot.setOnlyChild(root)
            newRoot.insertChild(right, separator: separator, at: 0)
            root = newRoot
            height += 1
        }
        if let old = replaced {
            valueBytes += value.count - old
        } else {
            count += 1
            keyBytes += key.count
            valueBytes += value.count
        }
    }

    /// Inserts into the subtree of `node`, which the caller made unique. Returns the split of
    /// `node`, if it overflowed, for the caller to link in.
    private static func insert(_ node: Node, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                               _ prefix: UInt64, _ replaced: inout Int?) -> (separator: [UInt8], right: Node)? {
        if node.isLeaf {
            let (i, found) = node.find(key, prefix)
            replaced = node.leafPut(at: i, found: found, key, value, prefix)
            return node.needsSplit ? node.split() : nil
        }
        let i = node.childIndex(key, prefix)
        let child = node.uniqueChild(at: i)
        guard let (separator, right) = insert(child, key, value, prefix, &replaced) else { return nil }
        node.insertChild(right, separator: separator, at: i)
        return node.needsSplit ? node.split() : nil
    }

    /// Removes `key`. Returns whether it was present.
    /// - Complexity: O(log n), plus a copy of each shared node on the path (also when the key is
    ///   absent: the path is copied on the way down; those copies are the live tree's own and the
    ///   next write there would have made them anyway).
    @discardableResult
    mutating func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        let prefix = keyPrefix(key)
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
        guard let (kl, vl) = Self.remove(root, key, prefix) else { return false }
        count -= 1
        keyBytes -= kl
        valueBytes -= vl
        while !root.isLeaf && root.childCount == 1 {
            root = root.child(at: 0).takeUnretainedValue()
            height -= 1
        }
        if !root.isLeaf && root.childCount == 0 {
            root = Node.make(isLeaf: true)
            height = 1
        }
        return true
    }

    /// Removes `key` from the subtree of `node`, which the caller made unique. Returns the removed
    /// key and value lengths, nil when absent.
    private static func remove(_ node: Node, _ key: UnsafeRawBufferPointer, _ prefix: UInt64) -> (Int, Int)? {
        if node.isLeaf {
            let (i, found) = node.find(key, prefix)
            guard found else { return nil }
            let (kl, vl) = node.leafRemove(at: i)
            return (kl, vl)
        }
        let i = node.childIndex(key, prefix)
        let child = node.uniqueChild(at: i)
        guard let removed = remove(child, key, prefix) else { return nil }
        rebalance(node, child: i)
        return removed
    }

    /// After a removal under child `i` of `parent`: drops the child if empty, or merges it with a
    /// sibling if it is underfull and the two fit in one node.
    private static func rebalance(_ parent: Node, child i: Int) {
        let child = parent.child(at: i).takeUnretainedValue()
        if child.isEmpty {
            parent.removeChild(at: i)
            return
        }
        guard child.isUnderfull else { return }
        if i + 1 < parent.childCount, Node.canMerge(child, parent.child(at: i + 1).takeUnretainedValue()) {
            merge(parent, at: i)
        } else if i > 0, Node.canMerge(parent.child(at: i - 1).takeUnretainedValue(), child) {
            merge(parent, at: i - 1)
        }
    }

    /// Replaces children j and j+1 of `parent` with one node, dropping separator j.
    private static func merge(_ parent: Node, at j: Int) {
        let merged = Node.merged(parent.child(at: j).takeUnretainedValue(), separator: parent.key(at: j),
                                 parent.child(at: j + 1).takeUnretainedValue())
        parent.replaceChild(at: j, with: merged)
        parent.removeChild(at: j + 1)
    }

    // MARK: Accounting

    /// Heap bytes of the nodes reachable from the root. Nodes already in `seen` are not counted
    /// again (snapshots share nodes with the live tree); pass nil when nothing is shared.
    func footprintBytes(seen: inout Set<ObjectIdentifier>?) -> Int {
        Self.footprint(root, &seen)
    }

    private static func footprint(_ node: Node, _ seen: inout Set<ObjectIdentifier>?) -> Int {
        if seen != nil, !seen!.insert(ObjectIdentifier(node)).inserted { return 0 }
        var total = node.footprintBytes
        for i in 0..<(node.isLeaf ? 0 : node.childCount) { total += footprint(node.child(at: i).takeUnretainedValue(), &seen) }
        return total
    }
}

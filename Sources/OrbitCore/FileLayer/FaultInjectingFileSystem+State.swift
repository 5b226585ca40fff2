// The in-memory model behind `FaultInjectingFileSystem`: nodes, entries, and what is durable.
// Everything here runs under the file system's one lock.

/// A change to a file's contents since its last sync, in the order it was made.
enum FileChange: Sendable {
    case write(Int64, [UInt8])
    case truncate(Int64)

    /// Applies the change to `bytes` (a file's contents).
    func apply(to bytes: inout [UInt8]) {
        switch self {
        case .write(let offset, let data):
            let start = Int(offset), end = start + data.count
            if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.replaceSubrange(start..<end, with: data)
        case .truncate(let size):
            let n = Int(size)
            if n < bytes.count { bytes.removeSubrange(n...) } else { bytes.append(contentsOf: repeatElement(0, count: n - bytes.count)) }
        }
    }

    /// Applies the change to the part of the file in `range` only; `buffer` holds that part
    /// (`buffer.count == range.count`, bytes past the file's end are zero).
    func apply(to buffer: inout [UInt8], range: Range<Int>) {
        switch self {
        case .write(let offset, let data):
            let lo = max(range.lowerBound, Int(offset)), hi = min(range.upperBound, Int(offset) + data.count)
            guard lo < hi else { return }
            for i in lo..<hi { buffer[i - range.lowerBound] = data[i - Int(offset)] }
        case .truncate(let size):
            let from = max(range.lowerBound, Int(size))
            guard from < range.upperBound else { return }
            for i in from..<range.upperBound { buffer[i - range.lowerBound] = 0 }
        }
    }
}

/// One change of one directory entry: `name` now points at `target` (nil: removed). `op` tags the
/// call that made it; a rename's two halves share a tag.
struct EntryChange: Sendable {
    var op: Int
    var name: String
    var target: Int?
}

/// A file or a directory.
struct Node: Sendable {
    var isDirectory: Bool
    // Files.
    var current: [UInt8] = []
    var durable: [UInt8] = []
    var pending: [FileChange] = []
    /// Changes a failed sync dropped (counted for descriptions).
    var lostChanges = 0
    /// Under `SyncFailureModel.pages`: pages a failed sync did not write, whose bytes the cache still
    /// holds (clean): a later change to one of them dirties it again, and the next successful sync
    /// writes it whole, dropped bytes included.
    var droppedPages: Set<Int> = []
    // Directories.
    var entries: [String: Int] = [:]
    var durableEntries: [String: Int] = [:]
    var pendingOps: [EntryChange] = []
    // Liveness: current entries pointing here, open handles.
    var links = 0
    var handles = 0
}

/// Where a path leads: its parent directory (nil for the root), its last component, and the node
/// there if any.
struct Resolved {
    var parent: Int?
    var name: String
    var node: Int?
}

struct State: Sendable {
    /// Node 0 is the root.
    var nodes: [Int: Node] = [0: Node(isDirectory: true)]
    var nextNode = 1
    var nextOp = 1
    var nextHandle = 1
    var liveAfterLastCollection = 1

    // Crash points (FaultInjectingFileSystem+CrashPoints.swift).
    var dead: String? = nil
    var seen: Set<String> = []
    var arms: [String: Arm] = [:]
    var anyArm: Arm? = nil
    var crashAfterCalls: Int? = nil
    var mutatingCalls = 0

    // Faults (FaultInjectingFileSystem+Faults.swift).
    var rules: [RuleState] = []
    var calls: [FileOperation: Int] = [:]
    var fired: [FiredFault] = []
    var partialWrite = true
    var syncFailureModel: SyncFailureModel = .dropAll
    var diskBudget: Int64? = nil
    var rng: SeededRNG

    init(seed: UInt64) { rng = SeededRNG(seed: seed) }

    static func components(_ path: String) -> [String] {
        var out: [String] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !out.isEmpty { out.removeLast() }; continue }
            out.append(String(c))
        }
        return out
    }

    /// Resolves `path`; throws ENOENT when a parent is missing, ENOTDIR when one is a file.
    func resolve(_ path: String) throws -> Resolved {
        let parts = Self.components(path)
        guard let last = parts.last else { return Resolved(parent: nil, name: "/", node: 0) }
        var dir = 0
        for c in parts.dropLast() {
            guard let next = nodes[dir]!.entries[c] else { throw Errno.noSuchFile }
            guard nodes[next]!.isDirectory else { throw Errno.notDirectory }
            dir = next
        }
        return Resolved(parent: dir, name: last, node: nodes[dir]!.entries[last])
    }

    /// The directory at `path`: ENOENT if missing, ENOTDIR if a file.
    func directory(_ path: String) throws -> Int {
        guard let id = try resolve(path).node else { throw Errno.noSuchFile }
        guard nodes[id]!.isDirectory else { throw Errno.notDirectory }
        return id
    }

    func isAncestor(_ a: Int, of b: Int) -> Bool {
        // Walks down from `a` (directories only, small trees).
        if a == b { return true }
        for child in nodes[a]!.entries.values where nodes[child]!.isDirectory {
            if isAncestor(child, of: b) { return true }
        }
        return false
    }

    mutating func newNode(directory: Bool) -> Int {
        let id = nextNode
        nextNode += 1
        nodes[id] = Node(isDirectory: directory)
        return id
    }

    mutating func newOp() -> Int {
        defer { nextOp += 1 }
        return nextOp
    }

    /// Points `name` in `dir` at `target` (nil: removes it), visible now, durable at the next
    /// sync of `dir`.
    mutating func setEntry(_ dir: Int, _ name: String, _ target: Int?, op: Int) {
        if let old = nodes[dir]!.entries[name] { nodes[old]!.links -= 1 }
        nodes[dir]!.entries[name] = target
        if let target { nodes[target]!.links += 1 }
        nodes[dir]!.pendingOps.append(EntryChange(op: op, name: name, target: target))
    }

    mutating func changeFile(_ id: Int, _ change: FileChange) {
        change.apply(to: &nodes[id]!.current)
        nodes[id]!.pending.append(change)
    }

    /// A successful fsync: the changes since the last one reach the disk (and, under the page
    /// model, every page a failed sync dropped that they dirtied again, whole).
    mutating func syncFile(_ id: Int) {
        let changes = nodes[id]!.pending
        nodes[id]!.pending = []
        for c in changes { c.apply(to: &nodes[id]!.durable) }
        if let size = syncFailureModel.pageSize, !nodes[id]!.droppedPages.isEmpty {
            let again = Self.pages(changes, size: size, fileSize: nodes[id]!.current.count).intersection(nodes[id]!.droppedPages)
            for p in again { copyPage(id, p, size: size) }
            nodes[id]!.droppedPages.subtract(again)
        }
    }

    /// A failed fsync. `.dropAll`: every change since the last sync is dropped from the durable
    /// history. `.pages(n)`: each n-byte page those changes dirtied was written or not, independently
    /// (writeback fails per page): written ones are durable as the cache holds them, the others
    /// are dropped (and remembered: see `Node.droppedPages`). `.allPages(n)`: every dirtied page
    /// dropped and remembered. Reads see everything either way.
    mutating func failSync(_ id: Int) {
        let changes = nodes[id]!.pending
        nodes[id]!.lostChanges += changes.count
        nodes[id]!.pending = []
        guard let size = syncFailureModel.pageSize else { return }
        let some: Bool
        if case .pages = syncFailureModel { some = true } else { some = false }
        for p in Self.pages(changes, size: size, fileSize: nodes[id]!.current.count).sorted() {
            if some && rng.below(2) == 0 { copyPage(id, p, size: size) } else { nodes[id]!.droppedPages.insert(p) }
        }
    }

    /// The pages (of `size` bytes) `changes` wrote, below `fileSize`.
    static func pages(_ changes: [FileChange], size: Int, fileSize: Int) -> Set<Int> {
        var out = Set<Int>()
        for c in changes {
            guard case .write(let o, let d) = c, !d.isEmpty else { continue }
            let lo = Int(o), hi = min(Int(o) + d.count, fileSize)
            guard lo < hi else { continue }
            for p in (lo / size)...((hi - 1) / size) { out.insert(p) }
        }
        return out
    }

    /// Makes page `p` of the file durable as the cache (`current`) holds it; the durable file grows
    /// to cover it if needed (a gap before it reads as zeros).
    mutating func copyPage(_ id: Int, _ p: Int, size: Int) {
        let lo = p * size, hi = min((p + 1) * size, nodes[id]!.current.count)
        guard lo < hi else { return }
        if nodes[id]!.durable.count < hi { nodes[id]!.durable.append(contentsOf: repeatElement(0, count: hi - nodes[id]!.durable.count)) }
        nodes[id]!.durable.replaceSubrange(lo..<hi, with: nodes[id]!.current[lo..<hi])
    }

    /// Bytes of files that have a name or an open handle.
    func usedBytes() -> Int64 {
        var total: Int64 = 0
        for n in nodes.values where !n.isDirectory && (n.links > 0 || n.handles > 0) { total += Int64(n.current.count) }
        return total
    }

    /// Drops nodes nothing can reach any more: no current or durable entry, no unsynced entry
    /// change, no open handle. Runs when the node count has doubled since the last collection.
    mutating func collectGarbageIfNeeded() {
        guard nodes.count > 2 * liveAfterLastCollection + 64 else { return }
        var referenced: Set<Int> = [0]
        for n in nodes.values {
            referenced.formUnion(n.entries.values)
            referenced.formUnion(n.durableEntries.values)
            for c in n.pendingOps { if let t = c.target { referenced.insert(t) } }
        }
        for (id, n) in nodes where !referenced.contains(id) && n.handles == 0 { nodes[id] = nil }
        liveAfterLastCollection = nodes.count
    }
}

// Simulated power loss: a new file system holding a state the disk could be left in, by the rules
// of `FileSystem`'s durability contract.

/// What a simulated power loss does to what was not yet durable.
public struct PowerLossMode: Sendable, Hashable, CustomStringConvertible {
    /// File contents changed since the file's last successful sync.
    public enum FileContents: Sendable, Hashable {
        /// Every unsynced write and truncate is lost.
        case dropUnsynced
        /// Every one survives (a process crash: the OS had them).
        case keepUnsynced
        /// Each survives or not, independently (applied in the order they were made).
        case keepRandomSubset
        /// Each `sectorSize`-byte sector the unsynced changes touched is, independently, as of some
        /// point of its history (durable, the newest, or between): torn writes. The size is the
        /// size as of some point too (an extension may read as zeros).
        case tornSectors(Int)
    }

    /// Directory entries created, renamed or removed since the directory's last sync.
    public enum DirectoryEntries: Sendable, Hashable {
        /// Every directory reverts to its durable entries.
        case revertToDurable
        /// Every change survives.
        case keepUnsynced
        /// Each call's changes survive or not, independently; a rename's two halves together.
        case randomMix
    }

    public var files: FileContents
    public var directories: DirectoryEntries

    public init(files: FileContents, directories: DirectoryEntries) {
        self.files = files
        self.directories = directories
    }

    public static let dropUnsynced = Self(files: .dropUnsynced, directories: .revertToDurable)
    public static let randomSubset = Self(files: .keepRandomSubset, directories: .randomMix)
    public static let torn512 = Self(files: .tornSectors(512), directories: .randomMix)
    public static let torn4K = Self(files: .tornSectors(4096), directories: .randomMix)
    /// Not a power loss: what a process crash leaves (everything the OS accepted).
    public static let processCrash = Self(files: .keepUnsynced, directories: .keepUnsynced)

    /// The power-loss modes a sweep cycles through.
    public static let powerLossModes: [Self] = [.dropUnsynced, .randomSubset, .torn512, .torn4K]

    public var description: String {
        switch (files, directories) {
        case (.dropUnsynced, .revertToDurable): return "drop-unsynced"
        case (.keepRandomSubset, .randomMix): return "random-subset"
        case (.tornSectors(let n), .randomMix): return "torn-\(n)"
        case (.keepUnsynced, .keepUnsynced): return "process-crash"
        default: return "files=\(files),dirs=\(directories)"
        }
    }
}

extension FaultInjectingFileSystem {
    /// A new file system holding a state a power loss could leave this one in (this one is not
    /// changed, and may be dead after a simulated crash). The copy has everything durable, no
    /// faults, no armed crash points, no locks, fresh statistics, and the same disk budget; its
    /// `powerLossDescription` says what was lost ("torn-4096; 000005.log: 3/9 sectors new, ...").
    ///
    /// Files that no surviving entry reaches are gone. Every random choice comes from `rng`, in a
    /// fixed order, so one seed gives one state.
    ///
    /// The image is taken under this file system's lock, which engine threads may still be using
    /// (the fsync-failure sweep takes it while the engine is open): a copy of the state read after
    /// the lock is released shares its node storage with the live state, and the live state's next
    /// change is made in place once that copy is gone — ordered only by the storage's reference
    /// count, which ThreadSanitizer cannot see (it reported those reads and writes as races).
    public func powerLoss(_ mode: PowerLossMode, rng: inout some RandomNumberGenerator) -> FaultInjectingFileSystem {
        state.withLock { s in powerLossImage(of: s, mode, rng: &rng) }
    }

    private func powerLossImage(of s: State, _ mode: PowerLossMode, rng: inout some RandomNumberGenerator) -> FaultInjectingFileSystem {
        var notes: [String] = []

        // Directories: which entry changes survive.
        var keptOps: Set<Int> = []
        var totalOps: Set<Int> = []
        let dirIDs = s.nodes.keys.filter { s.nodes[$0]!.isDirectory }.sorted()
        for id in dirIDs { for c in s.nodes[id]!.pendingOps { totalOps.insert(c.op) } }
        switch mode.directories {
        case .revertToDurable: break
        case .keepUnsynced: keptOps = totalOps
        case .randomMix: for op in totalOps.sorted() where Bool.random(using: &rng) { keptOps.insert(op) }
        }
        if !totalOps.isEmpty { notes.append("dirs: \(keptOps.count)/\(totalOps.count) unsynced entry changes kept") }
        var entries: [Int: [String: Int]] = [:]
        for id in dirIDs {
            var e = s.nodes[id]!.durableEntries
            for c in s.nodes[id]!.pendingOps where keptOps.contains(c.op) { e[c.name] = c.target }
            entries[id] = e
        }

        // What survives: walk from the root over the surviving entries.
        var reachable: [Int: String] = [0: "/"]  // node -> a path to it
        var queue = [0]
        while let dir = queue.popLast() {
            for (name, child) in entries[dir]!.sorted(by: { $0.key < $1.key }) where reachable[child] == nil {
                guard s.nodes[child] != nil else { continue }
                reachable[child] = (dir == 0 ? "/" : reachable[dir]! + "/") + name
                if s.nodes[child]!.isDirectory { queue.append(child) }
            }
        }

        var out = State(seed: rng.next())
        out.diskBudget = s.diskBudget
        out.partialWrite = s.partialWrite
        out.syncFailureModel = s.syncFailureModel
        out.nextNode = s.nextNode
        out.nodes = [:]
        for id in reachable.keys.sorted() {
            let old = s.nodes[id]!
            var n = Node(isDirectory: old.isDirectory)
            if old.isDirectory {
                let e = entries[id]!.filter { reachable[$0.value] != nil }
                n.entries = e
                n.durableEntries = e
            } else {
                let (bytes, note) = Self.survivingBytes(old, mode.files, rng: &rng)
                n.current = bytes
                n.durable = bytes
                if let note { notes.append("\(reachable[id]!): \(note)") }
            }
            out.nodes[id] = n
        }
        for id in out.nodes.keys { for child in out.nodes[id]!.entries.values { out.nodes[child]!.links += 1 } }
        out.liveAfterLastCollection = out.nodes.count

        let description = ([mode.description] + notes).joined(separator: "; ")
        return FaultInjectingFileSystem(state: out, description: description)
    }

    /// A file's bytes after the power loss, and a note when anything unsynced was at stake.
    static func survivingBytes(_ node: Node, _ mode: PowerLossMode.FileContents,
                               rng: inout some RandomNumberGenerator) -> ([UInt8], String?) {
        let changes = node.pending
        let lost = node.lostChanges > 0 ? " (\(node.lostChanges) changes lost to a failed sync)" : ""
        guard !changes.isEmpty else { return (node.durable, lost.isEmpty ? nil : "durable" + lost) }
        switch mode {
        case .dropUnsynced:
            return (node.durable, "\(changes.count) unsynced changes dropped" + lost)
        case .keepUnsynced:
            var b = node.durable
            for c in changes { c.apply(to: &b) }
            return (b, nil)
        case .keepRandomSubset:
            var b = node.durable
            var kept = 0
            for c in changes where Bool.random(using: &rng) { c.apply(to: &b); kept += 1 }
            return (b, "\(kept)/\(changes.count) unsynced changes kept" + lost)
        case .tornSectors(let sector):
            return torn(node.durable, changes, sector: sector, lost: lost, rng: &rng)
        }
    }

    /// Each sector the changes touched is as of a prefix of its own history; the size is the size
    /// after some prefix of all the changes.
    static func torn(_ durable: [UInt8], _ changes: [FileChange], sector: Int, lost: String,
                     rng: inout some RandomNumberGenerator) -> ([UInt8], String) {
        var lengths = [durable.count]
        var length = durable.count
        for c in changes {
            switch c {
            case .write(let o, let d): if !d.isEmpty { length = max(length, Int(o) + d.count) }
            case .truncate(let s): length = Int(s)
            }
            lengths.append(length)
        }
        let maxLength = lengths.max()!
        let finalLength = lengths[Int.random(in: 0..<lengths.count, using: &rng)]

        // The changes that touched each sector, in order.
        var touching: [Int: [Int]] = [:]
        for (i, c) in changes.enumerated() {
            let range: Range<Int>
            switch c {
            case .write(let o, let d): range = Int(o)..<(Int(o) + d.count)
            case .truncate(let s): range = Int(s)..<maxLength
            }
            guard !range.isEmpty else { continue }
            for s in (range.lowerBound / sector)...((range.upperBound - 1) / sector) { touching[s, default: []].append(i) }
        }

        var out = Array(durable.prefix(finalLength))
        if out.count < finalLength { out.append(contentsOf: repeatElement(0, count: finalLength - out.count)) }
        var considered = 0, new = 0, partial = 0
        for s in touching.keys.sorted() where s * sector < finalLength {
            let history = touching[s]!
            considered += 1
            let j = Int.random(in: 0...history.count, using: &rng)
            guard j > 0 else { continue }
            if j == history.count { new += 1 } else { partial += 1 }
            let range = (s * sector)..<((s + 1) * sector)
            var buffer = [UInt8](repeating: 0, count: sector)
            for i in range where i < durable.count { buffer[i - range.lowerBound] = durable[i] }
            for i in history[0..<j] { changes[i].apply(to: &buffer, range: range) }
            for i in range where i < finalLength { out[i] = buffer[i - range.lowerBound] }
        }
        let note = "size \(finalLength) (durable \(durable.count), newest \(length)); of \(considered) touched \(sector)-byte sectors "
            + "\(new) newest, \(partial) older, \(considered - new - partial) durable" + lost
        return (out, note)
    }
}

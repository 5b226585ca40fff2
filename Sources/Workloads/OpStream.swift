public import OrbitCore

/// One operation of the stream: what to do and to which record. Plain values, no allocation.
public struct Op: Sendable, Hashable {
    public var type: OperationType
    /// Record number (key-value ops, lease ops on one lease).
    public var record: UInt64
    /// Value length for writes.
    public var valueLength: Int
    /// Scan length, or the node / addressable-type index for lease list and range ops.
    public var count: Int
    /// Salt for the value bytes (so values differ between writes).
    public var salt: UInt64
}

/// The deterministic operation stream of one client thread: a function of (workload, seed, thread
/// index) only. Inserts of thread t use record numbers record_count + t + k*threads, so threads never
/// collide and the stream does not depend on scheduling.
///
/// `digest` hashes every operation drawn (word-wise FNV-1a with a xor-shift), recorded in summary.json: same seed, same digest.
public struct OpStream: Sendable {
    public let thread: Int
    /// Inserts of this stream use record numbers recordCount + slot + k*threads.
    let slot: UInt64
    let threads: UInt64
    let recordCount: UInt64
    var rng: SeededRNG
    var chooser: KeyChooser
    let cumulative: [(Double, OperationType)]
    let valueSize: ClosedRange<Int>
    let scanLength: ClosedRange<Int>
    let leaseNodes: Int
    let leaseTypes: Int
    /// Inserts drawn so far by this thread.
    public private(set) var inserted: UInt64 = 0
    public private(set) var digest: UInt64 = 0xCBF2_9CE4_8422_2325
    public private(set) var drawn: UInt64 = 0

    /// `stream` picks the random stream (default: `thread`); inserts use record numbers
    /// `recordBase` (default record_count) + `slot` + k·`slots` (default: `thread`, the workload's threads):
    /// the phases of a multi-phase run draw their own streams and number their inserts apart.
    public init(workload w: Workload, thread: Int, stream: Int? = nil, recordBase: UInt64? = nil, slot: Int? = nil, slots: Int? = nil) {
        self.thread = thread
        self.slot = UInt64(slot ?? thread)
        threads = UInt64(slots ?? w.threads)
        recordCount = recordBase ?? UInt64(w.recordCount)
        rng = SeededRNG(seed: w.seed, stream: stream ?? thread)
        chooser = KeyChooser(w.keyDistribution, records: w.recordCount, thread: thread, threads: w.threads)
        var acc = 0.0
        var cum: [(Double, OperationType)] = []
        for (op, p) in w.mix {
            acc += p
            cum.append((acc, op))
        }
        cum[cum.count - 1].0 = 1.0 + 1e-9
        cumulative = cum
        valueSize = w.valueSize
        scanLength = w.scanLength
        leaseNodes = w.leaseNodes
        leaseTypes = w.leaseActorTypes
    }

    /// Records that exist so far from this thread's point of view (loaded + inserted by all threads,
    /// assuming they progress alike): the key space reads choose from.
    @inline(__always)
    public var existing: UInt64 { max(1, recordCount &+ inserted &* threads) }

    @inline(__always)
    public mutating func next() -> Op {
        let u = rng.unit()
        var type = cumulative[cumulative.count - 1].1
        for (bound, op) in cumulative where u < bound {
            type = op
            break
        }
        var op = Op(type: type, record: 0, valueLength: 0, count: 0, salt: rng.next())
        switch type {
        case .insert, .leaseStore:
            op.record = recordCount &+ slot &+ inserted &* threads
            inserted &+= 1
        case .leaseListNode:
            op.count = Int(rng.below(UInt64(leaseNodes)))
        case .leaseRangeQuery:
            op.count = Int(rng.below(UInt64(leaseTypes)))
        case .leaseCleanup:
            break
        default:
            op.record = chooser.next(&rng, existing: existing)
        }
        if type.isWrite, type != .delete, type != .leaseRemove, type != .leaseCleanup {
            op.valueLength = valueSize.lowerBound == valueSize.upperBound
                ? valueSize.lowerBound
                : valueSize.lowerBound + Int(rng.below(UInt64(valueSize.count)))
        }
        if type == .rangeQuery {
            op.count = scanLength.lowerBound == scanLength.upperBound
                ? scanLength.lowerBound
                : scanLength.lowerBound + Int(rng.below(UInt64(scanLength.count)))
        }
        mix(UInt64(type.rawValue))
        mix(op.record)
        mix(UInt64(op.valueLength))
        mix(UInt64(op.count))
        mix(op.salt)
        drawn &+= 1
        return op
    }

    /// Word-wise FNV-1a variant with a xor-shift: one multiply per word instead of eight.
    @inline(__always)
    mutating func mix(_ x: UInt64) {
        digest = (digest ^ x) &* 0x100_0000_01B3
        digest ^= digest >> 29
    }

    /// Combines per-thread digests, in thread order, into the run's op-stream digest.
    public static func combine(_ digests: [UInt64]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for d in digests { h = fnv1a64(h ^ d) }
        return h
    }

    /// The run's digest: the run-phase streams plus everything that decides the load phase
    /// (which records, in which order, with which value sizes).
    public static func combine(_ digests: [UInt64], workload w: Workload) -> UInt64 {
        var h = combine(digests)
        for x in [UInt64(w.load ? w.recordCount : 0), w.loadSequential ? 1 : 0, w.seed, UInt64(w.keySize),
                  UInt64(w.valueSize.lowerBound), UInt64(w.valueSize.upperBound), UInt64(w.threads)] {
            h = fnv1a64(h ^ x)
        }
        // YCSB key naming and partial loads decide the load phase too; mixed in only when they differ
        // from the defaults, so the digests of existing workloads are unchanged.
        if case .ycsb(let hashed, let padding) = w.keyStyle {
            for x in [0x5943_5342, hashed ? 1 : 0, UInt64(padding)] as [UInt64] { h = fnv1a64(h ^ x) }
        }
        if w.insertStart != 0 || w.insertCount != w.recordCount {
            for x in [UInt64(w.insertStart), UInt64(w.insertCount)] { h = fnv1a64(h ^ x) }
        }
        return h
    }
}

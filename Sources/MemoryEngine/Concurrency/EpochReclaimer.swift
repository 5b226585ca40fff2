import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Epoch-based reclamation: lets readers use memory a writer has unlinked, without locks or
/// reference counts, until no reader can still hold it.
///
/// Readers: `enter()` marks a slot with the current epoch, `exit(_:)` clears it. Between the two a
/// reader may follow any pointer it loaded from a published structure. A slot is a word on its own
/// 128-byte line, chosen by hashing the thread's id and claimed with one compare-and-swap (a busy
/// slot, such as a nested read on the same thread or a colliding thread, moves on to the next), so
/// readers on different cores write different cache lines and never wait for one another or for
/// the writer.
///
/// The writer (one at a time: the engine's writer mutex) publishes a new structure, then calls
/// `retire(_:)` for what it replaced. That advances the epoch and tags the item with the new value.
/// An item is freed once every busy slot shows an epoch at least its tag: a reader that entered at
/// that epoch or later read the epoch after the new structure was published, so it cannot reach the
/// item. All operations are sequentially consistent, which is what makes that argument hold (the
/// reader's slot write and the writer's slot scan are ordered against the publication).
///
/// Invariant: items are retired in tag order, so the retired list is sorted and frees from the front.
final class EpochReclaimer: @unchecked Sendable {
    /// Something unlinked by the writer, freed when no reader can reach it.
    enum Retired {
        /// A record of the hash index (`IndexRecord`): freed with `free`.
        case record(UnsafeMutableRawPointer)
        /// A published object (tree version, hash table): the publication's reference, released.
        case object(Unmanaged<AnyObject>)
    }

    static let slotCount = 64
    /// Words per slot: 16 × 8 bytes, two slots never share a cache line (or an adjacent-line prefetch pair).
    static let stride = 16

    private let slots: UnsafeMutablePointer<Atomic<UInt>>
    private let epoch = Atomic<UInt>(1)
    /// Writer only (under the engine's writer mutex).
    private var retired: [(tag: UInt, item: Retired)] = []
    /// Reclaim once this many items wait: the slot scan reads 64 cache lines, so it is amortized; but
    /// soon, so that the allocator gets the memory of the last few writes back while it is still in
    /// its thread cache (larger batches made every write fault in fresh pages).
    private static let reclaimBatch = 8

    init() {
        slots = .allocate(capacity: Self.slotCount * Self.stride)
        for i in 0..<(Self.slotCount * Self.stride) { (slots + i).initialize(to: Atomic(0)) }
    }

    /// No reader can be running once the engine is gone: everything left is freed.
    deinit {
        for r in retired { Self.free(r.item) }
        slots.deinitialize(count: Self.slotCount * Self.stride)
        slots.deallocate()
    }

    /// Items waiting to be freed (for the engine's stats).
    var pendingCount: Int { retired.count }

    /// Marks the calling thread as reading; returns the slot to pass to `exit`.
    @inline(__always)
    func enter() -> Int {
        var i = Self.homeSlot()
        let e = epoch.load(ordering: .sequentiallyConsistent)
        while !slots[i &* Self.stride].compareExchange(expected: 0, desired: e, ordering: .sequentiallyConsistent).exchanged {
            i = (i &+ 1) & (Self.slotCount &- 1)
        }
        return i
    }

    @inline(__always)
    func exit(_ slot: Int) {
        slots[slot &* Self.stride].store(0, ordering: .sequentiallyConsistent)
    }

    /// Runs `body` as a reader.
    @inline(__always)
    func read<R>(_ body: () throws -> R) rethrows -> R {
        let slot = enter()
        defer { exit(slot) }
        return try body()
    }

    /// Writer: `items` were unlinked by publications that already happened.
    func retire(_ items: [Retired]) {
        guard !items.isEmpty else { return }
        let tag = epoch.add(1, ordering: .sequentiallyConsistent).newValue
        for item in items { retired.append((tag, item)) }
        if retired.count >= Self.reclaimBatch { reclaim() }
    }

    /// Writer: frees every retired item no reader can reach.
    func reclaim() {
        var oldest = UInt.max
        for i in 0..<Self.slotCount {
            let e = slots[i &* Self.stride].load(ordering: .sequentiallyConsistent)
            if e != 0 && e < oldest { oldest = e }
        }
        var n = 0
        while n < retired.count && retired[n].tag <= oldest { n += 1 }
        guard n > 0 else { return }
        for r in retired[..<n] { Self.free(r.item) }
        retired.removeFirst(n)
    }

    private static func free(_ item: Retired) {
        switch item {
        case .record(let p): p.deallocate()
        case .object(let o): o.release()
        }
    }

    /// The thread's first choice of slot: its id, mixed, top 6 bits.
    @inline(__always)
    private static func homeSlot() -> Int {
        #if canImport(Glibc)
        let id = UInt64(pthread_self())
        #else
        let id = UInt64(UInt(bitPattern: pthread_self()))
        #endif
        return Int(truncatingIfNeeded: ((id &>> 8) &* 0x9E37_79B9_7F4A_7C15) &>> 58)
    }
}

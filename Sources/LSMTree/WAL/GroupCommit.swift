import OrbitCore
import Synchronization

/// Group commit for `group` durability: writers that have appended a WAL record share fdatasyncs.
///
/// Protocol (leader/follower, one monitor):
/// - A writer appends its record (under the engine's write lock), then registers the record's last
///   sequence as *pending* and waits until a completed sync covers it.
/// - If no sync is in progress, the writer becomes the leader. It syncs everything appended so far
///   (not just its own record), then marks every pending writer it covered as done and wakes them.
/// - A writer that arrives while a sync is in progress waits; when that sync ends, one of the
///   writers still uncovered leads the next one, which takes everything queued by then.
///
/// With two closed-loop writers that alone would alternate (each sync covering one write, as
/// one writer would get): while one writer's record is being synced, the other can add only one
/// record. So a leader that has seen other writers active in the last 10 ms first waits, on the
/// monitor (no spinning), until as many writers as were recently active have a pending record, or
/// at most half of the last sync's duration (≤ 2 ms). The writer that completes the group runs the
/// sync itself, so the leader need not be woken first. A lone writer never waits: with no
/// concurrent writer seen in the last 10 ms it syncs at once.
///
/// A failed sync is sticky (after a failed fdatasync the state of unsynced data is unknown; a later
/// successful sync does not make it durable): every waiter and every later write gets the error.
final class GroupCommit: @unchecked Sendable {
    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var leading = false
    private var gathering = false
    /// While gathering: how many pending writers the leader waits for.
    private var gatherTarget = 0
    /// Last sequences of waiting writers not yet covered by a completed sync.
    private var pending: [UInt64] = []
    private var failure: OrbitError?

    /// Writers inside the write path, the most seen at once recently, and when two last were.
    private let inFlight = Atomic<Int>(0)
    private let peakWriters = Atomic<Int>(1)
    private let lastConcurrentNanos = Atomic<UInt64>(0)
    private let lastSyncNanos = Atomic<UInt64>(100_000)
    /// Syncs issued and writers they acknowledged (stats: writers per sync).
    let syncs = Atomic<UInt64>(0)
    let acknowledged = Atomic<UInt64>(0)
    let broken = Atomic<Bool>(false)

    static let concurrencyWindowNanos: UInt64 = 10_000_000
    static let maxGatherNanos: UInt64 = 2_000_000

    init() { pending.reserveCapacity(64) }

    /// Marks a writer entering the write path (before it takes the write lock).
    @inline(__always) func enter() {
        let n = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if n >= 2 {
            lastConcurrentNanos.store(monotonicNanos(), ordering: .relaxed)
            var cur = peakWriters.load(ordering: .relaxed)
            while cur < n {
                let (ok, orig) = peakWriters.compareExchange(expected: cur, desired: n, ordering: .relaxed)
                if ok { break }
                cur = orig
            }
        }
    }

    @inline(__always) func leave() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// How many writers a leader waits for: 1 unless several were active in the last 10 ms.
    private func expectedWriters(now: UInt64) -> Int {
        if now &- lastConcurrentNanos.load(ordering: .relaxed) > Self.concurrencyWindowNanos {
            peakWriters.store(1, ordering: .relaxed)
            return 1
        }
        return peakWriters.load(ordering: .relaxed)
    }

    /// The sticky failure, if a sync has failed.
    func check() throws {
        guard broken.load(ordering: .relaxed) else { return }
        let f = monitor.withLock { failure }
        if let f { throw f }
    }

    /// The sticky error after a failed WAL append or sync: the original one (errno, file, offset),
    /// saying the store now refuses writes.
    static func readOnly(_ error: any Error) -> OrbitError {
        var e = (error as? OrbitError) ?? OrbitError(.io, "WAL write or sync failed", cause: .library("\(error)"))
        let note = "lsm: the store is read-only after a failed WAL write; reopen it"
        if !e.message.hasPrefix(note) { e.message = "\(note) (\(e.message))" }
        return e
    }

    /// Records a failed WAL append, or a failed sync outside the group protocol (every-write,
    /// periodic, a memtable switch): every later write and sync fails with it. After a failed
    /// append the log may hold a partial record that later records would follow (a hole replay
    /// stops at, losing them); after a failed sync what it covered may never reach the disk.
    func fail(_ error: any Error) -> OrbitError {
        let e = Self.readOnly(error)
        monitor.withLock {
            if failure == nil { failure = e }
            broken.store(true, ordering: .relaxed)
            monitor.broadcast()
        }
        return e
    }

    /// Returns once a completed sync covers sequence `last`. `synced()` is the last sequence known
    /// synced; `sync()` syncs everything appended so far and returns the last sequence it covered.
    func waitDurable(_ last: UInt64, synced: () -> UInt64, sync: () throws -> UInt64) throws {
        monitor.lock()
        defer { monitor.unlock() }
        if let failure { throw failure }
        if synced() >= last { return }
        pending.append(last)
        while true {
            if let failure { throw failure }
            if synced() >= last { return }
            if leading {
                // The writer that completes a gathering leader's group syncs it at once, instead of
                // waking the leader to do it (a wake-up less on the path of every group).
                if gathering && pending.count >= gatherTarget {
                    gathering = false
                    monitor.broadcast()
                    runSync(sync)
                    continue
                }
                monitor.wait()
                continue
            }
            leading = true
            let s = synced()
            pending.removeAll { $0 <= s }
            let start = monotonicNanos()
            let expected = expectedWriters(now: start)
            if expected > 1 && pending.count < expected {
                let deadline = start + min(lastSyncNanos.load(ordering: .relaxed) / 2, Self.maxGatherNanos)
                gathering = true
                gatherTarget = expected
                while gathering && pending.count < expected {
                    let now = monotonicNanos()
                    if now >= deadline { break }
                    monitor.wait(nanos: deadline - now)
                }
                if !gathering { continue }  // a later writer took the sync over: wait for it
                gathering = false
            }
            runSync(sync)
        }
    }

    /// Syncs as the leader (`leading` set, monitor held on entry and exit; released during the sync).
    private func runSync(_ sync: () throws -> UInt64) {
        monitor.unlock()
        let began = monotonicNanos()
        var covered: UInt64 = 0
        var error: (any Error)?
        do { covered = try sync() } catch let e { error = e }
        lastSyncNanos.store(monotonicNanos() &- began, ordering: .relaxed)
        monitor.lock()
        leading = false
        if let error {
            let e = Self.readOnly(error)
            if failure == nil { failure = e }
            broken.store(true, ordering: .relaxed)
            pending.removeAll()
        } else {
            let before = pending.count
            pending.removeAll { $0 <= covered }
            syncs.wrappingAdd(1, ordering: .relaxed)
            acknowledged.wrappingAdd(UInt64(before - pending.count), ordering: .relaxed)
        }
        monitor.broadcast()
    }
}

import OrbitCore

/// Holds client threads until every one is ready, so a phase's clock starts when all of them can run.
final class StartGate: Sendable {
    private struct State { var ready = 0; var open = false }
    let parties: Int
    private let state = Lock(State())
    init(parties: Int) { self.parties = parties }

    /// A client thread: says it is ready, then waits for the gate to open.
    func arriveAndWait() {
        state.withLock { s in s.ready += 1; state.broadcast() }
        state.withLock(until: { $0.open }) { _ in }
    }

    /// Waits until every party is ready, runs `onOpen` (the gate still closed), then opens it.
    func open(_ onOpen: () -> Void) {
        let parties = parties
        state.withLock(until: { $0.ready >= parties }) { _ in }
        onOpen()
        state.withLock { s in s.open = true; state.broadcast() }
    }
}

/// Starts `count` threads, waits until all are ready, calls `onOpen` (which takes the start time),
/// releases them, waits for all to finish and returns the end time (monotonic ns). A client thread
/// that cannot be started ends the process: a phase with fewer threads than asked measures
/// something else.
func runThreads(_ count: Int, name: String, gate: StartGate, onOpen: () -> Void,
                _ body: @escaping @Sendable (Int) -> Void) -> UInt64 {
    var threads: [OrbitThread] = []
    for i in 0..<count {
        do {
            threads.append(try OrbitThread(name: "\(name)-\(i)", stackSize: 8 << 20) {
                gate.arriveAndWait()
                body(i)
            })
        } catch {
            fatalError("orbit-bench: \(error)")
        }
    }
    gate.open(onOpen)
    for t in threads { t.join() }
    return MeterClock.shared.nanoseconds()
}

/// Moves a value into exactly one thread (the caller guarantees no sharing).
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

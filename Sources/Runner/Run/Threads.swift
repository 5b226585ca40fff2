import Foundation
import OrbitCore

/// Holds client threads until every one is ready, so a phase's clock starts when all of them can run.
final class StartGate: Sendable {
    let parties: Int
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    init(parties: Int) { self.parties = parties }
}

/// Starts `count` threads, waits until all are ready, calls `onOpen` (which takes the start time),
/// releases them, waits for all to finish and returns the end time (monotonic ns).
func runThreads(_ count: Int, name: String, gate: StartGate, onOpen: () -> Void,
                _ body: @escaping @Sendable (Int) -> Void) -> UInt64 {
    let done = DispatchSemaphore(value: 0)
    for i in 0..<count {
        let t = Thread {
            gate.ready.signal()
            gate.go.wait()
            body(i)
            done.signal()
        }
        t.name = "\(name)-\(i)"
        t.stackSize = 8 << 20
        t.start()
    }
    for _ in 0..<count { gate.ready.wait() }
    onOpen()
    for _ in 0..<count { gate.go.signal() }
    for _ in 0..<count { done.wait() }
    return MeterClock.shared.nanoseconds()
}

/// Moves a value into exactly one thread (the caller guarantees no sharing).
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A background thread that runs `tick` until stopped.
final class BackgroundLoop: Sendable {
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, periodMillis: Int, _ tick: @escaping @Sendable () -> Void) {
        let t = Thread { [stopped, finished] in
            while stopped.wait(timeout: .now() + .milliseconds(periodMillis)) == .timedOut {
                tick()
            }
            finished.signal()
        }
        t.name = name
        t.start()
    }

    func stop() {
        stopped.signal()
        finished.wait()
    }
}

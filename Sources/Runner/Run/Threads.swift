import Foundation

/// Runs `body(i)` on `count` new threads and waits for all of them.
func runThreads(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for i in 0..<count {
        let t = Thread {
            body(i)
            done.signal()
        }
        t.name = "\(name)-\(i)"
        t.stackSize = 8 << 20
        t.start()
    }
    for _ in 0..<count { done.wait() }
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

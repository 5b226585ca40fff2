import Foundation
import Synchronization

/// Runs `body(0..<count)` on that many new OS threads at once and waits for all of them.
///
/// Real threads, not tasks or a pool: the engines' locks and group commits block, and a sweep of
/// concurrent writers must really run them side by side (a pool two cores wide would serialize
/// them and hide the races the sweep exists to find).
enum LabThreads {
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchSemaphore(value: 0)
        for i in 0..<count {
            let t = Thread {
                body(i)
                done.signal()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        for _ in 0..<count { done.wait() }
    }
}

/// A value one thread fills and another reads after `LabThreads.run` returned (the join orders
/// them): per-thread logs without a lock on the hot path.
final class ThreadSlots<T>: @unchecked Sendable {
    private var slots: [T]
    init(_ count: Int, _ initial: T) { slots = Array(repeating: initial, count: count) }
    /// Only thread `i` touches slot `i` while the threads run.
    func with<R>(_ i: Int, _ body: (inout T) -> R) -> R { body(&slots[i]) }
    var all: [T] { slots }
}

/// A logical clock shared by the threads of one run: every stamp is unique and a stamp taken after
/// another call returned is larger (the order the checkers need, without reading wall time).
final class LogicalClock: Sendable {
    private let value = Atomic<Int>(0)
    func tick() -> Int { value.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue }
}

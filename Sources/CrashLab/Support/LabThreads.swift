import OrbitCore
import Synchronization

/// Runs `body(0..<count)` on that many new OS threads at once (OrbitCore's `runOnThreads`, real
/// threads side by side: a pool two cores wide would serialize the writers and hide the races a
/// sweep exists to find) and waits for all of them. A thread that cannot start ends the process:
/// a sweep with fewer threads than planned would report on a run it did not make.
enum LabThreads {
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        do { try runOnThreads(count, name: "orbit-lab", stackSize: 1 << 20, body) } catch {
            fatalError("crash lab: \(error)")
        }
    }
}

/// A value one thread fills and another reads after `LabThreads.run` returned (the join orders
/// them): per-thread logs without a lock on the hot path.
final class ThreadSlots<T>: @unchecked Sendable {
    /// One object per slot in an array never written after init: thread `i` modifies only its own
    /// slot object (`&slots[i]` on a `var` array would open a modify access on the whole array from
    /// every thread at once — a data race ThreadSanitizer reported).
    private final class Slot {
        var value: T
        init(_ value: T) { self.value = value }
    }
    private let slots: [Slot]
    init(_ count: Int, _ initial: T) { slots = (0..<count).map { _ in Slot(initial) } }
    /// Only thread `i` touches slot `i` while the threads run.
    func with<R>(_ i: Int, _ body: (inout T) -> R) -> R { body(&slots[i].value) }
    var all: [T] { slots.map(\.value) }
}

/// A logical clock shared by the threads of one run: every stamp is unique and a stamp taken after
/// another call returned is larger (the order the checkers need, without reading wall time).
final class LogicalClock: Sendable {
    private let value = Atomic<Int>(0)
    func tick() -> Int { value.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue }
}

import Synchronization

/// Raises a handle's cached end of file to `newEnd` unless a concurrent write already took it further
/// (both file systems' `write(_:at:)`: appends go after anything written past the current end).
@inline(__always) func raiseFileEnd(_ end: borrowing Atomic<Int64>, to newEnd: Int64) {
    var current = end.load(ordering: .relaxed)
    while current < newEnd {
        let (exchanged, original) = end.compareExchange(expected: current, desired: newEnd, ordering: .relaxed)
        if exchanged { return }
        current = original
    }
}

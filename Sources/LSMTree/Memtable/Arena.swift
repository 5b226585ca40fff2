import Synchronization

/// Bump allocator for a memtable: 1 MiB chunks (bigger for bigger entries) that never move and are
/// freed together when the memtable is released, so nodes can point at each other by address and
/// readers can hold pointers for as long as they hold the memtable.
///
/// Allocation is for the single writer; `memoryUsage` may be read from any thread.
final class Arena: @unchecked Sendable {
    static let chunkSize = 1 << 20
    private var chunks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer? = nil
    private var left = 0
    private let used = Atomic<Int>(0)
    private let handedOut = Atomic<Int>(0)

    /// Bytes handed out to entries (what decides when a memtable is full).
    var allocated: Int { handedOut.load(ordering: .relaxed) }

    /// Bytes reserved from the system.
    var memoryUsage: Int { used.load(ordering: .relaxed) }

    /// `bytes` 8-byte-aligned bytes.
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let need = (bytes + 7) & ~7
        handedOut.wrappingAdd(need, ordering: .relaxed)
        if need > left {
            if need > Self.chunkSize / 4 {
                // A big entry gets its own chunk, keeping the current one for small entries.
                let p = UnsafeMutableRawPointer.allocate(byteCount: need, alignment: 8)
                chunks.append(p)
                used.wrappingAdd(need, ordering: .relaxed)
                return p
            }
            let p = UnsafeMutableRawPointer.allocate(byteCount: Self.chunkSize, alignment: 8)
            chunks.append(p)
            used.wrappingAdd(Self.chunkSize, ordering: .relaxed)
            cursor = p
            left = Self.chunkSize
        }
        let p = cursor!
        cursor = p + need
        left -= need
        return p
    }

    deinit { for c in chunks { c.deallocate() } }
}

/// Builds one table block (docs/formats/lsm-sstable.md): entries with prefix-compressed keys,
/// a full key every `restartInterval` entries (a restart point), then the restart offsets (u32 LE
/// each) and their count (u32 LE). Keys must be added in increasing order.
struct BlockBuilder {
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private(set) var lastKey: [UInt8] = []
    private(set) var count = 0

    init(restartInterval: Int = 16) {
        self.restartInterval = restartInterval
        buffer.reserveCapacity(8192)
    }

    var isEmpty: Bool { count == 0 }
    /// The size of the finished block if it were finished now.
    var sizeEstimate: Int { buffer.count + restarts.count * 4 + 4 }

    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        restarts.removeAll(keepingCapacity: true)
        restarts.append(0)
        counter = 0
        count = 0
        lastKey.removeAll(keepingCapacity: true)
    }

    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let n = min(lastKey.count, key.count)
            lastKey.withUnsafeBytes { last in
                while shared < n && last[shared] == key[shared] { shared += 1 }
            }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        putVarint(&buffer, UInt64(shared))
        putVarint(&buffer, UInt64(key.count - shared))
        putVarint(&buffer, UInt64(value.count))
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        buffer.append(contentsOf: value)
        lastKey.removeSubrange(shared...)
        lastKey.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        counter += 1
        count += 1
    }

    /// Appends the restart array; the block is `buffer` until the next `reset()`.
    mutating func finish() {
        for r in restarts { putFixed32(&buffer, r) }
        putFixed32(&buffer, UInt32(restarts.count))
    }
}

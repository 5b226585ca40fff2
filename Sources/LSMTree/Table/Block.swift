import OrbitCore

/// A table block read from disk and checked (docs/formats/lsm-sstable.md): its bytes, without the
/// 5-byte trailer, in memory it owns. Immutable and shared (block cache, iterators).
final class Block: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let restartsOffset: Int
    let restartCount: Int

    /// Takes ownership of `storage` (`count` bytes). Throws when the restart array does not fit.
    init(owning storage: UnsafeMutableRawPointer, count: Int, path: String, offset: Int64, raw: Bool = false) throws {
        bytes = UnsafeRawBufferPointer(start: storage, count: count)
        if raw { restartCount = 0; restartsOffset = count; return }  // a filter: no entries
        guard count >= 4 else {
            storage.deallocate()
            throw corruption("block of \(count) bytes has no restart count", path, offset)
        }
        let n = Int(loadFixed32(bytes, count - 4))
        guard n >= 1, n <= (count - 4) / 4 else {
            storage.deallocate()
            throw corruption("block restart count \(n) does not fit its \(count) bytes", path, offset)
        }
        restartCount = n
        restartsOffset = count - 4 - 4 * n
    }

    deinit { UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }

    @inline(__always) func restart(_ i: Int) -> Int { Int(loadFixed32(bytes, restartsOffset + 4 * i)) }
}

/// A growable key buffer with a stable address while not resized (iterators' current key).
final class KeyBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 8)
    }
    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always) func truncate(_ n: Int) { count = n }

    @inline(__always) func append(_ src: UnsafeRawBufferPointer) {
        if count + src.count > capacity {
            let c = max(capacity * 2, count + src.count)
            let b = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
            b.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = b
            capacity = c
        }
        if src.count > 0 { (base + count).copyMemory(from: src.baseAddress!, byteCount: src.count) }
        count += src.count
    }

    func set(_ src: UnsafeRawBufferPointer) { count = 0; append(src) }
}

/// Walks one block. Keys are internal keys (data, index blocks) ordered by `compareInternal`.
/// A malformed entry makes the iterator invalid with `corrupt` set (checksums make this rare:
/// it means a bug or a checksum collision), never a crash.
struct BlockIterator {
    let block: Block
    let keyBuf = KeyBuffer()
    /// Offset of the current entry; `block.restartsOffset` when past the end.
    private(set) var current: Int
    private var nextOffset: Int
    private(set) var valueStart = 0
    private(set) var valueCount = 0
    private(set) var corrupt = false

    init(_ block: Block) {
        self.block = block
        current = block.restartsOffset
        nextOffset = block.restartsOffset
    }

    var valid: Bool { current < block.restartsOffset }
    var key: UnsafeRawBufferPointer { keyBuf.bytes }
    var value: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: block.bytes[valueStart..<(valueStart + valueCount)]) }

    /// Decodes the entry at `nextOffset` into the current one.
    @inline(__always) private mutating func parseNext() -> Bool {
        current = nextOffset
        if current >= block.restartsOffset { current = block.restartsOffset; return false }
        let p = block.bytes
        var pos = current
        // Compared as UInt64 before any conversion: a CRC-valid block may still hold any varint
        // (a bug, a checksum collision), and Int(_:) of one past Int.max would trap.
        // Every key is an internal key: at least its 8-byte trailer (else compareInternal traps).
        guard let shared = getVarint(p, &pos), let nonShared = getVarint(p, &pos), let vlen = getVarint(p, &pos),
              shared <= UInt64(keyBuf.count), pos <= block.restartsOffset,
              nonShared <= UInt64(block.restartsOffset - pos), vlen <= UInt64(block.restartsOffset - pos) - nonShared,
              shared + nonShared >= UInt64(trailerSize) else {
            corrupt = true
            current = block.restartsOffset
            return false
        }
        keyBuf.truncate(Int(shared))
        keyBuf.append(UnsafeRawBufferPointer(rebasing: p[pos..<(pos + Int(nonShared))]))
        pos += Int(nonShared)
        valueStart = pos
        valueCount = Int(vlen)
        nextOffset = pos + Int(vlen)
        return true
    }

    mutating func next() { _ = parseNext() }

    private mutating func seekToRestart(_ i: Int) {
        keyBuf.truncate(0)
        nextOffset = block.restart(i)
        if nextOffset > block.restartsOffset { corrupt = true; nextOffset = block.restartsOffset }
    }

    mutating func seekToFirst() {
        seekToRestart(0)
        _ = parseNext()
    }

    /// Positions at the first entry >= `target`.
    mutating func seek(_ target: UnsafeRawBufferPointer) {
        var lo = 0, hi = block.restartCount - 1
        // Find the last restart point whose key < target.
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            seekToRestart(mid)
            guard parseNext() else { return }
            if compareInternal(key, target) < 0 { lo = mid } else { hi = mid - 1 }
        }
        seekToRestart(lo)
        while parseNext() {
            if compareInternal(key, target) >= 0 { return }
        }
    }
}

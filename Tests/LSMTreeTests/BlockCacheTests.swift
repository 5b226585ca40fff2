@testable import LSMTree
import OrbitCore
import Testing

/// BlockCache on its own: LRU order, a capacity in bytes (each block charged its size + 64),
/// eviction of one file's blocks.
@Suite("lsm block cache") struct BlockCacheTests {
    static func block(_ bytes: Int) throws -> Block {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return try Block(owning: storage, count: bytes, path: "/t", offset: 0, raw: true)
    }

    static func key(_ file: UInt64, _ offset: UInt64) -> BlockCache.Key { .init(file: file, offset: offset) }

    @Test func theLeastRecentlyUsedBlockGoesFirst() throws {
        // Room for exactly four 936-byte blocks (charge 1000 each).
        let c = BlockCache(capacityBytes: 4000)
        for i: UInt64 in 0..<4 { c.insert(Self.key(1, i), try Self.block(936)) }
        #expect(c.usage == 4000)
        #expect(c.lookup(Self.key(1, 0)) != nil)          // 0 is now the most recent
        c.insert(Self.key(1, 4), try Self.block(936))      // evicts 1, the least recent
        #expect(c.peek(Self.key(1, 1)) == nil)
        #expect([0, 2, 3, 4].allSatisfy { c.peek(Self.key(1, $0)) != nil })
        // peek does not refresh: 2 stays the least recent and goes next.
        _ = c.peek(Self.key(1, 2))
        c.insert(Self.key(1, 5), try Self.block(936))
        #expect(c.peek(Self.key(1, 2)) == nil && c.peek(Self.key(1, 3)) != nil)
        #expect(c.usage == 4000)
        #expect(c.hits == 1 && c.misses == 0)
        #expect(c.lookup(Self.key(9, 9)) == nil && c.misses == 1)
    }

    @Test func capacityIsInBytes() throws {
        let c = BlockCache(capacityBytes: 10_000)
        for i: UInt64 in 0..<100 { c.insert(Self.key(1, i), try Self.block(Int(i % 7) * 300 + 100)) }
        #expect(c.usage <= 10_000 && c.usage > 10_000 - 2300)
        // A block larger than the whole cache is not cached (and evicts nothing).
        let before = c.usage
        c.insert(Self.key(2, 0), try Self.block(20_000))
        #expect(c.peek(Self.key(2, 0)) == nil && c.usage == before)
        // Capacity 0 caches nothing and counts every lookup a miss.
        let none = BlockCache(capacityBytes: 0)
        none.insert(Self.key(1, 0), try Self.block(10))
        #expect(none.lookup(Self.key(1, 0)) == nil && none.usage == 0 && none.misses == 1)
    }

    @Test func evictingAFileRemovesOnlyItsBlocks() throws {
        let c = BlockCache(capacityBytes: 1 << 20)
        for f: UInt64 in 1...3 { for o: UInt64 in 0..<10 { c.insert(Self.key(f, o * 4096), try Self.block(100)) } }
        #expect(c.count(file: 2) == 10)
        // Touch some of file 2's blocks in between, so its chain is not the LRU order.
        _ = c.lookup(Self.key(2, 4096 * 3))
        c.evict(file: 2)
        #expect(c.count(file: 2) == 0 && c.count(file: 1) == 10 && c.count(file: 3) == 10)
        #expect((0..<10).allSatisfy { c.peek(Self.key(2, UInt64($0) * 4096)) == nil })
        #expect(c.usage == 20 * 164)
        c.evict(file: 2)   // twice: nothing
        c.evict(file: 42)
        // Slots are reused after eviction.
        for o: UInt64 in 0..<10 { c.insert(Self.key(4, o), try Self.block(100)) }
        #expect(c.count(file: 4) == 10 && c.usage == 30 * 164)
    }
}

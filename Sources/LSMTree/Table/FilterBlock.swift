/// A Bloom filter over the user keys of one table (docs/formats/lsm-sstable.md): `bits` bytes of
/// filter followed by one byte `k`, the number of probes. Probes use double hashing of one 32-bit
/// hash, as LevelDB's filter does: h, h + delta, h + 2·delta, ... with delta = h rotated by 15.
enum BloomFilter {
    /// A 32-bit hash of the key (Murmur-style mixing, seed 0xbc9f1d34 as in LevelDB).
    @inline(__always)
    static func hash(_ data: UnsafeRawBufferPointer) -> UInt32 {
        let m: UInt32 = 0xc6a4_a793
        var h: UInt32 = 0xbc9f_1d34 ^ (UInt32(truncatingIfNeeded: data.count) &* m)
        var i = 0
        let n = data.count
        while i + 4 <= n {
            let w = UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            h = h &+ w
            h = h &* m
            h ^= h >> 16
            i += 4
        }
        switch n - i {
        case 3:
            h = h &+ UInt32(data[i + 2]) << 16
            fallthrough
        case 2:
            h = h &+ UInt32(data[i + 1]) << 8
            fallthrough
        case 1:
            h = h &+ UInt32(data[i])
            h = h &* m
            h ^= h >> 24
        default: break
        }
        return h
    }

    /// Builds the filter for keys with the given hashes.
    static func build(hashes: [UInt32], bitsPerKey: Int) -> [UInt8] {
        let k = max(1, min(30, Int(Double(bitsPerKey) * 0.69)))
        let bits = max(64, hashes.count * bitsPerKey)
        let bytes = (bits + 7) / 8
        let nbits = bytes * 8
        var out = [UInt8](repeating: 0, count: bytes + 1)
        out[bytes] = UInt8(k)
        out.withUnsafeMutableBufferPointer { f in
            for var h in hashes {
                let delta = (h >> 17) | (h << 15)
                for _ in 0..<k {
                    let pos = Int(h % UInt32(nbits))
                    f[pos / 8] |= UInt8(1 << (pos % 8))
                    h = h &+ delta
                }
            }
        }
        return out
    }

    /// False only when the key is certainly absent.
    @inline(__always)
    static func mayContain(_ filter: UnsafeRawBufferPointer, hash: UInt32) -> Bool {
        guard filter.count >= 2 else { return true }
        let bytes = filter.count - 1
        let k = Int(filter[bytes])
        // k > 30 is reserved for other encodings, and a filter of 512 MiB or more (never written)
        // would overflow the bit count: answer "maybe".
        if k > 30 || bytes > Int(UInt32.max / 8) { return true }
        let nbits = UInt32(bytes * 8)
        var h = hash
        let delta = (h >> 17) | (h << 15)
        for _ in 0..<k {
            let pos = Int(h % nbits)
            if filter[pos / 8] & UInt8(1 << (pos % 8)) == 0 { return false }
            h = h &+ delta
        }
        return true
    }
}

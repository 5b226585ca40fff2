#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it by `remove()`.
struct TemporaryDirectory {
    let path: String
    let fs: POSIXFileSystem

    init(_ fs: POSIXFileSystem = POSIXFileSystem(), prefix: String = "orbit-test") {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((joinPath(base, prefix) + "-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed under \(base): errno \(errno)")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.fs = fs
    }

    func child(_ name: String) -> String { joinPath(path, name) }

    func remove() {
        try? removeTree(path)
    }

    private func removeTree(_ dir: String) throws {
        for name in try fs.list(directory: dir) {
            let p = joinPath(dir, name)
            do { try fs.remove(p) } catch let e as OrbitError where e.errnoName == "EISDIR" || e.errnoName == "EPERM" {
                try removeTree(p)
            }
        }
        try fs.removeDirectory(dir)
    }
}

/// SplitMix64: a tiny repeatable generator for randomized tests (print the seed; replay with ORBIT_TEST_SEED, as OrbitTestSupport does).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seed from ORBIT_TEST_SEED when set (to replay a failure), else `defaultSeed`; printed either way.
    static func seeded(_ test: String, default defaultSeed: UInt64) -> SplitMix64 {
        let seed = getenv("ORBIT_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? defaultSeed
        print("\(test): seed \(seed) (replay with ORBIT_TEST_SEED=\(seed))")
        return SplitMix64(seed: seed)
    }
}

extension Array where Element == UInt8 {
    /// `count` bytes 0, 1, 2, ... wrapping at 256.
    static func pattern(_ count: Int, start: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 + start) }
    }
}

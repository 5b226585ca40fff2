// Temporary directories and seeded generators come from OrbitTestSupport (`TemporaryDirectory`,
// `TestSeed`, `SeededRNG`); only what is particular to these tests is here.

extension Array where Element == UInt8 {
    /// `count` bytes 0, 1, 2, ... wrapping at 256.
    static func pattern(_ count: Int, start: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 + start) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Leases
import MemoryEngine
import OrbitCore
import Testing

/// The engines every directory test runs over.
enum EngineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The private sorted-array engine of TestEngine.swift.
    case sortedArray
    /// The MemoryEngine module's reference engine.
    case memory

    func make() -> any StorageEngine {
        switch self {
        case .sortedArray: SortedArrayEngine()
        case .memory: MemoryEngine()
        }
    }

    var testDescription: String { rawValue }
}

/// SplitMix64: small, fast, and the same stream for the same seed everywhere.
struct SeededRNG: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for randomized tests: ORBIT_TEST_SEED (decimal or 0x-hex, the project-wide variable)
/// when set, else a fixed default. Printed so a failure can be replayed.
func testSeed(_ name: String, default value: UInt64) -> UInt64 {
    var seed = value
    if let raw = getenv("ORBIT_TEST_SEED") {
        let s = String(cString: raw)
        if let v = s.hasPrefix("0x") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s) { seed = v }
    }
    print("[\(name)] seed \(seed) (replay with ORBIT_TEST_SEED=\(seed))")
    return seed
}

/// Runs `body(i)` on `count` new POSIX threads at once and waits for all; rethrows the first error.
func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    final class Job: @unchecked Sendable {
        let index: Int
        let body: @Sendable (Int) throws -> Void
        var error: (any Error)?
        init(_ index: Int, _ body: @escaping @Sendable (Int) throws -> Void) { self.index = index; self.body = body }
    }
    var threads: [pthread_t] = []
    let jobs = (0..<count).map { Job($0, body) }
    for job in jobs {
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            #if canImport(Darwin)
            let job = Unmanaged<Job>.fromOpaque(raw).takeRetainedValue()
            #else
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            #endif
            do { try job.body(job.index) } catch { job.error = error }
            return nil
        }, Unmanaged.passRetained(job).toOpaque())
        precondition(rc == 0, "pthread_create: \(rc)")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
    if let error = jobs.compactMap(\.error).first { throw error }
}

func ref(_ type: String, _ key: String) -> AddressableReference {
    AddressableReference(addressableType: type, key: key)
}

func lease(_ type: String, _ key: String, on node: NodeId, at now: Int64 = 1_700_000_000_000,
           duration: Int64 = 10_000, version: UInt64 = 1) -> AddressableLease {
    AddressableLease(reference: ref(type, key), nodeId: node, grantedAt: now, duration: duration, version: version)
}

/// Asserts the node index matches the records exactly.
func expectIndexConsistent<E>(_ dir: LeaseDirectory<E>, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let problems = try dir.indexProblems()
    #expect(problems.isEmpty, "index problems: \(problems.prefix(10))", sourceLocation: sourceLocation)
}

/// Expects `body` to throw an `OrbitError` with code `.corruption`; returns it.
@discardableResult
func expectCorruption(_ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> OrbitError? {
    do {
        try body()
        Issue.record("expected a corruption error, nothing thrown. \(comment())", sourceLocation: sourceLocation)
    } catch let e as OrbitError {
        #expect(e.code == .corruption, "\(e) \(comment())", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected OrbitError, got \(error) \(comment())", sourceLocation: sourceLocation)
    }
    return nil
}

extension AddressableLease: CustomTestStringConvertible {
    /// Test names stay readable when a sample holds a 40 kB key.
    public var testDescription: String {
        let s = description
        return s.count <= 100 ? s : String(s.prefix(100)) + "… (\(s.utf8.count) bytes)"
    }
}

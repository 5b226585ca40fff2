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

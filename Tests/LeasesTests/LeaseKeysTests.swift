import Leases
import OrbitCore
import OrbitTestSupport
import Testing

@Suite struct LeaseKeysTests {
    @Test func documentedLayout() throws {
        let r = ref("User", "u-1")
        #expect(LeaseKeys.primaryKey(for: r) == [0x4C, 0x55, 0x73, 0x65, 0x72, 0x00, 0x01, 0x75, 0x2D, 0x31])
        #expect(LeaseKeys.nodeIndexKey(node: "n1", reference: r)
            == [0x4E, 0x6E, 0x31, 0x00, 0x01, 0x55, 0x73, 0x65, 0x72, 0x00, 0x01, 0x75, 0x2D, 0x31])
        #expect(LeaseKeys.primaryKey(for: ref("A\u{0}", "")) == [0x4C, 0x41, 0x00, 0xFF, 0x00, 0x01])
        #expect(LeaseKeys.typeBounds("User") == ([0x4C, 0x55, 0x73, 0x65, 0x72, 0x00, 0x01], [0x4C, 0x55, 0x73, 0x65, 0x72, 0x00, 0x02]))
        #expect(LeaseKeys.nodeBounds("n1") == ([0x4E, 0x6E, 0x31, 0x00, 0x01], [0x4E, 0x6E, 0x31, 0x00, 0x02]))
    }

    static let alphabet: [String] = ["", "\u{0}", "\u{1}", "a", "b", "\u{FF}", "é", "🚀", "\u{0}\u{0}", "a\u{0}", "ab"]

    func randomString(_ rng: inout SeededRNG) -> String {
        (0..<Int.random(in: 0...3, using: &rng)).map { _ in Self.alphabet.randomElement(using: &rng)! }.joined()
    }

    /// Byte order of keys equals (type, key) order of UTF-8 bytes, keys round-trip, and each
    /// type's bounds hold exactly that type's keys — including types that are prefixes of others and
    /// types containing NUL.
    @Test func orderIsPreservedAndBoundsAreExact() throws {
        var rng = TestSeed.rng("orderIsPreservedAndBoundsAreExact", default: 42)
        var refs = Set<AddressableReference>()
        for _ in 0..<400 { refs.insert(ref(randomString(&rng), randomString(&rng))) }
        for t in ["User", "UserActor", "Use", "User\u{0}", "User\u{0}X"] {
            refs.insert(ref(t, "k"))
        }
        let refsArray = Array(refs)
        let keys = refsArray.map { LeaseKeys.primaryKey(for: $0) }
        let byKey = zip(refsArray, keys).sorted { compareBytes($0.1, $1.1) < 0 }.map(\.0)
        let byTuple = refsArray.sorted {
            let a = (Array($0.addressableType.utf8), Array($0.key.utf8)), b = (Array($1.addressableType.utf8), Array($1.key.utf8))
            let c = compareBytes(a.0, b.0)
            return c != 0 ? c < 0 : compareBytes(a.1, b.1) < 0
        }
        #expect(byKey.map(\.description) == byTuple.map(\.description))
        for (r, k) in zip(refsArray, keys) {
            let back = try LeaseKeys.decodePrimaryKey(k)
            #expect(Array(back.addressableType.utf8) == Array(r.addressableType.utf8) && Array(back.key.utf8) == Array(r.key.utf8))
            let (node, r2) = try LeaseKeys.decodeNodeIndexKey(LeaseKeys.nodeIndexKey(node: NodeId(r.key), reference: r))
            #expect(Array(node.value.utf8) == Array(r.key.utf8))
            #expect(Array(r2.addressableType.utf8) == Array(r.addressableType.utf8) && Array(r2.key.utf8) == Array(r.key.utf8))
        }
        let types = Set(refsArray.map { Array($0.addressableType.utf8) })
        for t in types {
            let (start, end) = LeaseKeys.typeBounds(String(decoding: t, as: UTF8.self))
            for (r, k) in zip(refsArray, keys) {
                let inside = compareBytes(start, k) <= 0 && compareBytes(k, end) < 0
                #expect(inside == (Array(r.addressableType.utf8) == t), "type \(t) key \(describeBytes(k))")
            }
        }
    }

    @Test func malformedKeysAreRejected() {
        expectCorruption { _ = try LeaseKeys.decodePrimaryKey([0x4E, 0x41, 0x00, 0x01]) }
        expectCorruption { _ = try LeaseKeys.decodePrimaryKey([0x4C, 0x41]) }  // no terminator
        expectCorruption { _ = try LeaseKeys.decodePrimaryKey([0x4C, 0x41, 0x00]) }  // cut escape
        expectCorruption { _ = try LeaseKeys.decodePrimaryKey([0x4C, 0x41, 0x00, 0x07]) }  // bad escape
        expectCorruption { _ = try LeaseKeys.decodePrimaryKey([0x4C, 0x00, 0x01, 0xC3]) }  // bad UTF-8
        expectCorruption { _ = try LeaseKeys.decodeNodeIndexKey([0x4E, 0x41, 0x00, 0x01, 0x42]) }  // no type terminator
    }
}

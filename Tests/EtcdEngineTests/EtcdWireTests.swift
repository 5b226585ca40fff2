import Foundation
import NIOCore
import OrbitCore
import ServerSupport
import SwiftProtobuf
import Testing
@testable import EtcdEngine

/// The etcd backend's hand-written wire parts, against swift-protobuf's encoding of the generated
/// messages (Generated/, from Protos/etcd/*.proto) on seeded random keys and values, and the HTTP/2
/// PING answerer on hand-made frame streams. The server itself: the conformance suite and
/// ServerBackendTests.
@Suite("etcd wire")
struct EtcdWireTests {
    static let seed: UInt64 = 0x57C0_E7CD

    /// Random bytes of a random length (zero and 0xff bytes included), deterministic from the seed.
    static func bytes(_ rng: inout SplitMix, max: Int) -> [UInt8] {
        (0..<Int(rng.next() % UInt64(max + 1))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func encoded(_ body: (inout WireEncoder) -> Void) -> [UInt8] {
        var e = WireEncoder()
        body(&e)
        return e.bytes
    }

    @Test func putAndDeleteEncodeAsTheGeneratedMessages() throws {
        print("[etcd wire] seed \(Self.seed)")
        var rng = SplitMix(seed: Self.seed)
        for _ in 0..<300 {
            let prefix = Array("orbit/".utf8), key = Self.bytes(&rng, max: 40), value = Self.bytes(&rng, max: 300)
            let mine = prefix.withUnsafeBytes { p in key.withUnsafeBytes { k in value.withUnsafeBytes { v in
                Self.encoded { $0.put(prefix: p, key: k, value: v) } } } }
            var put = Etcdserverpb_PutRequest()
            put.key = Data(prefix + key)
            put.value = Data(value)
            // A zero-length value is sent explicitly (proto3 would leave it out): the same message.
            #expect(try Etcdserverpb_PutRequest(serializedBytes: mine) == put)
            if !value.isEmpty { #expect(mine == (try put.serializedBytes() as [UInt8])) }

            let del = prefix.withUnsafeBytes { p in key.withUnsafeBytes { k in Self.encoded { $0.deleteRange(prefix: p, key: k) } } }
            var d = Etcdserverpb_DeleteRangeRequest()
            d.key = Data(prefix + key)
            #expect(del == (try d.serializedBytes() as [UInt8]))
        }
    }

    @Test func rangeEncodesAsTheGeneratedMessage() throws {
        var rng = SplitMix(seed: Self.seed &+ 1)
        for _ in 0..<300 {
            let prefix = Array("p".utf8), start = Self.bytes(&rng, max: 20), end = Array("q".utf8) + Self.bytes(&rng, max: 20)
            let limit = Int(rng.next() % 2000), revision = Int64(rng.next() % 100_000), serializable = rng.next() % 2 == 0
            let countOnly = rng.next() % 2 == 0
            let mine = prefix.withUnsafeBytes { p in start.withUnsafeBytes { s in end.withUnsafeBytes { e in
                Self.encoded { $0.range(prefix: p, start: s, end: e, limit: limit, revision: revision, serializable: serializable, countOnly: countOnly) }
            } } }
            var r = Etcdserverpb_RangeRequest()
            r.key = Data(prefix + start)
            r.rangeEnd = Data(end)
            r.limit = Int64(limit)
            r.revision = revision
            r.sortOrder = .ascend
            r.sortTarget = .key
            r.serializable = serializable
            r.countOnly = countOnly
            #expect(mine == (try r.serializedBytes() as [UInt8]))
        }
    }

    @Test func txnOfPutsAndDeletesDecodesAsTheGeneratedMessage() throws {
        var rng = SplitMix(seed: Self.seed &+ 2)
        var e = WireEncoder()
        var want = Etcdserverpb_TxnRequest()
        let prefix = Array("orbit/".utf8)
        for _ in 0..<100 {
            let key = Self.bytes(&rng, max: 30), value = Self.bytes(&rng, max: 500)
            var op = Etcdserverpb_RequestOp()
            let r = e.beginNested(2)
            if rng.next() % 3 == 0 {
                let d = e.beginNested(3)
                prefix.withUnsafeBytes { p in key.withUnsafeBytes { e.deleteRange(prefix: p, key: $0) } }
                e.endNested(d)
                var del = Etcdserverpb_DeleteRangeRequest()
                del.key = Data(prefix + key)
                op.requestDeleteRange = del
            } else {
                let p = e.beginNested(2)
                prefix.withUnsafeBytes { pp in key.withUnsafeBytes { k in value.withUnsafeBytes { v in e.put(prefix: pp, key: k, value: v) } } }
                e.endNested(p)
                var put = Etcdserverpb_PutRequest()
                put.key = Data(prefix + key)
                put.value = Data(value)
                op.requestPut = put
            }
            e.endNested(r)
            want.success.append(op)
        }
        #expect(try Etcdserverpb_TxnRequest(serializedBytes: e.bytes) == want)
    }

    @Test func rangeResponseIsReadInPlace() throws {
        var rng = SplitMix(seed: Self.seed &+ 3)
        var response = Etcdserverpb_RangeResponse()
        response.header.revision = 4242
        response.header.clusterID = 7
        var want: [([UInt8], [UInt8])] = []
        for i in 0..<200 {
            var kv = Mvccpb_KeyValue()
            let k = Self.bytes(&rng, max: 30) + [UInt8(i & 0xff)], v = Self.bytes(&rng, max: 200)
            kv.key = Data(k)
            kv.value = Data(v)
            kv.createRevision = Int64(i + 1)
            kv.modRevision = Int64(i + 2)
            kv.version = 3
            want.append((k, v))
            response.kvs.append(kv)
        }
        response.more = true
        response.count = 9999
        let bytes: [UInt8] = try response.serializedBytes()
        var got: [([UInt8], [UInt8])] = []
        let r = try bytes.withUnsafeBytes { m in
            try WireResponse.range(m) { k, v in
                got.append((Array(k), Array(v)))
                return true
            }
        }
        #expect(got.map(\.0) == want.map(\.0) && got.map(\.1) == want.map(\.1))
        #expect(r.more && r.count == 9999 && !r.stopped)
        #expect(try bytes.withUnsafeBytes { try WireResponse.revision($0) } == 4242)
        // Stopping early.
        var seen = 0
        let s = try bytes.withUnsafeBytes { m in try WireResponse.range(m) { _, _ in seen += 1; return seen < 5 } }
        #expect(seen == 5 && s.stopped)
        // A truncated message is an error, not a crash.
        #expect(throws: WireError.self) {
            try Array(bytes.prefix(20)).withUnsafeBytes { m in try WireResponse.range(m) { _, _ in true } }
        }
    }

    @Test func deleteResponseCountsDeletedKeys() throws {
        var d = Etcdserverpb_DeleteRangeResponse()
        d.header.revision = 12
        d.deleted = 3
        let bytes: [UInt8] = try d.serializedBytes()
        #expect(try bytes.withUnsafeBytes { try WireResponse.deleted($0) } == 3)
        #expect(try bytes.withUnsafeBytes { try WireResponse.revision($0) } == 12)
    }

    @Test func prefixSuccessorBoundsThePrefix() {
        #expect(EtcdEngine.successor(of: Array("orbit/".utf8)) == Array("orbit0".utf8))
        #expect(EtcdEngine.successor(of: [0x61, 0xff]) == [0x62])
        #expect(EtcdEngine.successor(of: [0xff, 0xff]) == [0])
    }

    @Test func endpointsAreParsed() throws {
        let e = try EtcdEngine.parse(endpoints: "127.0.0.1:2379, http://etcd.example:2380/")
        #expect(e.map(\.host) == ["127.0.0.1", "etcd.example"] && e.map(\.port) == [2379, 2380])
        for bad in ["", "host", "host:0", "https://h:2379", "user:pw@h:2379", ":2379"] {
            #expect(throws: OrbitError.self, "\(bad)") { try EtcdEngine.parse(endpoints: bad) }
        }
    }

    @Test func portTakenIsRecognisedInEveryServersWords() {
        #expect(ManagedServer.saysPortTaken("{\"error\":\"listen tcp 127.0.0.1:2379: bind: address already in use\"}"))
        #expect(ManagedServer.saysPortTaken("Could not create server TCP listening socket 127.0.0.1:6379: bind: Address already in use"))
        #expect(!ManagedServer.saysPortTaken("ready to serve client requests"))
    }

    // MARK: The PING answerer

    static func frame(type: UInt8, flags: UInt8, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    /// A stream of DATA, HEADERS, SETTINGS, PING and PING-ACK frames, fed in random splits: every
    /// non-PING byte goes on in order, every PING is answered with its ACK and its payload, and
    /// nothing else.
    @Test func pingsAreAnsweredAndEverythingElsePassesInOrder() {
        var rng = SplitMix(seed: Self.seed &+ 4)
        for _ in 0..<50 {
            var stream: [UInt8] = [], expected: [UInt8] = [], acks: [[UInt8]] = []
            for _ in 0..<40 {
                switch rng.next() % 5 {
                case 0:
                    let payload = (0..<8).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    stream += Self.frame(type: 6, flags: 0, payload: payload)
                    acks.append(Self.frame(type: 6, flags: 1, payload: payload))
                case 1:
                    let f = Self.frame(type: 6, flags: 1, payload: (0..<8).map { UInt8($0) })   // an ACK: passes
                    stream += f
                    expected += f
                case 2:
                    let f = Self.frame(type: 4, flags: 0, payload: [0, 3, 0, 0, 0, 100])
                    stream += f
                    expected += f
                default:
                    // DATA whose payload looks like a PING header: must not be taken for one.
                    let payload = Self.frame(type: 6, flags: 0, payload: Array(repeating: 0, count: 8)) + Self.bytes(&rng, max: 100)
                    let f = Self.frame(type: 0, flags: 0, stream: 1, payload: payload)
                    stream += f
                    expected += f
                }
            }
            let answerer = PingAnswerer(counter: nil)
            var forwarded: [UInt8] = [], answered: [[UInt8]] = []
            var at = 0
            while at < stream.count {
                let n = min(stream.count - at, 1 + Int(rng.next() % 40))
                var buffer = ByteBuffer(bytes: stream[at..<(at + n)])
                at += n
                answerer.feed(&buffer, forward: { var b = $0; forwarded += b.readBytes(length: b.readableBytes)! },
                              answer: { var b = $0; answered.append(b.readBytes(length: b.readableBytes)!) })
            }
            #expect(forwarded == expected)
            #expect(answered == acks)
        }
    }
}

/// SplitMix64: the tests' seeded generator.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import OrbitTestSupport
import Testing
@testable import S3Engine

/// The s3 engine against a real managed SeaweedFS cluster (master, three volume servers, filer, S3
/// gateway on loopback): one cluster for the whole test, to keep it fast.
@Suite(.serialized) struct S3EngineTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func managedClusterRoundTripScanRefusalsAndWrongSecret() throws {
        try withTemporaryDirectory(prefix: "orbit-s3") { dir in
            let store = dir + "/s3"
            let t0 = MonotonicClock.nanoseconds()
            let e = try S3Descriptor.open(directory: store, options: S3Options(), durability: .everyWrite, access: .readWrite)
            print("s3: managed SeaweedFS cluster up in \((MonotonicClock.nanoseconds() - t0) / 1_000_000) ms (\(e.serverDescription.version))")
            #expect(e.cluster?.volumes.count == 3)
            #expect(e.serverDescription.mode == "managed")

            // put / get / overwrite / delete, binary and empty keys.
            let keys: [[UInt8]] = [[], [0], [0, 0], [0, 0xff], [1], [0x7f], [0x80], [0xff], [0xff, 0xff], bytes("a"), bytes("ab"), bytes("b")]
            for (i, k) in keys.enumerated() {
                try k.withUnsafeBytes { kb in try bytes("v\(i)").withUnsafeBytes { try e.put(kb, $0) } }
            }
            let got: [UInt8]? = try keys[3].withUnsafeBytes { try e.get($0) { $0.map { [UInt8]($0) } } }
            #expect(got == bytes("v3"))
            try keys[3].withUnsafeBytes { kb in try [UInt8]().withUnsafeBytes { try e.put(kb, $0) } }
            let empty: [UInt8]? = try keys[3].withUnsafeBytes { try e.get($0) { $0.map { [UInt8]($0) } } }
            #expect(empty == [])
            let missing: Bool = try bytes("nope").withUnsafeBytes { try e.get($0) { $0 == nil } }
            #expect(missing)

            // Scans in memcmp order, half-open bounds, limits, across list pages (list_page 1000: use a limit of 5 too).
            var seen: [[UInt8]] = []
            try e.scan(from: nil, to: nil, limit: 0) { k, _ in seen.append([UInt8](k)); return true }
            #expect(seen == keys.sorted { compareBytes($0, $1) < 0 })
            seen.removeAll()
            try [UInt8]([0, 0xff]).withUnsafeBytes { s in
                try [UInt8]([0xff]).withUnsafeBytes { end in
                    try e.scan(from: s, to: end, limit: 0) { k, _ in seen.append([UInt8](k)); return true }
                }
            }
            #expect(seen == [[0, 0xff], [1], bytes("a"), bytes("ab"), bytes("b"), [0x7f], [0x80]])
            let n = try e.scan(from: nil, to: nil, limit: 5) { _, _ in true }
            #expect(n == 5)

            try keys[0].withUnsafeBytes { try e.delete($0) }
            let gone: Bool = try keys[0].withUnsafeBytes { try e.get($0) { $0 == nil } }
            #expect(gone)
            let stats = try e.stats()
            #expect(stats.totalKeys == UInt64(keys.count - 1))

            // A batch is refused (atomic batches are declared absent); an empty one is nothing.
            #expect(!S3Descriptor.capabilities.contains(.atomicBatches))
            var batch = WriteBatch()
            try e.write(batch)
            bytes("x").withUnsafeBytes { k in bytes("y").withUnsafeBytes { batch.put(k, $0) } }
            do {
                try e.write(batch)
                Issue.record("a batch was accepted")
            } catch let error as OrbitError {
                #expect(error.code == .unsupported)
                #expect(error.message.contains("no atomic multi-key batch"))
            }

            // A wrong secret against the same gateway: the server's 403, a clear error, nothing written.
            var options = S3Options()
            options.endpoint = "http://127.0.0.1:\(e.cluster!.gateway.port)"
            let wrong = SigV4.Credentials(accessKey: e.cluster!.credentials.accessKey, secretKey: "not-the-secret")
            do {
                _ = try S3Engine(directory: dir + "/other", options: options, durability: .none, access: .readWrite, credentials: wrong)
                Issue.record("a wrong secret was accepted")
            } catch let error as OrbitError {
                print("s3 wrong secret: \(error)")
                #expect(error.message.contains("403"))
                #expect(error.message.contains("SignatureDoesNotMatch"))
                #expect(error.hint?.contains("AWS_SECRET_ACCESS_KEY") == true)
                #expect(!error.description.contains("not-the-secret"))
            }
            #expect(access(dir + "/other", F_OK) != 0)

            // Reopen: the cluster restarts on its directories at new ports, and the data is there.
            let t1 = MonotonicClock.nanoseconds()
            try e.close()
            print("s3: cluster stopped in \((MonotonicClock.nanoseconds() - t1) / 1_000_000) ms")
            let again = try S3Descriptor.open(directory: store, options: S3Options(), durability: .none, access: .readWrite)
            let kept: [UInt8]? = try bytes("ab").withUnsafeBytes { try again.get($0) { $0.map { [UInt8]($0) } } }
            #expect(kept == bytes("v10"))
            try again.close()
        }
    }

    @Test func objectNamesKeepMemcmpOrder() {
        var rng = SeededRNG(seed: 0x53)
        print("seed 0x53")
        var keys: [[UInt8]] = []
        for _ in 0..<500 { keys.append((0..<Int.random(in: 0...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        let names = keys.map { "orbit/k" + SigV4.hex($0) }
        for i in 0..<keys.count {
            for j in 0..<keys.count where i != j {
                let byKey = compareBytes(keys[i], keys[j]), byName = Array(names[i].utf8).lexicographicallyPrecedes(Array(names[j].utf8))
                if byKey != 0 { #expect((byKey < 0) == byName) }
            }
        }
        var decoded: [UInt8] = []
        #expect(S3Engine.decode(Substring(names[7]), prefixCount: "orbit/k".utf8.count, into: &decoded))
        #expect(decoded == keys[7])
        #expect(S3Engine.startAfter(forName: "orbit/k0a", prefix: "orbit/k") == "orbit/k09~")
    }

    @Test func endpointsAreChecked() {
        #expect((try? S3Engine.parse(endpoint: "http://minio:9000/"))! == ("minio", 9000))
        #expect(throws: OrbitError.self) { try S3Engine.parse(endpoint: "https://s3.amazonaws.com") }
        #expect(throws: OrbitError.self) { try S3Engine.parse(endpoint: "http://key:secret@host") }
    }
}

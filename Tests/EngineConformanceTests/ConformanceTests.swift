import OrbitCore
import OrbitTestSupport
import Synchronization
import Testing

/// The engine conformance suite: what `StorageEngine` promises, checked on every engine.
///
/// Each check is written once, generically, in `Conformance<Engine>`; `RunCheck` (an
/// `EngineVisitor`) specializes it for each `EngineKind`, and each `@Test` below runs one check on
/// every engine. Engine-specific behaviour (options, on-disk layout, crash recovery) is tested
/// beside each engine, not here.
@Suite("Engine conformance")
struct ConformanceTests {
    /// Every registered engine and variant, the toy engine included (registered by `Toy.register()`).
    static let all: [EngineKind] = {
        Toy.register()
        return EngineKind.allCases
    }()

    @Test(arguments: all) func putThenGet(_ kind: EngineKind) throws { try run(.putThenGet, kind) }
    @Test(arguments: all) func deleteRemovesKey(_ kind: EngineKind) throws { try run(.deleteRemovesKey, kind) }
    @Test(arguments: all) func overwriteReplacesValue(_ kind: EngineKind) throws { try run(.overwriteReplacesValue, kind) }
    @Test(arguments: all) func missingKeyIsNil(_ kind: EngineKind) throws { try run(.missingKeyIsNil, kind) }
    @Test(arguments: all) func emptyKeyIsAKey(_ kind: EngineKind) throws { try run(.emptyKeyIsAKey, kind) }
    @Test(arguments: all) func emptyValueIsNotAbsence(_ kind: EngineKind) throws { try run(.emptyValueIsNotAbsence, kind) }
    @Test(arguments: all) func oneMebibyteValueRoundTrips(_ kind: EngineKind) throws { try run(.oneMebibyteValueRoundTrips, kind) }
    @Test(arguments: all) func binaryKeysWithZeroAndFFBytes(_ kind: EngineKind) throws { try run(.binaryKeysWithZeroAndFFBytes, kind) }
    @Test(arguments: all) func scanIsInMemcmpOrder(_ kind: EngineKind) throws { try run(.scanIsInMemcmpOrder, kind) }
    @Test(arguments: all) func scanBoundsAreHalfOpen(_ kind: EngineKind) throws { try run(.scanBoundsAreHalfOpen, kind) }
    @Test(arguments: all) func scanWithNilBounds(_ kind: EngineKind) throws { try run(.scanWithNilBounds, kind) }
    @Test(arguments: all) func scanLimit(_ kind: EngineKind) throws { try run(.scanLimit, kind) }
    @Test(arguments: all) func scanStopsWhenVisitorSaysSo(_ kind: EngineKind) throws { try run(.scanStopsWhenVisitorSaysSo, kind) }
    @Test(arguments: all) func scanOfEmptyRange(_ kind: EngineKind) throws { try run(.scanOfEmptyRange, kind) }
    @Test(arguments: all) func batchAppliesInOrder(_ kind: EngineKind) throws { try run(.batchAppliesInOrder, kind) }
    @Test(arguments: all) func batchIsAtomicToReaders(_ kind: EngineKind) throws { try run(.batchIsAtomicToReaders, kind) }
    @Test(arguments: all) func syncSucceeds(_ kind: EngineKind) throws { try run(.syncSucceeds, kind) }
    @Test(arguments: all) func statsCountKeysAndBytes(_ kind: EngineKind) throws { try run(.statsCountKeysAndBytes, kind) }
    @Test(arguments: all) func snapshotRestoreReturnsToRecordedState(_ kind: EngineKind) throws {
        try run(.snapshotRestoreReturnsToRecordedState, kind)
    }
    @Test(arguments: all) func snapshotNamesAreChecked(_ kind: EngineKind) throws { try run(.snapshotNamesAreChecked, kind) }
    @Test(arguments: all) func useAfterCloseThrowsClosed(_ kind: EngineKind) throws { try run(.useAfterCloseThrowsClosed, kind) }
    @Test(arguments: all) func concurrentWritersAndReaders(_ kind: EngineKind) throws { try run(.concurrentWritersAndReaders, kind) }
    @Test(arguments: all) func randomizedAgainstModel(_ kind: EngineKind) throws { try run(.randomizedAgainstModel, kind) }

    /// Persistent engines only. A volatile engine (memory) is not among the arguments, so the run
    /// lists this test without it rather than claiming it passed (`Test.cancel` in a case is
    /// reported as a pass by this swift-testing); `volatileEngineReopensEmpty` checks its promise.
    @Test(arguments: all.filter(\.isPersistent)) func reopenKeepsData(_ kind: EngineKind) throws {
        try run(.reopenKeepsData, kind)
    }

    /// The other side of the same promise, for volatile engines: a reopened store is empty.
    @Test(arguments: all.filter { !$0.isPersistent }) func volatileEngineReopensEmpty(_ kind: EngineKind) throws {
        try run(.volatileEngineReopensEmpty, kind)
    }

    private func run(_ check: Check, _ kind: EngineKind) throws {
        try kind.accept(RunCheck(check: check))
    }
}

enum Check {
    case putThenGet, deleteRemovesKey, overwriteReplacesValue, missingKeyIsNil, emptyKeyIsAKey
    case emptyValueIsNotAbsence, oneMebibyteValueRoundTrips, binaryKeysWithZeroAndFFBytes
    case scanIsInMemcmpOrder, scanBoundsAreHalfOpen, scanWithNilBounds, scanLimit, scanStopsWhenVisitorSaysSo
    case scanOfEmptyRange, batchAppliesInOrder, batchIsAtomicToReaders, syncSucceeds, statsCountKeysAndBytes
    case snapshotRestoreReturnsToRecordedState, snapshotNamesAreChecked, useAfterCloseThrowsClosed
    case concurrentWritersAndReaders, randomizedAgainstModel, reopenKeepsData, volatileEngineReopensEmpty
}

struct RunCheck: EngineVisitor {
    let check: Check
    func visit<Engine: StorageEngine>(_ harness: EngineHarness<Engine>) throws {
        try Conformance(harness: harness).run(check)
    }
}

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Renders keys for failure messages.
func show(_ keys: [[UInt8]]) -> String { "[" + keys.map { describeBytes($0) }.joined(separator: ", ") + "]" }

/// The checks, generic over the engine type.
struct Conformance<Engine: StorageEngine> {
    let harness: EngineHarness<Engine>

    func run(_ check: Check) throws {
        switch check {
        case .putThenGet: try putThenGet()
        case .deleteRemovesKey: try deleteRemovesKey()
        case .overwriteReplacesValue: try overwriteReplacesValue()
        case .missingKeyIsNil: try missingKeyIsNil()
        case .emptyKeyIsAKey: try emptyKeyIsAKey()
        case .emptyValueIsNotAbsence: try emptyValueIsNotAbsence()
        case .oneMebibyteValueRoundTrips: try oneMebibyteValueRoundTrips()
        case .binaryKeysWithZeroAndFFBytes: try binaryKeysWithZeroAndFFBytes()
        case .scanIsInMemcmpOrder: try scanIsInMemcmpOrder()
        case .scanBoundsAreHalfOpen: try scanBoundsAreHalfOpen()
        case .scanWithNilBounds: try scanWithNilBounds()
        case .scanLimit: try scanLimit()
        case .scanStopsWhenVisitorSaysSo: try scanStopsWhenVisitorSaysSo()
        case .scanOfEmptyRange: try scanOfEmptyRange()
        case .batchAppliesInOrder: try batchAppliesInOrder()
        case .batchIsAtomicToReaders: try batchIsAtomicToReaders()
        case .syncSucceeds: try syncSucceeds()
        case .statsCountKeysAndBytes: try statsCountKeysAndBytes()
        case .snapshotRestoreReturnsToRecordedState: try snapshotRestoreReturnsToRecordedState()
        case .snapshotNamesAreChecked: try snapshotNamesAreChecked()
        case .useAfterCloseThrowsClosed: try useAfterCloseThrowsClosed()
        case .concurrentWritersAndReaders: try concurrentWritersAndReaders()
        case .randomizedAgainstModel: try randomizedAgainstModel()
        case .reopenKeepsData: try reopenKeepsData()
        case .volatileEngineReopensEmpty: try volatileEngineReopensEmpty()
        }
    }

    /// Whether the engine has atomic multi-key batches; one without them (s3) must refuse every
    /// non-empty batch, and the checks that are not about batches apply the batch's ops one by one.
    var hasAtomicBatches: Bool { harness.kind.capabilities.contains(.atomicBatches) }

    /// Writes `batch` atomically where the engine can; otherwise checks the refusal and applies the
    /// operations in order, one call each.
    func apply(_ e: Engine, _ batch: WriteBatch) throws {
        if hasAtomicBatches || batch.isEmpty { return try e.write(batch) }
        expectCode(.unsupported, "write(batch) without atomic batches") { try e.write(batch) }
        try batch.forEach { op, k, v in
            if op == .put { try e.put(k, v) } else { try e.delete(k) }
        }
    }

    /// Opens a fresh engine, runs `body`, closes it unless `body` did.
    func withEngine(_ body: (Engine) throws -> Void) throws {
        let engine = try harness.open()
        defer { try? engine.close() }
        try body(engine)
    }

    /// Every entry, in scan order.
    func all(_ e: Engine) throws -> [(key: [UInt8], value: [UInt8])] { try e.scan(from: nil, to: nil) }
    func keys(_ e: Engine, from: [UInt8]? = nil, to: [UInt8]? = nil, limit: Int = 0) throws -> [[UInt8]] {
        try e.scan(from: from, to: to, limit: limit).map(\.key)
    }

    // MARK: Point operations

    func putThenGet() throws {
        try withEngine { e in
            try e.put(b("alpha"), b("1"))
            try e.put(b("beta"), b("2"))
            #expect(try e.get(b("alpha")) == b("1"))
            #expect(try e.get(b("beta")) == b("2"))
            // The zero-copy accessors agree with the [UInt8] conveniences.
            var buffer: [UInt8] = [9, 9, 9]
            let found = try b("beta").withUnsafeBytes { try e.get($0, into: &buffer) }
            #expect(found && buffer == b("2"))
        }
    }

    func deleteRemovesKey() throws {
        try withEngine { e in
            try e.put(b("k1"), b("v1"))
            try e.put(b("k2"), b("v2"))
            try e.delete(b("k1"))
            #expect(try e.get(b("k1")) == nil)
            #expect(try e.get(b("k2")) == b("v2"))
            #expect(try keys(e) == [b("k2")])
            // Deleting an absent key (never written, or already deleted) is not an error.
            try e.delete(b("never-written"))
            try e.delete(b("k1"))
            #expect(try keys(e) == [b("k2")])
            // A deleted key can be written again.
            try e.put(b("k1"), b("again"))
            #expect(try e.get(b("k1")) == b("again"))
        }
    }

    func overwriteReplacesValue() throws {
        try withEngine { e in
            try e.put(b("k"), b("first"))
            try e.put(b("k"), b("a much longer second value"))
            #expect(try e.get(b("k")) == b("a much longer second value"))
            try e.put(b("k"), b("3rd"))
            #expect(try e.get(b("k")) == b("3rd"))
            try e.put(b("k"), b("4th"))  // same length
            #expect(try e.get(b("k")) == b("4th"))
            #expect(try all(e).count == 1)
        }
    }

    func missingKeyIsNil() throws {
        try withEngine { e in
            #expect(try e.get(b("nothing")) == nil)
            try e.put(b("something"), b("x"))
            #expect(try e.get(b("somethin")) == nil)
            #expect(try e.get(b("something\0")) == nil)
            // The closure form is called exactly once, with nil.
            var calls = 0
            let sawNil = try b("nothing").withUnsafeBytes { k in try e.get(k) { v -> Bool in calls += 1; return v == nil } }
            #expect(sawNil && calls == 1)
        }
    }

    func emptyKeyIsAKey() throws {
        try withEngine { e in
            #expect(try e.get([]) == nil)
            try e.put([], b("empty-key value"))
            try e.put(b("a"), b("a value"))
            #expect(try e.get([]) == b("empty-key value"))
            // The empty key sorts first.
            #expect(try keys(e) == [[], b("a")])
            #expect(try keys(e, from: [], to: b("a")) == [[]])
            try e.delete([])
            #expect(try e.get([]) == nil)
            #expect(try keys(e) == [b("a")])
        }
    }

    func emptyValueIsNotAbsence() throws {
        try withEngine { e in
            try e.put(b("k"), [])
            #expect(try e.get(b("k")) == [])
            let present = try b("k").withUnsafeBytes { k in try e.get(k) { v in v.map { $0.count == 0 } ?? false } }
            #expect(present, "an empty value must reach the closure as an empty buffer, not nil")
            #expect(try e.scan(from: nil, to: nil).map(\.value) == [[]])
            try e.put(b("k"), b("now something"))
            try e.put(b("k"), [])
            #expect(try e.get(b("k")) == [])
        }
    }

    func oneMebibyteValueRoundTrips() throws {
        var rng = SeededRNG(seed: 0x1_0000)
        let big = rng.bytes(1 << 20)
        try withEngine { e in
            try e.put(b("small-before"), b("s"))
            try e.put(b("big"), big)
            try e.put(b("small-after"), b("t"))
            #expect(try e.get(b("big")) == big)
            let scanned = try e.scan(from: b("big"), to: b("big\0"))
            #expect(scanned.count == 1 && scanned.first?.value == big)
            // Shrinking and growing it again.
            try e.put(b("big"), b("tiny"))
            #expect(try e.get(b("big")) == b("tiny"))
            try e.put(b("big"), big)
            #expect(try e.get(b("big")) == big)
            #expect(try e.get(b("small-before")) == b("s"))
            #expect(try e.get(b("small-after")) == b("t"))
        }
    }

    func binaryKeysWithZeroAndFFBytes() throws {
        let keys: [[UInt8]] = [
            [0x00], [0x00, 0x00], [0x00, 0x01], [0x01, 0x00], [0xFF], [0xFF, 0xFF], [0xFF, 0x00],
            [0x7F, 0x80], [0x80], Array(repeating: 0xFF, count: 40), Array(repeating: 0x00, count: 40),
            [0x61, 0x00, 0x62], [0x61, 0x00, 0x63],
        ]
        try withEngine { e in
            for (i, k) in keys.enumerated() { try e.put(k, [UInt8(i), 0x00, 0xFF]) }
            for (i, k) in keys.enumerated() {
                #expect(try e.get(k) == [UInt8(i), 0x00, 0xFF], "key \(describeBytes(k))")
            }
            let expected = keys.sorted { compareBytes($0, $1) < 0 }
            let got = try self.keys(e)
            #expect(got == expected, "got \(show(got))")
        }
    }

    // MARK: Scans

    /// Keys inserted out of order come back in memcmp order: bytes compared unsigned, and a key
    /// before every longer key it is a prefix of.
    func scanIsInMemcmpOrder() throws {
        let expected: [[UInt8]] = [
            [], b("a"), b("a\0"), b("a\0\0"), b("a\u{1}"), b("aa"), b("ab"), b("abcdefgh"), b("abcdefgh\0"),
            b("abcdefghi"), b("abcdefgi"), b("b"), [0x7F], [0x80], [0xFE, 0xFF], [0xFF], [0xFF, 0x00], [0xFF, 0xFF],
        ]
        var rng = SeededRNG(seed: 7)
        try withEngine { e in
            for k in expected.shuffled(using: &rng) { try e.put(k, k) }
            let got = try all(e)
            #expect(got.map(\.key) == expected, "got \(show(got.map(\.key)))")
            #expect(got.allSatisfy { $0.key == $0.value })
        }
    }

    func scanBoundsAreHalfOpen() throws {
        try withEngine { e in
            for k in ["a", "b", "c", "d", "e"] { try e.put(b(k), b(k.uppercased())) }
            // [start, end): start included, end excluded.
            #expect(try keys(e, from: b("b"), to: b("d")) == [b("b"), b("c")])
            // Bounds that are not keys.
            #expect(try keys(e, from: b("a\0"), to: b("c\0")) == [b("b"), b("c")])
            #expect(try keys(e, from: b("bb"), to: b("dd")) == [b("c"), b("d")])
            // The end bound's prefix relation: "d" < "d\0", so "d" is inside [.., "d\0").
            #expect(try keys(e, from: b("c"), to: b("d\0")) == [b("c"), b("d")])
            // Values come with their keys.
            #expect(try e.scan(from: b("e"), to: b("f")).map(\.value) == [b("E")])
            // Bounds outside the data.
            #expect(try keys(e, from: [], to: [0xFF]) == ["a", "b", "c", "d", "e"].map(b))
        }
    }

    func scanWithNilBounds() throws {
        try withEngine { e in
            for k in ["a", "b", "c"] { try e.put(b(k), b(k)) }
            #expect(try keys(e, from: nil, to: nil) == [b("a"), b("b"), b("c")])
            #expect(try keys(e, from: b("b"), to: nil) == [b("b"), b("c")])
            #expect(try keys(e, from: nil, to: b("b")) == [b("a")])
        }
    }

    func scanLimit() throws {
        try withEngine { e in
            for i in 0..<10 { try e.put([UInt8(i)], [UInt8(i)]) }
            #expect(try keys(e, limit: 3) == [[0], [1], [2]])
            #expect(try keys(e, from: [5], to: nil, limit: 2) == [[5], [6]])
            #expect(try keys(e, from: [8], to: nil, limit: 5) == [[8], [9]])
            #expect(try keys(e, limit: 0).count == 10)   // 0: no limit
            #expect(try keys(e, limit: -1).count == 10)  // negative: no limit
            // The returned count is the number of entries visited.
            let n = try e.scan(from: nil, to: nil, limit: 4) { _, _ in true }
            #expect(n == 4)
        }
    }

    func scanStopsWhenVisitorSaysSo() throws {
        try withEngine { e in
            for i in 0..<10 { try e.put([UInt8(i)], []) }
            var seen: [[UInt8]] = []
            let n = try e.scan(from: nil, to: nil, limit: 0) { k, _ in
                seen.append([UInt8](k))
                return seen.count < 3
            }
            // The entry on which the visitor returned false was visited (and counted); none after it.
            #expect(seen == [[0], [1], [2]])
            #expect(n == 3)
            // A visitor that throws ends the scan with its error.
            var calls = 0
            #expect(throws: VisitorStop.self) {
                try e.scan(from: nil, to: nil, limit: 0) { _, _ in
                    calls += 1
                    throw VisitorStop()
                }
            }
            #expect(calls == 1)
        }
    }

    func scanOfEmptyRange() throws {
        try withEngine { e in
            // An empty store.
            #expect(try keys(e).isEmpty)
            #expect(try e.scan(from: nil, to: nil, limit: 0) { _, _ in true } == 0)
            for k in ["b", "d"] { try e.put(b(k), b(k)) }
            #expect(try keys(e, from: b("b"), to: b("b")).isEmpty)  // start == end
            #expect(try keys(e, from: b("d"), to: b("b")).isEmpty)  // start > end
            #expect(try keys(e, from: b("c"), to: b("d")).isEmpty)  // a gap between keys
            #expect(try keys(e, from: b("e"), to: nil).isEmpty)     // past the last key
            #expect(try keys(e, from: nil, to: b("b")).isEmpty)     // before the first key
        }
    }

    // MARK: Batches

    func batchAppliesInOrder() throws {
        try withEngine { e in
            try e.put(b("keep"), b("old"))
            try e.put(b("doomed"), b("x"))
            var batch = WriteBatch()
            batch.put(b("a"), b("1"))
            batch.put(b("b"), b("2"))
            batch.delete(b("doomed"))
            batch.put(b("keep"), b("new"))
            batch.put(b("put-then-delete"), b("gone"))
            batch.delete(b("put-then-delete"))
            batch.delete(b("delete-then-put"))
            batch.put(b("delete-then-put"), b("here"))
            batch.put(b("twice"), b("first"))
            batch.put(b("twice"), b("second"))
            batch.delete(b("never-existed"))
            try apply(e, batch)
            let want: [(String, String)] = [("a", "1"), ("b", "2"), ("delete-then-put", "here"), ("keep", "new"), ("twice", "second")]
            let got = try all(e)
            #expect(got.map(\.key) == want.map { b($0.0) }, "got \(show(got.map(\.key)))")
            #expect(got.map(\.value) == want.map { b($0.1) })
            // An empty batch is accepted and changes nothing.
            try apply(e, WriteBatch())
            #expect(try all(e).count == want.count)
            // A batch can be reused after removeAll().
            batch.removeAll()
            batch.delete(b("a"))
            try apply(e, batch)
            #expect(try e.get(b("a")) == nil)
            #expect(try e.get(b("b")) == b("2"))
        }
    }

    /// A writer applies batches that set ten keys to one version number; readers scanning the ten
    /// keys (one scan sees one state) must never see two versions at once.
    func batchIsAtomicToReaders() throws {
        guard hasAtomicBatches else {
            return try withEngine { e in
                var batch = WriteBatch()
                batch.put(b("a"), b("1"))
                expectCode(.unsupported, "write(batch) without atomic batches") { try e.write(batch) }
                let got = try e.get(b("a"))
                #expect(got == nil, "a refused batch wrote nothing")
            }
        }
        try withEngine { e in
            let keys = (0..<10).map { b("atomic-\($0)") }
            @Sendable func setAll(_ version: UInt32) throws {
                var batch = WriteBatch()
                for k in keys { batch.put(k, withUnsafeBytes(of: version.littleEndian) { Array($0) }) }
                try apply(e, batch)
            }
            try setAll(0)
            let done = Atomic<Bool>(false)
            try runOnThreads(3) { thread in
                if thread == 0 {
                    defer { done.store(true, ordering: .releasing) }
                    for v in 1...300 { try setAll(UInt32(v)) }
                } else {
                    var scans = 0
                    while !done.load(ordering: .acquiring) || scans < 10 {
                        let values = try e.scan(from: b("atomic-"), to: b("atomic."), limit: 0).map(\.value)
                        try ensure(values.count == keys.count && Set(values).count == 1,
                                   "a scan saw a half-applied batch: \(values.map { describeBytes($0) })")
                        scans += 1
                    }
                }
            }
            #expect(try e.get(keys[9]) == withUnsafeBytes(of: UInt32(300).littleEndian) { Array($0) })
        }
    }

    // MARK: Durability and lifecycle

    func syncSucceeds() throws {
        try withEngine { e in
            try e.sync()  // nothing written yet
            try e.put(b("k"), b("v"))
            try e.sync()
            #expect(try e.get(b("k")) == b("v"))
        }
        // And under every durability mode the engine accepts.
        for mode in [DurabilityMode.everyWrite, .group, .periodic(milliseconds: 50)] {
            let e = try harness.open(durability: mode)
            defer { try? e.close() }
            #expect(e.durability == mode)
            try e.put(b("k-\(mode)"), b("v"))
            try e.sync()
            #expect(try e.get(b("k-\(mode)")) == b("v"))
        }
    }

    func reopenKeepsData() throws {
        var e = try harness.open()
        defer { try? e.close() }
        var batch = WriteBatch()
        for i in 0..<100 { batch.put(b("key-\(i)"), b("value-\(i)")) }
        try apply(e, batch)
        try e.put([], b("empty key"))
        try e.put(b("empty value"), [])
        try e.delete(b("key-50"))
        try e.put(b("key-7"), b("overwritten"))
        let before = try all(e)
        e = try harness.reopen(e)
        let after = try all(e)
        #expect(after.map(\.key) == before.map(\.key))
        #expect(after.map(\.value) == before.map(\.value))
        #expect(try e.get(b("key-50")) == nil)
        #expect(try e.get(b("key-7")) == b("overwritten"))
        // And again after a sync and a second reopen.
        try e.sync()
        e = try harness.reopen(e)
        #expect(try all(e).count == before.count)
    }

    func volatileEngineReopensEmpty() throws {
        var e = try harness.open()
        defer { try? e.close() }
        #expect(type(of: e).durabilityPromise(for: e.durability).survives == .nothing)
        #expect(e.dataDirectory == nil)
        try e.put(b("k"), b("v"))
        try e.sync()
        e = try harness.reopen(e)
        #expect(try all(e).isEmpty)
    }

    func statsCountKeysAndBytes() throws {
        try withEngine { e in
            let empty = try e.stats()
            #expect(empty.totalKeys == 0)
            var keyBytes = 0, valueBytes = 0
            for i in 0..<200 {
                let k = b("stats-key-\(i)"), v = [UInt8](repeating: UInt8(i & 0xFF), count: i % 50)
                try e.put(k, v)
                keyBytes += k.count
                valueBytes += v.count
            }
            let s = try e.stats()
            if s.totalKeysIsEstimate {
                // Estimates (RocksDB's estimate-num-keys counts memtable entries, overwrites and
                // deletes included): 200 distinct puts and nothing else must read as about 200.
                #expect(s.totalKeys >= 100 && s.totalKeys <= 400, "estimate \(s.totalKeys) for 200 keys")
            } else {
                #expect(s.totalKeys == 200)
                #expect(s.totalSizeBytes == UInt64(keyBytes + valueBytes))
                #expect(s.averageKeySize == UInt64(keyBytes / 200))
                #expect(s.averageValueSize == UInt64(valueBytes / 200))
                // Overwrites and deletes keep the exact counts exact.
                try e.put(b("stats-key-0"), b("0123456789"))
                try e.delete(b("stats-key-1"))
                try e.delete(b("stats-key-1"))
                let t = try e.stats()
                #expect(t.totalKeys == 199)
                #expect(t.totalSizeBytes == UInt64(keyBytes + valueBytes + 10 - b("stats-key-1").count - 1))
            }
            #expect(s.memoryUsageBytes > 0 || e.dataDirectory != nil, "an in-memory engine holds its data in memory")
            if e.dataDirectory == nil {
                #expect(s.memoryUsageBytes >= UInt64(keyBytes + valueBytes), "memory estimate below the bytes stored")
            }
        }
    }

    // MARK: Snapshots

    /// Whether the engine has snapshots; one without them (the servers) must refuse every snapshot
    /// call with `.unsupported`, so `kv snapshot` says why.
    var hasSnapshots: Bool { harness.kind.capabilities.contains(.snapshots) }

    func snapshotsAreRefused() throws {
        try withEngine { e in
            expectCode(.unsupported, "createSnapshot without snapshots") { try e.createSnapshot(named: "s") }
            expectCode(.unsupported, "restoreSnapshot without snapshots") { try e.restoreSnapshot(named: "s") }
            expectCode(.unsupported, "listSnapshots without snapshots") { _ = try e.listSnapshots() }
            expectCode(.unsupported, "dropSnapshot without snapshots") { try e.dropSnapshot(named: "s") }
        }
    }

    func snapshotRestoreReturnsToRecordedState() throws {
        guard hasSnapshots else { return try snapshotsAreRefused() }
        try withEngine { e in
            for i in 0..<50 { try e.put(b("s-\(i)"), b("v1-\(i)")) }
            let recorded = try all(e)
            try e.createSnapshot(named: "first")
            #expect(try e.listSnapshots() == ["first"])
            // Change everything kinds of ways.
            for i in 0..<10 { try e.put(b("s-\(i)"), b("v2-\(i)")) }
            for i in 10..<20 { try e.delete(b("s-\(i)")) }
            for i in 50..<60 { try e.put(b("s-\(i)"), b("new")) }
            var batch = WriteBatch()
            batch.put([], b("empty"))
            try apply(e, batch)
            let changed = try all(e)
            #expect(changed.count == 51)

            try e.createSnapshot(named: "second")
            #expect(Set(try e.listSnapshots()) == ["first", "second"])

            try e.restoreSnapshot(named: "first")
            var now = try all(e)
            #expect(now.map(\.key) == recorded.map(\.key))
            #expect(now.map(\.value) == recorded.map(\.value))

            // Writes after a restore do not change the snapshot: restoring again undoes them.
            try e.put(b("s-0"), b("after restore"))
            try e.delete(b("s-1"))
            try e.restoreSnapshot(named: "first")
            now = try all(e)
            #expect(now.map(\.value) == recorded.map(\.value))

            try e.restoreSnapshot(named: "second")
            now = try all(e)
            #expect(now.map(\.key) == changed.map(\.key))
            #expect(now.map(\.value) == changed.map(\.value))

            try e.dropSnapshot(named: "first")
            #expect(try e.listSnapshots() == ["second"])
            #expect(try all(e).count == changed.count, "dropping a snapshot must not touch the store")
            try e.dropSnapshot(named: "second")
            #expect(try e.listSnapshots().isEmpty)
            // A dropped name can be used again.
            try e.createSnapshot(named: "first")
            #expect(try e.listSnapshots() == ["first"])
        }
    }

    func snapshotNamesAreChecked() throws {
        guard hasSnapshots else { return try snapshotsAreRefused() }
        try withEngine { e in
            for bad in ["", "a/b", "..", ".", "has space", "semi;colon", String(repeating: "x", count: 129)] {
                expectCode(.invalidArgument, "name '\(bad)'") { try e.createSnapshot(named: bad) }
            }
            try e.createSnapshot(named: "ok-1.2_3")
            expectCode(.invalidArgument, "duplicate name") { try e.createSnapshot(named: "ok-1.2_3") }
            expectCode(.notFound, "restore of a missing snapshot") { try e.restoreSnapshot(named: "missing") }
            expectCode(.notFound, "drop of a missing snapshot") { try e.dropSnapshot(named: "missing") }
            #expect(try e.listSnapshots() == ["ok-1.2_3"])
        }
    }

    func useAfterCloseThrowsClosed() throws {
        let e = try harness.open()
        try e.put(b("k"), b("v"))
        if hasSnapshots { try e.createSnapshot(named: "s") }
        try e.close()
        expectCode(.closed, "put") { try e.put(b("k"), b("v")) }
        expectCode(.closed, "get") { _ = try e.get(b("k")) }
        expectCode(.closed, "delete") { try e.delete(b("k")) }
        var batch = WriteBatch()
        batch.put(b("k"), b("v"))
        expectCode(.closed, "write") { try e.write(batch) }
        expectCode(.closed, "scan") { _ = try e.scan(from: nil, to: nil) }
        expectCode(.closed, "sync") { try e.sync() }
        expectCode(.closed, "stats") { _ = try e.stats() }
        expectCode(.closed, "createSnapshot") { try e.createSnapshot(named: "t") }
        expectCode(.closed, "restoreSnapshot") { try e.restoreSnapshot(named: "s") }
        expectCode(.closed, "listSnapshots") { _ = try e.listSnapshots() }
        expectCode(.closed, "dropSnapshot") { try e.dropSnapshot(named: "s") }
    }

    // MARK: Concurrency

    /// Four threads each write their own keys (singly and in batches) and read them back, while
    /// scanning everything; afterwards every key is there with its value.
    func concurrentWritersAndReaders() throws {
        let perThread = 500 / harness.kind.testStepDivisor
        try withEngine { e in
            try runOnThreads(4) { t in
                var batch = WriteBatch()
                for i in 0..<perThread {
                    let k = b("t\(t)-\(i)"), v = b("value-\(t)-\(i)")
                    if i % 5 == 0 {
                        batch.put(k, v)
                        if batch.count == 10 { try apply(e, batch); batch.removeAll() }
                    } else {
                        try e.put(k, v)
                        try ensure(try e.get(k) == v, "thread \(t) read back \(describeBytes(k))")
                    }
                    if i % 100 == 0 {
                        // Scans see a consistent order while others write.
                        let ks = try e.scan(from: nil, to: nil, limit: 200).map(\.key)
                        try ensure(zip(ks, ks.dropFirst()).allSatisfy { compareBytes($0, $1) < 0 }, "scan out of order")
                    }
                    if i % 50 == 0 { try e.delete(b("t\(t)-scratch")) }
                }
                if !batch.isEmpty { try apply(e, batch) }
            }
            for t in 0..<4 {
                for i in 0..<perThread {
                    let k = b("t\(t)-\(i)")
                    #expect(try e.get(k) == b("value-\(t)-\(i)"), "missing \(describeBytes(k))")
                }
            }
            #expect(try all(e).count == 4 * perThread)
        }
    }

    // MARK: Randomized, against a model

    /// A seeded random sequence of puts, deletes, batches, gets, scans, snapshots and (for
    /// persistent engines) reopens, checked step by step against a sorted in-memory model.
    ///
    /// Phases: growth (mostly puts, to several thousand keys so B-tree-like engines split into
    /// several levels), churn (everything mixed), shrink (mostly deletes, so they merge and lose
    /// levels). Keys come from a fixed universe built to stress ordering: shared prefixes longer
    /// than 8 bytes, prefix pairs, 0x00 and 0xFF bytes, the empty key.
    func randomizedAgainstModel() throws {
        let seed = TestSeed.pick("randomizedAgainstModel[\(harness.kind)]", default: 0x5EED_0001)
        var rng = SeededRNG(seed: seed)
        var model = Model()
        var snapshots: [String: Model] = [:]
        let universe = Self.keyUniverse(&rng, count: 6000)
        var e = try harness.open()
        defer { try? e.close() }

        func at(_ step: Int, _ what: String) -> Comment { "seed \(seed) step \(step) (\(harness.kind)): \(what)" }
        func randomKey() -> [UInt8] { universe[Int.random(in: 0..<universe.count, using: &rng)] }
        func randomValue() -> [UInt8] {
            let n = rng.next() % 20 == 0 ? Int.random(in: 0...4096, using: &rng) : Int.random(in: 0...40, using: &rng)
            return rng.bytes(n)
        }
        func randomBound() -> [UInt8]? {
            switch rng.next() % 4 {
            case 0: nil
            case 1: rng.bytes(Int.random(in: 0...3, using: &rng))
            default: randomKey()
            }
        }
        func checkAll(_ step: Int, _ what: String) throws {
            let got = try all(e)
            try #require(got.count == model.count, at(step, "\(what): \(got.count) entries, model has \(model.count)"))
            for (i, entry) in got.enumerated() {
                try #require(entry.key == model.keys[i], at(step, "\(what): entry \(i) key \(describeBytes(entry.key)), model \(describeBytes(model.keys[i]))"))
                try #require(entry.value == model.map[entry.key], at(step, "\(what): value of \(describeBytes(entry.key))"))
            }
            let stats = try e.stats()
            if !stats.totalKeysIsEstimate {
                try #require(stats.totalKeys == UInt64(model.count), at(step, "\(what): stats.totalKeys \(stats.totalKeys)"))
                try #require(stats.totalSizeBytes == UInt64(model.bytes), at(step, "\(what): stats.totalSizeBytes"))
            }
        }

        // Percentages of steps that put, delete and write a batch; the rest read, and now and then
        // snapshot, restore (churn only, so growth and shrink run their course) or reopen.
        let d = harness.kind.testStepDivisor
        let phases: [(name: String, steps: Int, put: Int, delete: Int, batch: Int, restores: Bool)] = [
            ("growth", 2500 / d, 40, 2, 40, false),
            ("churn", 3000 / d, 25, 20, 15, true),
            ("shrink", 1500 / d, 3, 57, 30, false),
        ]
        var step = 0
        for phase in phases {
            for _ in 0..<phase.steps {
                step += 1
                let roll = Int(rng.next() % 100)
                var threshold = phase.put
                if roll < threshold {
                    let k = randomKey(), v = randomValue()
                    try e.put(k, v)
                    model.put(k, v)
                    continue
                }
                threshold += phase.delete
                if roll < threshold {
                    // Delete near the model's keys so deletes mostly hit.
                    let k = model.count > 0 && rng.next() % 4 != 0 ? model.keys[Int.random(in: 0..<model.count, using: &rng)] : randomKey()
                    try e.delete(k)
                    model.delete(k)
                    continue
                }
                threshold += phase.batch
                if roll < threshold {
                    var batch = WriteBatch()
                    let n = Int.random(in: 0...40, using: &rng)
                    let deleteShare = phase.delete > phase.put ? 80 : 30
                    for _ in 0..<n {
                        if Int(rng.next() % 100) < deleteShare {
                            let k = model.count > 0 && rng.next() % 3 != 0 ? model.keys[Int.random(in: 0..<model.count, using: &rng)] : randomKey()
                            batch.delete(k)
                            model.delete(k)
                        } else {
                            let k = randomKey(), v = randomValue()
                            batch.put(k, v)
                            model.put(k, v)
                        }
                    }
                    try apply(e, batch)
                    continue
                }
                // The rest: reads, and now and then a snapshot, a restore or a reopen.
                switch rng.next() % 100 {
                case 0..<45:
                    let k = rng.next() % 3 == 0 || model.count == 0 ? randomKey() : model.keys[Int.random(in: 0..<model.count, using: &rng)]
                    let got = try e.get(k)
                    try #require(got == model.map[k], at(step, "get \(describeBytes(k))"))
                case 45..<90:
                    var lo = randomBound(), hi = randomBound()
                    if let l = lo, let h = hi, compareBytes(l, h) > 0, rng.next() % 4 != 0 { swap(&lo, &hi) }
                    let limit = rng.next() % 3 == 0 ? 0 : Int.random(in: 1...30, using: &rng)
                    let got = try e.scan(from: lo, to: hi, limit: limit)
                    let want = model.range(lo, hi, limit: limit)
                    let what = "scan [\(lo.map { describeBytes($0) } ?? "nil"), \(hi.map { describeBytes($0) } ?? "nil")) limit \(limit)"
                    try #require(got.map(\.key) == want, at(step, "\(what): got \(show(got.map(\.key))), want \(show(want))"))
                    for entry in got {
                        try #require(entry.value == model.map[entry.key], at(step, "\(what): value of \(describeBytes(entry.key))"))
                    }
                case 90..<96 where !hasSnapshots:
                    continue
                case 90..<93:
                    let name = "snap-\(Int(rng.next() % 4))"
                    if snapshots[name] == nil {
                        try e.createSnapshot(named: name)
                        snapshots[name] = model
                    } else {
                        try e.dropSnapshot(named: name)
                        snapshots[name] = nil
                    }
                    try #require(Set(try e.listSnapshots()) == Set(snapshots.keys), at(step, "listSnapshots"))
                case 93..<96:
                    if phase.restores, let name = snapshots.keys.sorted().randomElement(using: &rng) {
                        try e.restoreSnapshot(named: name)
                        model = snapshots[name]!
                        try checkAll(step, "after restore of \(name)")
                    }
                default:
                    if harness.isPersistent {
                        e = try harness.reopen(e)
                        try checkAll(step, "after reopen")
                    } else {
                        try checkAll(step, "full check")
                    }
                }
            }
            try checkAll(step, "end of \(phase.name) phase")
            print("[model] \(harness.kind) \(phase.name): \(model.count) keys, height \(try e.stats().treeHeight.map(String.init) ?? "-")")
        }
        // Drain: delete every remaining key, in random order, in batches.
        var batch = WriteBatch()
        for k in model.keys.shuffled(using: &rng) {
            batch.delete(k)
            if batch.count == 100 { try apply(e, batch); batch.removeAll() }
        }
        try apply(e, batch)
        model = Model()
        try checkAll(step, "after deleting everything")
        try e.put(b("after-drain"), b("v"))
        #expect(try e.get(b("after-drain")) == b("v"), at(step, "put after drain"))
    }

    /// `count` distinct keys made to stress ordering.
    static func keyUniverse(_ rng: inout SeededRNG, count: Int) -> [[UInt8]] {
        let stems: [[UInt8]] = [[], b("a"), b("user0000"), b("user00001234"), [0x00], [0x00, 0x00], [0xFF], [0xFF, 0xFF, 0xFF], b("k")]
        let alphabet: [UInt8] = [0x00, 0x01, 0x30, 0x31, 0x61, 0x62, 0x7F, 0x80, 0xFE, 0xFF]
        var seen = Set<[UInt8]>()
        var keys: [[UInt8]] = []
        while keys.count < count {
            var k = stems[Int.random(in: 0..<stems.count, using: &rng)]
            let n = Int.random(in: 0...12, using: &rng)
            let binary = rng.next() % 2 == 0
            for _ in 0..<n {
                k.append(binary ? alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] : UInt8(truncatingIfNeeded: rng.next()))
            }
            if seen.insert(k).inserted { keys.append(k) }
        }
        return keys
    }
}

/// The oracle of the randomized test: a dictionary plus its keys kept sorted in memcmp order.
struct Model {
    var map: [[UInt8]: [UInt8]] = [:]
    var keys: [[UInt8]] = []
    /// Sum of key and value lengths.
    var bytes = 0

    var count: Int { keys.count }

    /// Index of the first key >= `key`.
    func lowerBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareBytes(keys[mid], key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        if let old = map.updateValue(value, forKey: key) {
            bytes += value.count - old.count
        } else {
            keys.insert(key, at: lowerBound(key))
            bytes += key.count + value.count
        }
    }

    mutating func delete(_ key: [UInt8]) {
        guard let old = map.removeValue(forKey: key) else { return }
        keys.remove(at: lowerBound(key))
        bytes -= key.count + old.count
    }

    /// Keys of [start, end), at most `limit` (<= 0: all).
    func range(_ start: [UInt8]?, _ end: [UInt8]?, limit: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = start.map(lowerBound) ?? 0
        while i < keys.count {
            if let end, compareBytes(keys[i], end) >= 0 { break }
            out.append(keys[i])
            if limit > 0 && out.count >= limit { break }
            i += 1
        }
        return out
    }
}

/// Expects `body` to throw an `OrbitError` with `code`.
func expectCode(_ code: OrbitError.Code, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): expected OrbitError(.\(code)), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as OrbitError {
        #expect(error.code == code, "\(what): expected .\(code), got \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): expected OrbitError(.\(code)), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A failed check on a thread other than the test's (where `#expect` cannot attribute the issue to
/// the test): thrown, and rethrown by `runOnThreads` on the test's thread.
struct CheckFailed: Error, CustomStringConvertible {
    let description: String
}

func ensure(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailed(description: message()) }
}

struct VisitorStop: Error {}

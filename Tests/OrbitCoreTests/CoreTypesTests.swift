import OrbitCore
import Testing

@Suite struct WriteBatchTests {
    private func entries(_ batch: WriteBatch) -> [(WriteBatch.Operation, [UInt8], [UInt8])] {
        var out: [(WriteBatch.Operation, [UInt8], [UInt8])] = []
        batch.forEach { op, k, v in out.append((op, [UInt8](k), [UInt8](v))) }
        return out
    }

    @Test func roundTripsThroughForEachInOrder() {
        var batch = WriteBatch()
        #expect(batch.isEmpty)
        batch.put([1, 2, 3], [4, 5])
        batch.delete([9])
        batch.put([], [])                                   // empty key and value are valid
        batch.put([0xFF], [UInt8](repeating: 7, count: 1000))
        batch.delete([])
        #expect(batch.count == 5)
        #expect(!batch.isEmpty)
        #expect(batch.byteCount == 5 * 9 + 3 + 2 + 1 + 1 + 1000)

        let got = entries(batch)
        #expect(got.map(\.0) == [.put, .delete, .put, .put, .delete])
        #expect(got.map(\.1) == [[1, 2, 3], [9], [], [0xFF], []])
        #expect(got.map(\.2) == [[4, 5], [], [], [UInt8](repeating: 7, count: 1000), []])
    }

    @Test func removeAllEmptiesAndTheBatchIsReusable() {
        var batch = WriteBatch(reservingCapacity: 64)
        batch.put([1], [2])
        batch.removeAll()
        #expect(batch.isEmpty)
        #expect(batch.byteCount == 0)
        #expect(entries(batch).isEmpty)
        batch.delete([3])
        #expect(entries(batch).map(\.1) == [[3]])
    }

    @Test func forEachRethrows() {
        var batch = WriteBatch()
        batch.put([1], [1])
        batch.put([2], [2])
        struct Stop: Error {}
        var visited = 0
        #expect(throws: Stop.self) {
            try batch.forEach { _, _, _ in
                visited += 1
                throw Stop()
            }
        }
        #expect(visited == 1)
    }
}

@Suite struct DurabilityModeTests {
    @Test(arguments: [
        ("none", DurabilityMode.none),
        ("NONE", .none),
        ("every-write", .everyWrite),
        ("every_write", .everyWrite),
        ("everywrite", .everyWrite),
        ("Every-Write", .everyWrite),
        ("sync", .everyWrite),
        ("group", .group),
        ("periodic", .periodic(milliseconds: DurabilityMode.defaultPeriodMillis)),
        ("periodic:250", .periodic(milliseconds: 250)),
        ("periodic:1", .periodic(milliseconds: 1)),
        ("periodic:60000", .periodic(milliseconds: 60_000)),
        ("periodic(250ms)", .periodic(milliseconds: 250)),
        ("periodic(250)", .periodic(milliseconds: 250)),
        ("PERIODIC(5MS)", .periodic(milliseconds: 5)),
    ])
    func parsesEverySpelling(text: String, mode: DurabilityMode) {
        #expect(DurabilityMode(parsing: text) == mode)
    }

    @Test(arguments: [
        "", "always", "every write", "periodic:", "periodic:0", "periodic:60001", "periodic:-5",
        "periodic:abc", "periodic(250", "periodic(ms)", "periodic:250ms", "group:5", "none ",
    ])
    func rejectsBadSpellings(text: String) {
        #expect(DurabilityMode(parsing: text) == nil)
    }

    @Test func descriptionParsesBackToTheSameMode() {
        let modes: [DurabilityMode] = [.none, .everyWrite, .group, .periodic(milliseconds: 100), .periodic(milliseconds: 7)]
        for mode in modes {
            #expect(DurabilityMode(parsing: mode.description) == mode)
        }
        #expect(DurabilityMode.periodic(milliseconds: 100).description == "periodic")
        #expect(DurabilityMode.periodic(milliseconds: 7).description == "periodic:7")
        #expect(DurabilityMode.everyWrite.syncsBeforeAck)
        #expect(DurabilityMode.group.syncsBeforeAck)
        #expect(!DurabilityMode.none.syncsBeforeAck)
        #expect(!DurabilityMode.periodic(milliseconds: 5).syncsBeforeAck)
    }
}

@Suite struct FormatDoubleTests {
    @Test(arguments: [
        (0.0, "0"),
        (1.0, "1"),
        (100.0, "100"),
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.3"),
        (1.23456, "1.2346"),
        (0.0001, "0.0001"),
        (0.00004, "0"),
        (-0.00001, "0"),           // rounds to zero: no "-0"
        (12345.678, "12345.678"),
        (Double.nan, "nan"),
        (Double.infinity, "inf"),
        (-Double.infinity, "-inf"),
    ])
    func formatsWithFourDecimals(value: Double, expected: String) {
        #expect(formatDouble(value) == expected)
    }

    @Test func honoursDecimalsAndFallsBackForHugeValues() {
        #expect(formatDouble(1.23456789, decimals: 6) == "1.234568")
        #expect(formatDouble(2.5, decimals: 0) == "3")
        #expect(formatDouble(0.5, decimals: 2) == "0.5")
        #expect(formatDouble(1e20) == String(1e20))
    }
}

@testable import LSMTree
import OrbitCore
import OrbitTestSupport
import Testing

/// Formats only development builds wrote, whose readers were removed (issue 15): refused by
/// name with `.unsupported`, and a refused open changes nothing.
@Suite("lsm retired formats") struct RetiredFormatTests {
    /// Manifest tag 5 (a new file without its key bytes) is refused, naming the record.
    @Test func manifestTag5IsRefused() throws {
        var e: [UInt8] = []
        putVarint(&e, 5); putVarint(&e, 0)
        FileMeta(number: 9, size: 100, entries: 1, deletes: 0, rawPutBytes: 3, smallest: [UInt8](repeating: 1, count: 9),
                 largest: [UInt8](repeating: 2, count: 9)).encode(&e, withKeyBytes: false)
        #expect { _ = try e.withUnsafeBytes { try VersionEdit.decode($0, path: "/db/MANIFEST-000003", offset: 16) } } throws: {
            guard let e = $0 as? OrbitError else { return false }
            return e.code == .unsupported && e.location == "/db/MANIFEST-000003 @ offset 16" && e.message.contains("tag 5")
        }
    }
    // WAL versions 1 and 2: LogFramingTests.anOlderWALVersionIsRefusedByName.
}

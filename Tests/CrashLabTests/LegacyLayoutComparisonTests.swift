import Testing
@testable import CrashLab
import OrbitCore
import OrbitTestSupport
import Runner

/// TEMPORARY: the engines' own layouts equal the old CrashLab derivation on every store variant.
@Suite(.serialized) struct LegacyLayoutComparisonTests {
    @Test(arguments: ["lsm", "cow", "rocksdb", "lmdb"])
    func sameAsBefore(engine: String) throws {
        for seed: UInt64 in [0xC0FFEE, 7, 12345] {
            for records in [40, 300, 1500] {
                let tmp = try TemporaryDirectory(prefix: "legacy-\(engine)")
                let context = corruptionContext(engine, seed: seed, count: 10, dir: tmp.path, records: records)
                let workload = CorruptionWorkload(seed: seed, keyCount: records, valueSize: 100)
                for variant in CorruptionSweep.variants(of: engine) {
                    var config = SweepEngineConfig(engine: engine, durability: context.durability, settings: context.settings)
                    if variant.contains("wal=false") { config.cowWAL = false }
                    let dir = joinPath(tmp.path, "v")
                    let store = try CorruptionStore.build(config, workload: workload, leaveOpen: variant.hasPrefix("open"),
                                                          variant: variant, directory: dir)
                    let scratch = joinPath(tmp.path, "scratch")
                    try CorruptionFiles.write(scratch, store.files)
                    let old = try LegacyStoreLayout.describe(engine: engine, directory: scratch, cowPageSize: config.cowOptions.pageSize)
                    #expect(old.count == store.layouts.count, "\(engine) \(variant) seed \(seed)")
                    var segments = 0, headers = 0
                    for (a, b) in zip(old, store.layouts) {
                        segments += a.segments.count; headers += a.headerOffsets.count
                        #expect(a == b, "\(engine) \(variant) seed \(seed) records \(records): \(a.path) differs")
                        if a != b {
                            print("OLD", a.fileType, a.segments.prefix(8), a.headerOffsets.prefix(20))
                            print("NEW", b.fileType, b.segments.prefix(8), b.headerOffsets.prefix(20))
                        }
                    }
                    print("compared \(engine) \(variant) seed \(seed) records \(records): \(old.count) files, \(segments) segments, \(headers) header offsets, types \(Set(old.map(\.fileType)).sorted())")
                    try CorruptionFiles.removeTree(scratch)
                }
            }
        }
    }
}

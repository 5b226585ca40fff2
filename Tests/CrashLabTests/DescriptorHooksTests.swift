import CowBTree
import LMDBEngine
import LSMTree
import OrbitCore
import RocksDBEngine
import Testing
@testable import CrashLab

/// The crash lab's per-engine hooks reach it through the protocol (a default silently winning over a
/// mistyped witness would change what a sweep builds): asked here as the sweeps ask, generically.
struct DescriptorHooksTests {
    static let settings = Settings(knobs: CoreKnobs.all + LSMOptions.knobs + CowOptions.knobs + RocksDBOptions.knobs + LMDBOptions.knobs)

    static func damage<D: EngineDescriptor>(_: D.Type, _ variant: String) throws -> D.Options {
        try D.damageStoreOptions(settings: settings, variant: variant)
    }
    static func grown<D: EngineDescriptor>(_: D.Type) throws -> (D.Options, StoreGrowth) {
        let o = try D.growthOptions(settings: settings)
        return (o, D.growth(o))
    }
    static func fsync<D: FileLayerEngineDescriptor>(_: D.Type) -> (labels: [String], ack: Bool, refusal: String, sizes: Range<Int>) {
        let c = D.fsyncFailureConfigurations(D.stressOptions)
        return (c.map(\.label), D.acknowledgementsDependOn(fileNamed: "000007.log"), D.writeRefusalAfterFailedSync, D.fsyncFailureValueSizes)
    }

    @Test func damageStores() throws {
        #expect(CorruptionSweep.variants(of: "cow") == ["closed", "open", "closed,wal=false"])
        #expect(CorruptionSweep.variants(of: "lmdb") == ["closed"])
        #expect(CorruptionSweep.variants(of: "lsm") == ["closed", "open"])
        #expect(try Self.damage(CowDescriptor.self, "closed,wal=false").wal == false)
        #expect(try Self.damage(CowDescriptor.self, "open").walSegmentSize == 64 << 10)
        #expect(try Self.damage(LSMDescriptor.self, "closed").memtableSizeBytesOverride == 16 << 10)
        #expect(try Self.damage(RocksDBDescriptor.self, "closed").writeBufferMB == 1)
        #expect(try Self.damage(LMDBDescriptor.self, "closed").mapSizeMB == 64)
    }

    @Test func growth() throws {
        let (lsm, lsmGrowth) = try Self.grown(LSMDescriptor.self)
        #expect(lsm.compactionThreshold == 100_000 && lsmGrowth.pageFile == nil && lsmGrowth.byteCap(tables: 10) == Int.max)
        let (cow, cowGrowth) = try Self.grown(CowDescriptor.self)
        #expect(cowGrowth.pageFile == "cow.db" && cowGrowth.pageSize == cow.pageSize && cowGrowth.targetUnits(tables: 10) == 40)
        let (rocks, rocksGrowth) = try Self.grown(RocksDBDescriptor.self)
        #expect(rocks.writeBufferMB == 1 && rocksGrowth.byteCap(tables: 2_000) == 2_000 * (32 << 10))
        #expect(rocksGrowth.byteCap(tables: 10) == 8 << 20 && rocksGrowth.shortfallReason != nil)
        let (_, lmdbGrowth) = try Self.grown(LMDBDescriptor.self)
        #expect(lmdbGrowth.pageFile == "data.mdb" && lmdbGrowth.unitName == "pages")
    }

    @Test func fsyncFailure() {
        let lsm = Self.fsync(LSMDescriptor.self)
        #expect(lsm.labels == ["memtable=4KiB"] && lsm.ack && lsm.refusal == "read-only until reopened" && lsm.sizes == 40..<240)
        let cow = Self.fsync(CowDescriptor.self)
        #expect(cow.labels == ["wal=true", "wal=false"] && !cow.ack && cow.refusal.hasPrefix("poisoned") && cow.sizes == 200..<2_600)
    }
}

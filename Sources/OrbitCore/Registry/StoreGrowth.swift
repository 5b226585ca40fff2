/// How the crash lab's resource-limits sweep (CrashLab/ResourceLimits) measures a store it grows
/// past `crash.grow_tables` tables under a low RLIMIT_NOFILE, from the engine's descriptor
/// (`EngineDescriptor.growth(_:)`), so the sweep names no engine.
public struct StoreGrowth: Sendable {
    /// The file whose size, in pages of `pageSize` bytes, is the store's size (an engine without
    /// tables: a B+tree's page file); nil: the store's size is its count of `.sst` tables.
    public var pageFile: String?
    public var pageSize: Int
    /// Units (tables or pages) to reach per table of `crash.grow_tables`.
    public var unitsPerTable: Int
    /// The most bytes to write per table of `crash.grow_tables` (at least `minimumByteCap`); nil: no
    /// cap, grow until the units are reached.
    public var bytesPerTable: Int?
    public var minimumByteCap: Int
    /// Why the store may end with fewer tables than asked for ("RocksDB compacts as it goes"); nil:
    /// it reaches them.
    public var shortfallReason: String?

    public init(pageFile: String? = nil, pageSize: Int = 4096, unitsPerTable: Int = 1, bytesPerTable: Int? = nil,
                minimumByteCap: Int = 0, shortfallReason: String? = nil) {
        self.pageFile = pageFile
        self.pageSize = pageSize
        self.unitsPerTable = unitsPerTable
        self.bytesPerTable = bytesPerTable
        self.minimumByteCap = minimumByteCap
        self.shortfallReason = shortfallReason
    }

    /// A store that grows in `.sst` tables.
    public static let tables = StoreGrowth()

    /// "pages" or "tables".
    public var unitName: String { pageFile == nil ? "tables" : "pages" }

    /// The units to reach for `tables` tables.
    public func targetUnits(tables: Int) -> Int { tables * unitsPerTable }

    /// The bytes to write at most for `tables` tables (`Int.max`: no cap).
    public func byteCap(tables: Int) -> Int { bytesPerTable.map { max(minimumByteCap, tables * $0) } ?? Int.max }
}

import OrbitCore

/// The `memory` engine, as the registry knows it (docs/architecture.md, "The engine registry").
public enum MemoryDescriptor: EngineDescriptor {
    public typealias Engine = MemoryEngine
    public typealias Options = MemoryOptions

    public static let name = "memory"
    public static let aliases = ["inmemory", "mem"]
    public static let summary = "in-memory sorted map (B+tree): the floor that shows the harness's own overhead; nothing survives a crash"
    public static let plotColour: String? = "#7f7f7f"
    public static let capabilities: EngineCapabilities = [.snapshots, .atomicBatches, .orderedScans]

    public static func open(directory: String, options: MemoryOptions, durability: DurabilityMode, access: StoreAccess) throws -> Engine {
        MemoryEngine(durability: durability)
    }
}

/// The memory engine has no knobs yet (`MemoryEngine.knobs` is empty).
public struct MemoryOptions: EngineOptions, Hashable {
    public init() {}
    public static var knobs: [Knob] { MemoryEngine.knobs }
    public init(settings: Settings) {}
    public func validate(durability: DurabilityMode) throws {}
}

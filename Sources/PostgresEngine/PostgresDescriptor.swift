import OrbitCore
import ServerSupport

/// The `postgres` engine, as the registry knows it (docs/architecture.md, "The engine registry").
/// A server: none of the file-layer crash methods apply; no snapshots; crash results for the record.
public enum PostgresDescriptor: EngineDescriptor {
    public typealias Engine = PostgresEngine
    public typealias Options = PostgresOptions

    public static let name = "postgres"
    public static let summary = "PostgreSQL through libpq (libpq-dev): a managed server on 127.0.0.1 (initdb), or postgres.url; one bytea table"
    public static let plotColour: String? = "#336791"
    public static let capabilities: EngineCapabilities = [.atomicBatches, .orderedScans, .durable, .server]
    public static let serverAddressKnob: String? = name + ".url"

    public static func open(directory: String, options: PostgresOptions, durability: DurabilityMode, access: StoreAccess) throws -> PostgresEngine {
        try PostgresEngine(directory: directory, options: options, durability: durability, access: access)
    }

    /// PostgreSQL's limits: a bytea value up to 1 GB; a btree index entry at most about 2700 bytes
    /// (a third of an 8 KiB page), so a key past that is refused by the primary key's index.
    public static func limits(_ options: PostgresOptions) -> EngineLimits { EngineLimits(maxKeySize: 2_048, maxValueSize: 1 << 29) }

    public static func validate(settings: Settings) throws {
        let o = try PostgresOptions.validated(from: settings)
        if !o.url.isEmpty { try PostgresEngine.checkURL(o.url) }
        guard !o.table.isEmpty, o.table.utf8.count <= 63, o.table.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }) else {
            throw OrbitError(.invalidConfig, "postgres.table: bad value '\(o.table)'", at: "postgres.table from \(settings.source("postgres.table"))",
                             hint: "1-63 characters from a-z 0-9 _")
        }
        guard PostgresServer.standbyModes.contains(o.standby) else {
            throw OrbitError(.invalidConfig, "postgres.standby: bad value '\(o.standby)'", at: "postgres.standby from \(settings.source("postgres.standby"))",
                             hint: PostgresServer.standbyModes.joined(separator: ", "))
        }
        if o.standby != "none", !o.url.isEmpty {
            throw OrbitError(.invalidConfig, "postgres.standby=\(o.standby) asks for a managed standby, postgres.url for an existing server",
                             at: "postgres.standby from \(settings.source("postgres.standby")), postgres.url from \(settings.source("postgres.url"))",
                             hint: "give one of them (an existing server's replication is its own)")
        }
    }

    /// A primary with a synchronous streaming standby (`postgres-standby`).
    public static var variants: [(suffix: String, options: PostgresOptions)] {
        var o = PostgresOptions()
        o.standby = "sync"
        return [("standby", o)]
    }

    public static func recognizeStore(at directory: String) -> StoreRecognition {
        ServerStoreDirectory.recognize(directory, backend: name)
    }
    public static func isStoreEntry(_ name: String) -> Bool { PostgresServer.entries.contains(name) }

    public static func externalInspectHint(directory: String) -> String? {
        "the managed cluster is in \(directory)/server: pg_controldata \(directory)/server reads it"
    }
}

public import OrbitCore
import Foundation

/// `orbit-bench kv`: poke at a store by hand. A library call, so scripts and tests use it the same way.
public enum KVTool {
    public enum Action: Sendable {
        case get(key: [UInt8])
        case put(key: [UInt8], value: [UInt8])
        case delete(key: [UInt8])
        case scan(start: [UInt8]?, end: [UInt8]?, limit: Int)
        case stats
        /// `snapshot create|restore|drop NAME`, `snapshot list`.
        case snapshot(SnapshotVerb, name: String?)
    }

    public enum SnapshotVerb: String, Sendable, CaseIterable {
        case create, restore, list, drop
    }

    public enum Output: Sendable {
        case value([UInt8]?)
        case done
        case entries([(key: [UInt8], value: [UInt8])])
        case stats(StorageStats)
        case names([String])
    }

    /// Opens the store of `backend` under the settings' data_dir, performs `action`, closes the store.
    /// Returns only after a write is acknowledged under the configured durability mode and the engine
    /// is closed (which syncs).
    public static func perform(_ action: Action, backend: String, settings: Settings) throws -> Output {
        guard Engines.isDurable(backend) else {
            throw OrbitError(.invalidArgument, "the \(backend) backend keeps nothing between processes",
                             at: "--backend \(backend)", hint: "use a durable backend: rocksdb")
        }
        let root = settings.string("data_dir")
        guard !root.isEmpty else {
            throw OrbitError(.invalidArgument, "kv needs a data directory", hint: "pass --data-dir DIR (the store is DIR/\(backend))")
        }
        let dir = root + "/" + backend
        if case .put = action {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } else if !FileManager.default.fileExists(atPath: dir) {
            throw OrbitError(.notFound, "no \(backend) store here", at: dir,
                             hint: "write something first (kv put) or point --data-dir at the directory holding \(backend)/")
        }
        return try Engines.withEngine(backend, directory: dir, settings: settings, Body(action: action))
    }

    struct Body: EngineBody {
        let action: Action
        func run<E: StorageEngine>(_ engine: E) throws -> Output {
            switch action {
            case .get(let key): return .value(try engine.get(key))
            case .put(let key, let value): try engine.put(key, value); return .done
            case .delete(let key): try engine.delete(key); return .done
            case .scan(let start, let end, let limit): return .entries(try engine.scan(from: start, to: end, limit: limit))
            case .stats: return .stats(try engine.stats())
            case .snapshot(let verb, let name):
                if verb == .list { return .names(try engine.listSnapshots()) }
                guard let name else {
                    throw OrbitError(.invalidArgument, "snapshot \(verb.rawValue) needs a name", hint: "orbit-bench kv snapshot \(verb.rawValue) NAME")
                }
                switch verb {
                case .create: try engine.createSnapshot(named: name)
                case .restore: try engine.restoreSnapshot(named: name)
                case .drop: try engine.dropSnapshot(named: name)
                case .list: break
                }
                return .done
            }
        }
    }
}

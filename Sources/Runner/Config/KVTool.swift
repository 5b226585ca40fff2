public import OrbitCore
import Foundation

/// `orbit-bench kv`: poke at a store by hand. A library call, so scripts and tests use it the same way.
///
/// Every input is checked before the store is opened (snapshot names, key and value sizes against the
/// engine's limits, the store directory by `StoreGuard`); commands that only read (get, scan, stats,
/// snapshot list) open the store read-only and change no byte of it.
public enum KVTool {
    public enum Action: Sendable {
        case get(key: [UInt8])
        case put(key: [UInt8], value: [UInt8])
        case delete(key: [UInt8])
        case scan(start: [UInt8]?, end: [UInt8]?, limit: Int)
        case stats
        /// `snapshot create|restore|drop NAME`, `snapshot list`.
        case snapshot(SnapshotVerb, name: String?)

        /// What the action does with the store: read-only actions open it `.readOnly`; only `put`
        /// may create a store (in a missing or empty directory).
        public var intent: StoreGuard.Intent {
            switch self {
            case .get, .scan, .stats, .snapshot(.list, _): .read
            case .put: .create
            case .delete, .snapshot: .modify
            }
        }
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
                             at: "--backend \(backend)", hint: "use a durable backend: " + StoreGuard.durableBackends.joined(separator: ", "))
        }
        let root = settings.string("data_dir")
        guard !root.isEmpty else {
            throw OrbitError(.invalidArgument, "kv needs a data directory", hint: "pass --data-dir DIR (the store is DIR/\(backend))")
        }
        try validate(action, backend: backend, settings: settings)
        let dir = root + "/" + backend
        let intent = action.intent
        try StoreGuard.check(backend, directory: dir, intent: intent)
        if intent == .create {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw OrbitError(.invalidArgument, "cannot create the store directory", at: dir, cause: .library("\(error)"))
            }
        }
        return try Engines.withEngine(backend, directory: dir, settings: settings, access: intent == .read ? .readOnly : .readWrite,
                                      Body(action: action))
    }

    /// The checks of the action's own inputs, made before anything is opened.
    static func validate(_ action: Action, backend: String, settings: Settings) throws {
        try Engines.validate(backend, settings: settings)
        func sizes(key: Int, value: Int) throws {
            try StoreGuard.checkSizes(backend, settings: settings, keySize: key, valueSize: value, keySource: "KEY", valueSource: "VALUE")
        }
        switch action {
        case .get(let key), .delete(let key): try sizes(key: key.count, value: 0)
        case .put(let key, let value): try sizes(key: key.count, value: value.count)
        case .scan(_, _, let limit):
            guard limit >= 0 else {
                throw OrbitError(.invalidArgument, "--limit \(limit) is negative", at: "--limit", hint: "0 (every entry) or a positive count")
            }
        case .stats: break
        case .snapshot(let verb, let name):
            // Refused before any store (or server) is opened: the engine declares it has none.
            if let caps = Engines.capabilities(backend), !caps.contains(.snapshots) {
                throw OrbitError(.invalidArgument, "the \(backend) backend has no snapshots", at: "kv snapshot \(verb.rawValue)",
                                 hint: "engines with snapshots: " + Engines.names(with: .snapshots).joined(separator: ", "))
            }
            if verb == .list {
                if let name {
                    throw OrbitError(.invalidArgument, "snapshot list takes no name (got '\(name)')", at: "kv snapshot list",
                                     hint: "orbit-bench kv snapshot list")
                }
                return
            }
            guard let name else {
                throw OrbitError(.invalidArgument, "snapshot \(verb.rawValue) needs a name", at: "kv snapshot \(verb.rawValue)",
                                 hint: "orbit-bench kv snapshot \(verb.rawValue) NAME")
            }
            do { try validateSnapshotName(name) } catch var e as OrbitError {
                e.code = .invalidArgument
                e.location = e.location ?? "kv snapshot \(verb.rawValue)"
                throw e
            }
        }
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
                guard let name else { return .done }  // refused by validate
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

    // MARK: Bytes on the command line

    /// Parses a key or value from the command line: with `hex`, hex digits (an optional `0x` prefix,
    /// as `ldb --hex` takes); otherwise the argument's UTF-8 bytes.
    public static func parseBytes(_ text: String, hex: Bool, what: String) throws -> [UInt8] {
        guard hex else { return Array(text.utf8) }
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard digits.count % 2 == 0 else {
            throw OrbitError(.invalidArgument, "\(what) '\(text)' has an odd number of hex digits", at: what,
                             hint: "with --hex give two hex digits per byte, e.g. 0x00ff10")
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            guard let b = UInt8(digits[i..<j], radix: 16) else {
                throw OrbitError(.invalidArgument, "\(what) '\(text)' is not hex", at: what,
                                 hint: "with --hex give two hex digits per byte, e.g. 0x00ff10")
            }
            out.append(b)
            i = j
        }
        return out
    }

    /// How kv prints a key or value: with `hex`, `0x` and two hex digits per byte (as `ldb --hex`);
    /// otherwise printable ASCII as it is, a backslash as `\\` and every other byte as `\xNN`, so
    /// that no two different byte strings print the same (and a tab or newline never splits a line).
    public static func formatBytes(_ bytes: [UInt8], hex: Bool) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * (hex ? 2 : 1) + 2)
        if hex {
            out += Array("0x".utf8)
            for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        } else {
            for b in bytes {
                if b == 0x5c { out += [0x5c, 0x5c] } else if b >= 0x20 && b < 0x7f { out.append(b) } else {
                    out += [0x5c, 0x78, digits[Int(b >> 4)], digits[Int(b & 15)]]
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

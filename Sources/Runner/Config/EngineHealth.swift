public import OrbitCore
#if canImport(Glibc)
import Glibc
#endif

/// `orbit-bench kv health` (issue 20 item 4, the origin's health_check): whether an engine's store
/// opens, opens writable, reads, syncs, and reports no background error and no switch to read-only
/// after a failure. Healthy: exit status 0; unhealthy: 1; bad input (no such store): 2.
///
/// The store is opened read-write, as `kv delete` opens it (so an open that recovers a log may write
/// what any open writes), but no key is written; with `readOnly` it is opened read-only and no byte
/// changes (then the writable check is skipped).
public enum EngineHealth {
    public struct Check: Sendable, Equatable {
        public var name: String
        /// nil: not applicable (skipped).
        public var ok: Bool?
        public var detail: String
    }

    public struct Report: Sendable, Equatable {
        public var backend: String
        public var checks: [Check]
        public init(backend: String, checks: [Check]) {
            self.backend = backend
            self.checks = checks
        }
        public var healthy: Bool { checks.allSatisfy { $0.ok != false } }

        public var lines: [String] {
            checks.map { c in "\(c.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(c.ok == nil ? "skip" : c.ok! ? "ok  " : "FAIL")  \(c.detail)" }
                + ["\(backend): \(healthy ? "healthy" : "UNHEALTHY")"]
        }
    }

    /// The names of `StorageStats.extra` entries that mark a failed engine (value 1): a background job
    /// failed; writes are refused until the store is reopened after a failed sync.
    public static let failureExtras: [(name: String, check: String)] = [("background_failed", "background error"), ("read_only", "read-only")]

    public static func check(backend: String, settings: Settings, readOnly: Bool = false) throws -> Report {
        let dir = try Transfer.storeDirectory(backend, settings, flag: "--backend")
        try StoreGuard.check(backend, directory: dir, intent: .read)
        var checks: [Check] = []
        let access: StoreAccess = readOnly ? .readOnly : .readWrite
        do {
            checks += try Engines.withEngine(backend, directory: dir, settings: settings, access: access, Probe(readOnly: readOnly))
        } catch {
            checks.append(Check(name: "opens", ok: false, detail: "\(error)"))
            if !readOnly {
                // Does it open at all (read-only: another process holds it, or the directory is read-only)?
                let ro = (try? Engines.withEngine(backend, directory: dir, settings: settings, access: .readOnly, Probe(readOnly: true))) != nil
                checks.append(Check(name: "opens read-only", ok: ro, detail: ro ? "the store opens read-only only" : "the store does not open read-only either"))
            }
        }
        if !readOnly, checks.first?.ok == true {
            let w = access_ok(dir)
            checks.insert(Check(name: "writable", ok: w, detail: w ? "opened read-write" : "no write permission on \(dir)"), at: 1)
        }
        return Report(backend: backend, checks: checks)
    }

    static func access_ok(_ dir: String) -> Bool { access(dir, W_OK) == 0 }

    /// The checks on an open engine: it reads, it syncs (unless read-only), no failure in its stats.
    public static func probe<E: StorageEngine>(_ engine: E, readOnly: Bool) -> [Check] {
        var checks: [Check] = []
        do {
            try engine.scan(from: nil, to: nil, limit: 1) { _, _ in true }
            checks.append(Check(name: "reads", ok: true, detail: "a scan of the first key"))
        } catch { checks.append(Check(name: "reads", ok: false, detail: "\(error)")) }
        if readOnly {
            checks.append(Check(name: "syncs", ok: nil, detail: "opened read-only"))
        } else {
            do {
                try engine.sync()
                checks.append(Check(name: "syncs", ok: true, detail: "sync() returned"))
            } catch { checks.append(Check(name: "syncs", ok: false, detail: "\(error)")) }
        }
        do {
            let s = try engine.stats()
            for (name, check) in failureExtras {
                guard let e = s.extra.first(where: { $0.name == name }) else {
                    checks.append(Check(name: check, ok: nil, detail: "the engine does not report \(name)"))
                    continue
                }
                checks.append(Check(name: check, ok: e.value == 0, detail: "\(name) = \(formatDouble(e.value))"))
            }
        } catch { checks.append(Check(name: "stats", ok: false, detail: "\(error)")) }
        return checks
    }

    struct Probe: EngineBody {
        let readOnly: Bool
        func run<E: StorageEngine>(_ engine: E) throws -> [Check] {
            [Check(name: "opens", ok: true, detail: readOnly ? "opened read-only" : "opened read-write")] + EngineHealth.probe(engine, readOnly: readOnly)
        }
    }
}

import OrbitCore
import Runner
import Foundation
import Leases
import Workloads
#if canImport(Glibc)
import Glibc
#endif

/// Crash recovery measured honestly: a child process (this binary, re-invoked as the hidden
/// `_repro-worker` subcommand) opens the store, runs the workload, then keeps storing leases until the
/// parent kills it with SIGKILL; the parent then times reopening the store and serving the first read.
public enum KillRecovery {
    /// The line the worker prints once the workload is done and it is writing (then it is killed).
    public static let readyMarker = "orbit-repro-worker: writing"

    /// One kill-and-recover cycle.
    public struct Cycle: Sendable {
        public var backend: String
        public var durability: String
        /// Open until the first read is served, ms.
        public var recoveryMs: Double
        /// Bytes of the store directory when it was reopened.
        public var storeBytes: Int64
        /// Leases the worker acknowledged after the workload, before the kill (from its progress lines).
        public var writesAfterWorkload: Int
        /// Whether the first read found the lease the load phase stored.
        public var found: Bool
        public var error: String?
        /// For comparison: the same reopen and first read once more, after the recovered store was closed
        /// cleanly, ms (nil when the recovery failed).
        public var cleanReopenMs: Double?
    }

    // MARK: - The worker (child)

    /// Runs in the child: open, workload (load, warm-up, run), then store leases forever, printing the
    /// count every 64 so the parent knows how far it got. Never returns normally (it is killed).
    public static func worker(backend: String, directory: String, settings: Settings) throws {
        let workload = try Workload(settings: settings)
        let runner = BenchmarkRunner(workload: workload, settings: settings, showStatus: false)
        _ = try Engines.withEngine(backend, directory: directory, settings: settings, Body(runner: runner, backend: backend))
    }

    struct Body: EngineBody {
        let runner: BenchmarkRunner
        let backend: String
        func run<E: StorageEngine>(_ engine: E) throws -> Int {
            let r = try runner.run(engine: engine, backend: backend)
            if let e = r.errors.first { throw OrbitError(.io, "the worker's workload failed: \(e)") }
            let leases = LeaseDirectory(engine: engine, clock: SystemWallClock())
            let out = FileHandle.standardOutput
            out.write(Data((readyMarker + "\n").utf8))
            var n = 0
            while true {
                try leases.store(AddressableLease(reference: AddressableReference(addressableType: "ActorType0", key: "crash-\(n)"),
                                                  nodeId: NodeId("node-0"), grantedAt: SystemWallClock().nowMillis(), duration: 30_000))
                n += 1
                if n % 64 == 0 { out.write(Data("acked \(n)\n".utf8)) }
            }
        }
    }

    // MARK: - The parent

    /// Starts the worker on `directory`, waits until it is writing, lets it write for `writeMillis`,
    /// kills it with SIGKILL and times reopening the store and serving the first read.
    public static func cycle(executable: String, backend: String, directory: String, sets: [String],
                             settings: Settings, writeMillis: Int = 200, timeoutSeconds: Double = 300) throws -> Cycle {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["_repro-worker", "--backend", backend, "--data-dir", directory] + sets.flatMap { ["--set", $0] }
        let pipe = Pipe()
        p.standardOutput = pipe
        let errPipe = Pipe()
        p.standardError = errPipe
        do { try p.run() } catch {
            throw OrbitError(.io, "cannot start the crash worker", at: executable, cause: .library("\(error)"))
        }
        // Read the worker's lines until it says it is writing (or exits).
        let reader = pipe.fileHandleForReading
        var buffer = ""
        var ready = false
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !ready, Date() < deadline {
            let chunk = reader.availableData
            if chunk.isEmpty { break }  // EOF: the worker exited
            buffer += String(decoding: chunk, as: UTF8.self)
            ready = buffer.contains(readyMarker)
        }
        guard ready else {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw OrbitError(.io, "the crash worker for \(backend) did not reach its write loop", at: directory,
                             cause: .library(err.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        usleep(useconds_t(writeMillis * 1000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        buffer += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        let acked = buffer.split(separator: "\n").last { $0.hasPrefix("acked ") }.flatMap { Int($0.dropFirst(6)) } ?? 0
        guard p.terminationReason == .uncaughtSignal, p.terminationStatus == SIGKILL else {
            throw OrbitError(.io, "the crash worker for \(backend) ended before the kill (status \(p.terminationStatus))", at: directory)
        }
        let bytes = directoryBytes(directory)
        let start = MonotonicClock.nanoseconds()
        var cycle = Cycle(backend: backend, durability: settings.durability().description, recoveryMs: 0, storeBytes: bytes,
                          writesAfterWorkload: acked, found: false)
        do {
            let found = try Engines.withEngine(backend, directory: directory, settings: settings, FirstRead(start: start))
            cycle.recoveryMs = found.ms
            cycle.found = found.found
            let again = MonotonicClock.nanoseconds()
            cycle.cleanReopenMs = try Engines.withEngine(backend, directory: directory, settings: settings, FirstRead(start: again)).ms
        } catch {
            cycle.recoveryMs = Double(MonotonicClock.nanoseconds() - start) / 1e6
            cycle.error = "\(error)"
        }
        return cycle
    }

    /// Times from `start` (before the open) to the first read of lease 0 (stored by the load phase).
    struct FirstRead: EngineBody {
        let start: UInt64
        func run<E: StorageEngine>(_ engine: E) throws -> (ms: Double, found: Bool) {
            let leases = LeaseDirectory(engine: engine, clock: SystemWallClock())
            let lease = try leases.get(AddressableReference(addressableType: "ActorType0", key: "a0"))
            return (Double(MonotonicClock.nanoseconds() - start) / 1e6, lease != nil)
        }
    }

    /// Bytes of the regular files under `path`.
    public static func directoryBytes(_ path: String) -> Int64 { DirectoryBytes.of(path) }
}

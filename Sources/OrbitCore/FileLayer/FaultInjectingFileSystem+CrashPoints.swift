// Simulated crashes: named crash points fired with a probability, or a crash at the N-th mutating
// call. A crash makes the file system dead: every later call throws, so the crashed engine cannot
// write anything more, and the test takes `powerLoss(_:rng:)` of what it left.

/// A crash point armed to fire: with `probability` at each arrival, after `skip` arrivals.
struct Arm: Sendable {
    var probability: Double
    var rng: SeededRNG
    var skip: Int

    mutating func fires() -> Bool {
        if skip > 0 { skip -= 1; return false }
        return probability >= 1 || rng.unit() < probability
    }
}

extension OrbitError {
    /// The cause (`.library`) of every error a simulated crash throws.
    public static let simulatedCrashMarker = "SIMULATED-CRASH"

    /// Whether this is a `FaultInjectingFileSystem`'s simulated crash (the crash itself, or any call
    /// on the file system after it), not a real or injected I/O error.
    public var isSimulatedCrash: Bool { cause == .library(Self.simulatedCrashMarker) }
}

extension FaultInjectingFileSystem {
    /// Arms crash point `name` (a `crashPoint` name such as "lsm.flush.after-table-sync"): each
    /// arrival after the first `skip` fires with `probability`, drawn from a generator seeded
    /// with `seed`.
    public func arm(_ name: String, probability: Double = 1, seed: UInt64 = 0, skip: Int = 0) {
        state.withLock { $0.arms[name] = Arm(probability: probability, rng: SeededRNG(seed: seed), skip: skip) }
    }

    /// Arms every crash point at once with `probability` per arrival.
    public func armAny(probability: Double, seed: UInt64 = 0) {
        state.withLock { $0.anyArm = Arm(probability: probability, rng: SeededRNG(seed: seed), skip: 0) }
    }

    /// Crashes at the mutating call after `calls` more have run (writes, appends, truncates, syncs,
    /// creating opens, renames, removes, directory changes): that call throws and does nothing.
    public func crashAfter(mutatingCalls calls: Int) {
        state.withLock { $0.crashAfterCalls = $0.mutatingCalls + calls }
    }

    /// Disarms every crash point and the call-count trigger (a crash that already fired stays).
    public func disarm() {
        state.withLock { s in
            s.arms = [:]
            s.anyArm = nil
            s.crashAfterCalls = nil
        }
    }

    /// Crashes now, from outside (a timed crash): every later call throws.
    public func crash(_ reason: String = "crash()") {
        state.withLock { s in if s.dead == nil { s.dead = reason } }
    }

    /// Where the simulated crash fired (the crash point's name, or "call#N write <path>"), nil
    /// while alive.
    public var crashed: String? { state.withLock { $0.dead } }

    /// The crash points reached so far (whether armed or not), sorted: for checking coverage.
    public var crashPointsSeen: [String] { state.withLock { $0.seen.sorted() } }

    /// The mutating calls made so far (see `crashAfter(mutatingCalls:)`).
    public var mutatingCallCount: Int { state.withLock { $0.mutatingCalls } }

    public func crashPoint(_ name: StaticString) throws {
        try state.withLock { s in
            if let dead = s.dead { throw State.crashError(dead, at: "\(name)") }
            let text = "\(name)"
            s.seen.insert(text)
            var fire = false
            if s.arms[text] != nil { fire = s.arms[text]!.fires() }
            if !fire, s.anyArm != nil { fire = s.anyArm!.fires() }
            if fire {
                s.dead = text
                throw State.crashError(text, at: text)
            }
        }
    }
}

extension State {
    static func crashError(_ dead: String, at location: String) -> OrbitError {
        OrbitError(.io, "simulated crash (\(dead)): the file system is dead", at: location,
                   hint: "take powerLoss(_:rng:) of it and reopen the store on that",
                   cause: .library(OrbitError.simulatedCrashMarker))
    }

    /// The gate every call passes: throws if the file system is dead or the call-count trigger
    /// fires; returns the errno of an injected fault that matches (the caller throws it, after
    /// writing a prefix if it is a write). `operation` nil: a call faults never match (stat, size).
    mutating func enter(_ operation: FileOperation?, path: String, otherPath: String? = nil, location: String,
                        mutating: Bool) throws -> Errno? {
        if let dead { throw Self.crashError(dead, at: location) }
        if mutating {
            if let limit = crashAfterCalls, mutatingCalls >= limit {
                let name = "call#\(mutatingCalls + 1) \(operation?.rawValue ?? "call") \(path)"
                dead = name
                throw Self.crashError(name, at: location)
            }
            mutatingCalls += 1
        }
        guard let operation else { return nil }
        calls[operation, default: 0] += 1
        return matchFault(operation, path: path, otherPath: otherPath)
    }
}

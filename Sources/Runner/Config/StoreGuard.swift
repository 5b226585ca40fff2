#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import OrbitCore

/// The one check every command makes before it opens, creates or deletes a store (README "Your
/// stores are safe"): what the store directory holds, by the engines' own markers
/// (`recognizeStore(at:)` of each engine), against what the command means to do with it.
///
/// Invariant: `check` reads directory listings and at most a few bytes of a few files; it never
/// creates, writes or removes anything, so a refused command has changed nothing.
public enum StoreGuard {
    /// What a command means to do with a store directory.
    public enum Intent: Sendable, Equatable {
        /// Only reads: the store must exist and be this engine's; it is opened read-only.
        case read
        /// Writes to an existing store (kv delete, snapshots): the store must exist and be this engine's.
        case modify
        /// Writes, and may create the store: the directory must be missing, empty, or this engine's store.
        case create
    }

    /// The durable engines of this build, in the order their recognizers are asked (registry order).
    public static var durableBackends: [String] { Engines.names(with: .durable) }

    /// What `backend`'s own recognizer finds in `directory` (an engine without files: always `.empty`).
    public static func recognize(_ backend: String, at directory: String) -> StoreRecognition {
        Engines.install()
        return EngineRegistry.descriptor(named: backend)?.recognizeStore(at: directory) ?? .empty
    }

    /// Whether `name`, an entry of `backend`'s store directory, is a file that engine writes.
    public static func isStoreEntry(_ backend: String, _ name: String) -> Bool {
        Engines.install()
        return EngineRegistry.descriptor(named: backend)?.isStoreEntry(name) ?? false
    }

    /// The engine whose store `directory` holds, other than `backend`, with the markers that say so.
    public static func otherOwner(of directory: String, besides backend: String) -> (name: String, markers: [String])? {
        for other in durableBackends where other != backend {
            if case .ours(let markers) = recognize(other, at: directory) { return (other, markers) }
        }
        return nil
    }

    /// "an lsm", "a rocksdb": the backend name with its article, for messages.
    public static func withArticle(_ backend: String) -> String {
        Engines.install()
        return EngineRegistry.descriptor(named: backend)?.withArticle ?? "a \(backend)"
    }

    /// Refuses (`.invalidArgument`, exit status 2) a store directory that does not fit `intent`; returns
    /// what the engine found. `flagHint` names how the user chose the directory (for messages).
    @discardableResult
    public static func check(_ backend: String, directory: String, intent: Intent,
                             flagHint: String = "--data-dir") throws -> StoreRecognition {
        guard Engines.isDurable(backend) else { return .empty }
        try checkPath(directory, intent: intent, flagHint: flagHint)
        let found = recognize(backend, at: directory)
        switch found {
        case .ours:
            if intent != .read, access(directory, W_OK) != 0 {
                throw OrbitError(.invalidArgument, "no write permission on the \(backend) store directory", at: directory,
                                 hint: "this command writes; read-only commands (kv get/scan/stats, kv snapshot list, inspect) work here")
            }
            return found
        case .empty:
            if intent == .create { return found }
            throw OrbitError(.invalidArgument,
                             "no \(backend) store here (the directory is \(StoreDirectoryListing.list(directory) == .missing ? "missing" : "empty"))",
                             at: directory,
                             hint: "write something first (kv put), or point \(flagHint) at the directory holding \(backend)/")
        case .notOurs(let names):
            throw foreign(backend, directory: directory, found: names, flagHint: flagHint)
        }
    }

    /// The error for a directory that is not `backend`'s store: names the engine whose store it is,
    /// or a few of the files no engine of this build wrote.
    static func foreign(_ backend: String, directory: String, found names: [String], flagHint: String) -> OrbitError {
        if let (other, markers) = otherOwner(of: directory, besides: backend) {
            return OrbitError(.invalidArgument,
                              "\(directory) holds \(withArticle(other)) store (\(markers.joined(separator: ", "))); use --backend \(other), or another \(flagHint)",
                              hint: "nothing was opened or written")
        }
        return OrbitError(.invalidArgument,
                          "\(directory) holds no \(backend) store: its files were written by no engine of this build (\(names.joined(separator: ", ")))",
                          hint: "point \(flagHint) at another directory, or move those files away; nothing was opened or written")
    }

    /// A store directory whose path is not usable: an ancestor is a file, or it cannot be created.
    public static func checkPath(_ directory: String, intent: Intent, flagHint: String) throws {
        var path = directory
        while true {
            var st = stat()
            if stat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw OrbitError(.invalidArgument, "\(path) is a file, not a directory", at: flagHint,
                                     hint: flagHint == "--data-dir" ? "--data-dir names a directory that holds one store per backend (<dir>/<backend>)"
                                         : "\(flagHint) names a directory")
                }
                if path != directory, intent == .create, access(path, W_OK) != 0 {
                    throw OrbitError(.invalidArgument, "cannot create the store directory: no write permission on \(path)", at: directory,
                                     hint: "choose a \(flagHint) you can write, or create \(directory) first")
                }
                return
            }
            let e = errno
            guard e == ENOENT || e == ENOTDIR else {  // ENOTDIR: an ancestor is a file, found further up
                throw OrbitError(.invalidArgument, "cannot use \(path): \(String(cString: strerror(e)))", at: flagHint)
            }
            let parent = parentDirectory(of: path)
            if parent == path { return }
            path = parent
        }
    }

    /// `--fresh`: removes `backend`'s store from `directory`, and nothing else. Refuses (exit status 2,
    /// before removing anything) a directory that holds another engine's store, files no engine
    /// wrote, or files beside the store that this engine does not write.
    public static func removeStore(_ backend: String, directory: String, flagHint: String = "--data-dir") throws {
        guard Engines.isDurable(backend) else { return }
        let found = try check(backend, directory: directory, intent: .create, flagHint: flagHint)
        guard case .ours = found, case .entries(let names) = StoreDirectoryListing.list(directory) else { return }
        let strangers = names.filter { !isStoreEntry(backend, $0) }
        guard strangers.isEmpty else {
            throw OrbitError(.invalidArgument,
                             "--fresh would delete files the \(backend) engine did not write: \(StoreDirectoryListing.few(strangers).joined(separator: ", "))",
                             at: directory, hint: "move them out of the store directory, or use another \(flagHint); nothing was deleted")
        }
        for name in names { try POSIXFileSystem().removeTree(joinPath(directory, name)) }
    }

    /// The largest key and value `backend` stores under `settings`, so a workload or a kv command that
    /// exceeds them is refused before any store is opened or deleted.
    public static func limits(_ backend: String, settings: Settings) -> EngineLimits {
        Engines.install()
        return EngineRegistry.descriptor(named: backend)?.limits(settings: settings) ?? .unlimited
    }

    /// Refuses a key or value larger than `backend` stores (`what` names its source, e.g. "key_size").
    public static func checkSizes(_ backend: String, settings: Settings, keySize: Int, valueSize: Int,
                                  keySource: String, valueSource: String) throws {
        let l = limits(backend, settings: settings)
        if keySize > l.maxKeySize {
            throw OrbitError(.invalidArgument, "a \(keySize)-byte key is longer than \(backend) stores (at most \(l.maxKeySize) bytes)",
                             at: keySource, hint: "use keys of at most \(l.maxKeySize) bytes with --backend \(backend)")
        }
        if valueSize > l.maxValueSize {
            throw OrbitError(.invalidArgument, "a \(valueSize)-byte value is larger than \(backend) stores (at most \(l.maxValueSize) bytes)",
                             at: valueSource, hint: "use values of at most \(l.maxValueSize) bytes with --backend \(backend)")
        }
    }
}

import Synchronization

/// The engines of this process: the built-in list (one line in the composition module,
/// `BuiltinEngines`) plus whatever a test registers. Everything that lists, looks up or iterates
/// engines asks here, so a new backend is one module and one line (issue 15).
///
/// Invariant: names (and aliases, normalised) are unique; the order is registration order, which is
/// the order `list`, help texts and "allowed: ..." hints show.
public enum EngineRegistry {
    private static let entries = Mutex<[any EngineDescriptor.Type]>([])

    /// Adds `descriptor`. Registering the same type again is a no-op; another type with a name or
    /// alias already taken is a programming error.
    public static func register(_ descriptor: any EngineDescriptor.Type) {
        entries.withLock { list in
            if list.contains(where: { ObjectIdentifier($0) == ObjectIdentifier(descriptor) }) { return }
            let spellings = Set(([descriptor.name] + descriptor.aliases).map(normalise))
            for d in list where !spellings.isDisjoint(with: ([d.name] + d.aliases).map(normalise)) {
                preconditionFailure("engine \(descriptor.name): a name or alias of \(d.name) is taken")
            }
            list.append(descriptor)
        }
    }

    /// Every registered engine, in registration order.
    public static var all: [any EngineDescriptor.Type] { entries.withLock { $0 } }

    /// The registered backend names, in order.
    public static var names: [String] { all.map { $0.name } }

    /// The engine `name` (or one of its aliases) names; nil when none does.
    public static func descriptor(named name: String) -> (any EngineDescriptor.Type)? {
        let n = normalise(name)
        return all.first { d in normalise(d.name) == n || d.aliases.contains { normalise($0) == n } }
    }

    /// The registered name for a spelling ("LsmTree" → "lsm"); an unknown spelling comes back as it is.
    public static func canonicalName(_ name: String) -> String { descriptor(named: name)?.name ?? name }

    /// The engine `name` names, or a bad-input error listing the registered ones.
    public static func require(_ name: String, code: OrbitError.Code = .invalidConfig) throws -> any EngineDescriptor.Type {
        guard let d = descriptor(named: name) else {
            throw OrbitError(code, "unknown backend '\(name)'", hint: "allowed: " + names.joined(separator: ", "))
        }
        return d
    }

    /// Runs `visitor` specialised on the engine `name` names.
    public static func visit<V: EngineDescriptorVisitor>(_ name: String, _ visitor: V) throws -> V.Result {
        try visit(require(name), visitor)
    }

    /// Runs `visitor` specialised on `descriptor` (the existential metatype is opened here).
    public static func visit<V: EngineDescriptorVisitor>(_ descriptor: any EngineDescriptor.Type, _ visitor: V) throws -> V.Result {
        try open(descriptor, visitor)
    }

    /// The registered engines with every capability of `capabilities`, in order.
    public static func names(with capabilities: EngineCapabilities) -> [String] {
        all.filter { $0.capabilities.isSuperset(of: capabilities) }.map { $0.name }
    }

    private static func open<D: EngineDescriptor, V: EngineDescriptorVisitor>(_ d: D.Type, _ visitor: V) throws -> V.Result {
        try visitor.visit(d)
    }

    static func normalise(_ name: String) -> String { String(name.lowercased().filter { $0 != "_" && $0 != "-" }) }
}

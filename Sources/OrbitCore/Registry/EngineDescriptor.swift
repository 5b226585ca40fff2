/// One engine, as the harness knows it: everything Runner, CrashLab, the CLI, `list` and the test
/// support need, exported by the engine's own module (docs/architecture.md, "The engine registry").
///
/// A descriptor is a type (an enum without cases), so a visitor handed `D.Type` is specialised on
/// `D.Engine` and every engine call inside it is direct, never existential.
///
/// SKELETON (issue 15): the shape the registry work fills in; requirements may still change on the
/// `reg` branch. `fileLayout` is the part the `layout` branch implements per engine.
public protocol EngineDescriptor: Sendable {
    associatedtype Engine: StorageEngine

    /// The backend name in results, flags and workload files ("lsm").
    static var name: String { get }
    /// One line for `orbit-bench list`.
    static var summary: String { get }

    /// The format of one file of a store of this engine (`relativePath` below the store directory,
    /// `bytes` its content), from the engine's own format constants: what CrashLab's corruption,
    /// file-damage and I/O-error sweeps damage and how they name it. Nil: the engine keeps no files.
    static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout?
}

/// A piece of work written once for every engine and specialised per engine.
public protocol EngineDescriptorVisitor {
    associatedtype Result
    func visit<D: EngineDescriptor>(_ descriptor: D.Type) throws -> Result
}

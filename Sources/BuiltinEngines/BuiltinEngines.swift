public import OrbitCore
import CowBTree
import EtcdEngine
import LMDBEngine
import LSMTree
import MemoryEngine
import PostgresEngine
import RedisEngine
import RocksDBEngine
import S3Engine

/// The engines of this build: the composition point of the registry (issue 15). A new backend is
/// its module, its descriptor, and one entry in the line below.
public enum BuiltinEngines {
    /// In the order `list`, help texts and "allowed: ..." hints show them.
    public static let descriptors: [any EngineDescriptor.Type] = [MemoryDescriptor.self, RocksDBDescriptor.self, LMDBDescriptor.self, CowDescriptor.self, LSMDescriptor.self, PostgresDescriptor.self, RedisDescriptor.self, EtcdDescriptor.self, S3Descriptor.self]

    private static let installed: Void = { for d in descriptors { EngineRegistry.register(d) } }()

    /// Registers the built-in engines (once per process; later calls do nothing). Every entry point
    /// that resolves engine names calls it first: the CLI's main, `Configuration`, `Engines`, the
    /// test support.
    public static func install() { installed }
}

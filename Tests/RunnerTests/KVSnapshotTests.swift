import OrbitCore
import OrbitTestSupport
import Runner
import Testing

/// `orbit-bench kv snapshot ...` through the library call, on the durable engines of this build.
@Suite("kv snapshots")
struct KVSnapshotTests {
    @Test(arguments: ["cow", "lmdb", "rocksdb"]) func createRestoreListDrop(_ backend: String) throws {
        try withTemporaryDirectory(prefix: "orbit-kv-snap") { dir in
            let c = try Configuration().setting("data_dir", dir).setting("backends", backend)
            func kv(_ a: KVTool.Action) throws -> KVTool.Output { try KVTool.perform(a, backend: backend, settings: c.settings) }
            _ = try kv(.put(key: Array("k".utf8), value: Array("v1".utf8)))
            _ = try kv(.snapshot(.create, name: "s1"))
            _ = try kv(.put(key: Array("k".utf8), value: Array("v2".utf8)))
            guard case .names(let names) = try kv(.snapshot(.list, name: nil)) else { Issue.record("no list"); return }
            #expect(names == ["s1"])
            _ = try kv(.snapshot(.restore, name: "s1"))
            guard case .value(let v) = try kv(.get(key: Array("k".utf8))) else { Issue.record("no value"); return }
            #expect(v == Array("v1".utf8))
            _ = try kv(.snapshot(.drop, name: "s1"))
            guard case .names(let after) = try kv(.snapshot(.list, name: nil)) else { Issue.record("no list"); return }
            #expect(after.isEmpty)
            #expect(throws: OrbitError.self) { try kv(.snapshot(.create, name: nil)) }
        }
    }
}

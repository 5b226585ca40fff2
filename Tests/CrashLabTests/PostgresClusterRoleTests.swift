import OrbitCore
import OrbitTestSupport
import Testing
@testable import PostgresEngine

/// Which node of a `postgres.standby=sync` store is its primary, decided at open before any server
/// starts (`PostgresCluster.primaryIndex`): from `cluster.primary`, else from the nodes'
/// `standby.signal`. A value that is not a node index, and two primaries with no file to choose
/// between them, are errors that name the file or the store and change nothing.
@Suite struct PostgresClusterRoleTests {
    /// Node directories as a store has them (no server runs: only the files the decision reads).
    static func nodes(_ dir: String, node1Made: Bool, standby: Int?) throws -> [PostgresCluster.Node] {
        let fs = POSIXFileSystem()
        let nodes = [PostgresCluster.Node(index: 0, data: joinPath(dir, "server"), log: joinPath(dir, "server.log")),
                     PostgresCluster.Node(index: 1, data: joinPath(dir, "server-standby"), log: joinPath(dir, "standby.log"))]
        try fs.createDirectory(nodes[0].data, intermediates: true)
        try fs.writeFileAtomically(joinPath(nodes[0].data, "PG_VERSION"), Array("17\n".utf8))
        if node1Made {
            try fs.createDirectory(nodes[1].data, intermediates: true)
            try fs.writeFileAtomically(joinPath(nodes[1].data, "PG_VERSION"), Array("17\n".utf8))
        }
        if let standby { try fs.writeFileAtomically(joinPath(nodes[standby].data, "standby.signal"), []) }
        return nodes
    }

    /// Every file below `dir` with its bytes, to show an error changed nothing.
    static func snapshot(_ dir: String) throws -> [String: [UInt8]] {
        let fs = POSIXFileSystem()
        var out: [String: [UInt8]] = [:]
        func walk(_ d: String) throws {
            for name in try fs.list(directory: d) {
                let p = joinPath(d, name)
                if (try? fs.list(directory: p)) != nil { try walk(p) } else { out[p] = try fs.readFile(p) }
            }
        }
        try walk(dir)
        return out
    }

    @Test func theFileNamesThePrimary() throws {
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: true, standby: 0)
            for (text, want) in [("0\n", 0), ("1", 1), (" 1 \n", 1)] {
                try POSIXFileSystem().writeFileAtomically(joinPath(dir, PostgresCluster.primaryFile), Array(text.utf8))
                #expect(try PostgresCluster.primaryIndex(dir, nodes) == want, "cluster.primary \(text.debugDescription)")
            }
        }
    }

    @Test func withoutTheFileTheNodeThatIsNotAStandbyIsThePrimary() throws {
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: false, standby: nil)
            #expect(try PostgresCluster.primaryIndex(dir, nodes) == 0)
        }
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: true, standby: 1)
            #expect(try PostgresCluster.primaryIndex(dir, nodes) == 0)
        }
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: true, standby: 0)
            #expect(try PostgresCluster.primaryIndex(dir, nodes) == 1)
        }
    }

    @Test(arguments: ["2", "-1", "primary", "", "0 1"])
    func aValueThatIsNotANodeIndexIsAnErrorNamingTheFile(_ text: String) throws {
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: true, standby: 1)
            let path = joinPath(dir, PostgresCluster.primaryFile)
            try POSIXFileSystem().writeFileAtomically(path, Array(text.utf8))
            let before = try Self.snapshot(dir)
            do {
                _ = try PostgresCluster.primaryIndex(dir, nodes)
                Issue.record("cluster.primary \(text.debugDescription) was accepted")
            } catch let e as OrbitError {
                #expect(e.code == .corruption, "\(e)")
                #expect(e.location == path, "\(e)")
                #expect(e.message.contains("not a node index (0 or 1)"), "\(e)")
            }
            #expect(try Self.snapshot(dir) == before)
        }
    }

    @Test func twoPrimariesAndNoFileIsAnErrorThatChangesNothing() throws {
        try withTemporaryDirectory { dir in
            let nodes = try Self.nodes(dir, node1Made: true, standby: nil)
            let before = try Self.snapshot(dir)
            do {
                _ = try PostgresCluster.primaryIndex(dir, nodes)
                Issue.record("two primaries without cluster.primary were accepted")
            } catch let e as OrbitError {
                #expect(e.code == .corruption, "\(e)")
                #expect(e.location == dir, "\(e)")
                #expect(e.message.contains("both nodes of the postgres cluster are primaries"), "\(e)")
                #expect(e.hint?.contains("nothing was changed") == true, "\(e)")
            }
            #expect(try Self.snapshot(dir) == before)
        }
    }
}

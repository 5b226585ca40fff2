#if canImport(Glibc)
import Glibc
#endif
import OrbitCore
import OrbitTestSupport
import Testing
@testable import S3Engine

/// The managed SeaweedFS cluster as node-kill sees it (`S3Engine: ClusterBackedEngine`): its volume
/// servers are the nodes; one killed is `down` and dropped by the master while the others serve;
/// restarted on its own directory and ports, it is listed again with the volumes it had.
@Suite(.serialized) struct SeaweedClusterNodesTests {
    @Test func masterTopologyParsing() {
        let status = #"{"Topology":{"DataCenters":[{"Racks":[{"DataNodes":[{"Url":"127.0.0.1:18081","PublicUrl":"127.0.0.1:18081","Volumes":4,"VolumeIds":" 1-2 4 6"},{"Url":"127.0.0.1:1808","Volumes":0,"VolumeIds":" "},{"Url":"127.0.0.1:18083","Volumes":5,"VolumeIds":" 2-6"}]}]}]}}"#
        #expect(SeaweedCluster.listedVolumes(in: status, url: "127.0.0.1:18081") == [1, 2, 4, 6])
        #expect(SeaweedCluster.listedVolumes(in: status, url: "127.0.0.1:18083") == [2, 3, 4, 5, 6])
        #expect(SeaweedCluster.listedVolumes(in: status, url: "127.0.0.1:1808") == [])
        #expect(SeaweedCluster.listedVolumes(in: status, url: "127.0.0.1:18082") == nil)
        #expect(SeaweedCluster.listedVolumes(in: "", url: "127.0.0.1:18081") == nil)
    }

    @Test func volumeServerKilledAndRejoined() throws {
        try withTemporaryDirectory(prefix: "orbit-s3-nodes") { dir in
            let e = try S3Engine(directory: dir, options: S3Options(), durability: .everyWrite, access: .readWrite)
            defer { try? e.close() }
            let cluster = try #require(e.cluster)
            for i in 0..<20 { try e.put(Array("key-\(i)".utf8), Array("value-\(i)".utf8)) }
            let before = try e.clusterNodes()
            #expect(before.map(\.role) == ["volume", "volume", "volume"], "\(before)")
            let listed = cluster.listedVolumes(port: cluster.volumes[1].port) ?? []
            try e.killNode(1)
            #expect(try e.clusterNodes().map(\.role) == ["volume", "down", "volume"])
            // The master drops it by itself (its heartbeat stream broke); the others keep serving.
            let deadline = MonotonicClock.nanoseconds() &+ 30_000_000_000
            while cluster.listedVolumes(port: cluster.volumes[1].port) != nil, MonotonicClock.nanoseconds() < deadline { usleep(20_000) }
            #expect(cluster.listedVolumes(port: cluster.volumes[1].port) == nil, "the master still lists the killed volume server")
            for i in 0..<20 {
                let got = try e.get(Array("key-\(i)".utf8))
                #expect(got == Array("value-\(i)".utf8), "key-\(i) after the kill")
            }
            try e.put(Array("after".utf8), Array("kill".utf8))
            let port = cluster.volumes[1].port
            try e.restartNode(1)
            #expect(cluster.volumes[1].port == port, "restarted on another port")
            #expect(try e.clusterNodes().map(\.role) == ["volume", "volume", "volume"])
            #expect((cluster.listedVolumes(port: port) ?? []).isSuperset(of: listed))
            #expect(try e.get(Array("after".utf8)) == Array("kill".utf8))
        }
    }
}

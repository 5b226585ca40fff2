import Foundation
import Testing
import OrbitCore
import Reports
@testable import Runner

/// interval-<backend>-<op>.hlog, checked by an independent decoder: the PyPI `hdrhistogram` package
/// (scripts/hlog-decode.py, installed by .ci/run and scripts/install-deps.sh) reads every interval
/// back, and its counts and percentiles must equal ours (percentiles compared as HdrHistogram
/// buckets: two values are the same figure when they fall in the same bucket).
@Suite(.serialized)
struct IntervalLogTests {
    /// Runs `python3 scripts/hlog-decode.py path`; one JSON object per interval.
    static func decode(_ path: String) throws -> [[String: Any]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "scripts/hlog-decode.py", path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "hlog-decode.py failed (is `pip install hdrhistogram` done?): \(errors)")
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    static func sameBucket(_ a: UInt64, _ b: UInt64) -> Bool {
        LatencyBuckets.index(max(1, a)) == LatencyBuckets.index(max(1, b))
    }

    /// The value at `percentile` of our interval's buckets, by HdrHistogram's definition (the
    /// smallest bucket whose cumulative count reaches percentile/100 × total, rounded to nearest):
    /// the figure the decoder computes from the counts it decoded.
    static func valueAt(_ percentile: Double, _ buckets: [IntervalBucket]) -> UInt64 {
        let total = buckets.reduce(0) { $0 + $1.count }
        let target = max(1, UInt64(percentile / 100 * Double(total) + 0.5))
        var seen: UInt64 = 0
        for b in buckets.sorted(by: { $0.value < $1.value }) {
            seen += b.count
            if seen >= target { return b.value }
        }
        return buckets.map(\.value).max() ?? 0
    }

    /// An open-loop run (so both untagged service-time and `Tag=intended` lines are written) over
    /// several intervals.
    @Test func pythonHdrHistogramDecodesOurIntervalLogs() throws {
        let seed: UInt64 = 1919
        print("seed \(seed)")
        let out = Fixtures.tempDir("hlog")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var c = Configuration()
        try c.applyWorkloadFile(path: "workloads/read-heavy.yaml")
        try c.applyFlags(sets: ["record_count=500", "operation_count=6000", "warmup_ops=0", "seed=\(seed)",
                                "target_ops_s=20000", "interval_s=0.1"],
                         backends: ["memory"], dataDir: nil)
        var s = BenchmarkSession(configuration: c)
        s.outputDirectory = out
        s.showStatus = false
        let r = try s.run()
        let backend = r.backends[0]
        var checked = 0
        for op in Set(backend.timeseries.map(\.operation)) {
            let path = out + "/interval-\(backend.backend)-\(op.name).hlog"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("#[Histogram log format version 1.3]\n#[StartTime: "))
            let decoded = try Self.decode(path)
            var expected: [(tag: String?, figures: IntervalSummary)] = []
            for row in backend.timeseries where row.operation == op {
                if let l = row.latency, l.count > 0 { expected.append((nil, l)) }
                if let l = row.intendedLatency, l.count > 0 { expected.append(("intended", l)) }
            }
            #expect(decoded.count == expected.count, "\(path): \(decoded.count) intervals decoded, \(expected.count) written")
            for (d, e) in zip(decoded, expected) {
                #expect((d["tag"] as? String) == e.tag)
                #expect((d["count"] as? Int).map(UInt64.init) == e.figures.count)
                let pct = d["percentiles"] as! [String: Int]
                for (name, p) in [("50", 50.0), ("90", 90), ("95", 95), ("99", 99), ("99.9", 99.9), ("99.99", 99.99)] {
                    let ours = Self.valueAt(p, e.figures.buckets)
                    let theirs = UInt64(pct[name]!)
                    #expect(Self.sameBucket(theirs, ours), "\(path) p\(name): python \(theirs) ns, ours \(ours) ns")
                }
                #expect(Self.sameBucket(UInt64(d["max"] as! Int), e.figures.max))
                #expect(Self.sameBucket(UInt64(d["min"] as! Int), e.figures.min))
                checked += 1
            }
        }
        #expect(checked >= 4)
    }

    /// The counts encoding on its own: long runs of empty buckets, a count needing several varint
    /// bytes, the highest trackable bucket.
    @Test func encodingRoundTripsExtremes() throws {
        let dir = Fixtures.tempDir("hlog-extremes")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let buckets = [IntervalBucket(value: 1, count: 3), IntervalBucket(value: 2047, count: 1),
                       IntervalBucket(value: 1_000_000, count: 300_000), IntervalBucket(value: 3_500_000_000_000, count: 2)]
        let line = "0.000,1.000,3500000.000," + (try IntervalLog.encode(buckets)) + "\n"
        try ("#[StartTime: 1000.000 (seconds since epoch), x]\n#[BaseTime: 1000.000 (seconds since epoch)]\n" + line).write(toFile: dir + "/x.hlog", atomically: true, encoding: .utf8)
        let d = try Self.decode(dir + "/x.hlog")
        #expect(d.count == 1)
        #expect((d.first?["count"] as? Int) == 300_006)
        #expect(Self.sameBucket(UInt64(d.first?["max"] as? Int ?? 0), 3_500_000_000_000))
        #expect((d.first?["min"] as? Int) == 1)
        #expect(Self.sameBucket(UInt64((d.first?["percentiles"] as? [String: Int])?["50"] ?? 0), 1_000_000))
    }
}

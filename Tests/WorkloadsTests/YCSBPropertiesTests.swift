import Foundation
import Testing
import OrbitCore
import Runner
import Workloads

/// YCSB property files: syntax, mapping onto knobs, YCSB's defaults, errors, and the core workloads
/// A-F run on `memory` with YCSB's proportions.
struct YCSBPropertiesTests {
    static func configuration(_ files: [String], _ overrides: [String] = []) throws -> Configuration {
        var c = Configuration()
        try c.applyPropertyFiles(files, overrides: overrides)
        try c.applyFlags(sets: [], backends: [], dataDir: nil)
        return c
    }

    static func temp(_ text: String) -> String {
        let p = NSTemporaryDirectory() + "orbit-ycsb-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).properties"
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    @Test func javaPropertiesSyntax() throws {
        let e = try PropertiesFile.parse("""
            # comment
            ! another
              recordcount = 10
            readproportion:0.5
            requestdistribution zipfian
            table=user\\
                table
            escaped\\=key=a\\tb
            """, path: "x")
        #expect(e.map(\.key) == ["recordcount", "readproportion", "requestdistribution", "table", "escaped=key"])
        #expect(e.map(\.value) == ["10", "0.5", "zipfian", "usertable", "a\tb"])
        #expect(e.map(\.line) == [3, 4, 5, 6, 8])
        #expect(e[0].column == 3)
    }

    @Test func ycsbDefaultsApplyWhereAPropertyIsAbsent() throws {
        let p = Self.temp("recordcount=500\n")
        defer { try? FileManager.default.removeItem(atPath: p) }
        let c = try Self.configuration([p])
        let w = try Workload(settings: c.settings)
        #expect(w.recordCount == 500)
        #expect(w.mix.map(\.op) == [.get, .update])
        #expect(w.mix.map(\.proportion) == [0.95, 0.05])
        #expect(w.valueSize == 1000...1000)          // 10 fields of 100 bytes, one value
        #expect(w.scanLength == 1...1000)
        #expect(w.keyDistribution == .uniform)
        #expect(w.keyStyle == .ycsb(hashed: true, zeroPadding: 1))
        #expect(w.statusIntervalSeconds == 10 && w.intervalSeconds == 10)
        #expect(c.settings.source("mix.read") == .ycsbDefault("readproportion=0.95"))
        #expect(c.settings.source("record_count") == .workload(path: p, line: 1, column: 1))
    }

    @Test func laterFilesAndOverridesWin() throws {
        let a = Self.temp("recordcount=500\nthreadcount=2\nfieldcount=1\n")
        let b = Self.temp("recordcount=700\n")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        var c = Configuration()
        try c.applyPropertyFiles([a, b], overrides: ["threadcount=3", "fieldlength=7", "durability=every-write"])
        try c.applyEnvironment(["ORBIT_THREADS": "5"])
        try c.applyFlags(sets: [], backends: [], dataDir: nil)
        let w = try Workload(settings: c.settings)
        #expect(w.recordCount == 700)
        #expect(w.threads == 3)                       // -p is a flag: it beats the environment
        #expect(w.valueSize == 7...7)                 // fieldcount from file a, fieldlength from -p
        #expect(c.settings.string("durability") == "every-write")
        #expect(c.settings.source("threads") == .flag("-p threadcount=3"))
    }

    @Test func unknownPropertyIsAnExactError() throws {
        let p = Self.temp("recordcount=10\n\nreadproportio=0.5\n")
        defer { try? FileManager.default.removeItem(atPath: p) }
        #expect { try Self.configuration([p]) } throws: { e in
            let d = (e as? OrbitError)?.description ?? ""
            return d.hasPrefix("\(p):3:1: unknown property 'readproportio' (did you mean 'readproportion'?); supported YCSB properties: dataintegrity, dotransactions,")
                && (e as? OrbitError)?.code == .invalidWorkload
        }
        #expect { try Self.configuration([], ["nosuch=1"]) } throws: { e in
            (e as? OrbitError)?.description.hasPrefix("flag -p nosuch=1: unknown property 'nosuch'; supported YCSB properties:") == true
        }
        let bad = Self.temp("requestdistribution=pareto\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect { try Self.configuration([bad]) } throws: { e in
            (e as? OrbitError)?.description
                == "\(bad):1:1: requestdistribution: bad value 'pareto'; allowed: exponential, hotspot, latest, sequential, uniform, zipfian"
        }
    }

    @Test func bindingPropertiesAreIgnoredWithANotice() throws {
        let p = Self.temp("mongodb.url=mongodb://localhost\nrocksdb.dir=/tmp/x\nhosts=a,b\ndb=site.ycsb.BasicDB\n")
        defer { try? FileManager.default.removeItem(atPath: p) }
        let c = try Self.configuration([p])
        #expect(c.notices.count == 4)
        #expect(c.notices[0] == "\(p):1:1: database-binding property 'mongodb.url' ignored (orbit-bench drives its own engines; choose one with --backend)")
        #expect(c.notices[3].contains("property 'db' has no effect here"))
    }

    @Test func keysAreNamedAsYCSBNamesThem() {
        let hashed = KeyFormatter(style: .ycsb(hashed: true, zeroPadding: 1))
        #expect(String(decoding: Array(hashed.format(0)), as: UTF8.self) == "user6284781860667377211")
        #expect(String(decoding: Array(hashed.format(1)), as: UTF8.self) == "user8517097267634966620")
        let ordered = KeyFormatter(style: .ycsb(hashed: false, zeroPadding: 8))
        #expect(String(decoding: Array(ordered.format(42)), as: UTF8.self) == "user00000042")
        #expect(String(decoding: Array(ordered.format(123_456_789)), as: UTF8.self) == "user123456789")
    }

    /// Every core workload parses and runs on `memory`; over 100,000 operations its mix is YCSB's to ±1%.
    @Test(arguments: ["a", "b", "c", "d", "e", "f"])
    func coreWorkloadRunsWithYCSBProportions(_ name: String) throws {
        let c = try Self.configuration(["workloads/ycsb/workload" + name], ["operationcount=100000", "maxscanlength=10"])
        let w = try Workload(settings: c.settings)
        let expected: [String: [OperationType: Double]] = [
            "a": [.get: 0.5, .update: 0.5], "b": [.get: 0.95, .update: 0.05], "c": [.get: 1],
            "d": [.get: 0.95, .insert: 0.05], "e": [.rangeQuery: 0.95, .insert: 0.05], "f": [.get: 0.5, .readModifyWrite: 0.5],
        ]
        #expect(Dictionary(uniqueKeysWithValues: w.mix.map { ($0.op, $0.proportion) }) == expected[name]!)
        let r = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false).run(backend: "memory", directory: "")
        #expect(r.errors.isEmpty)
        let run = r.operations.filter { $0.phase == "run" }
        let total = run.reduce(0) { $0 + $1.count }
        #expect(total == 100_000)
        for (op, p) in expected[name]! {
            let share = Double(run.first { $0.operation == op }?.count ?? 0) / Double(total)
            #expect(abs(share - p) <= 0.01, "workload\(name) \(op): \(share) vs \(p)")
        }
        // Reads find what the load phase wrote (keys are named alike in both phases).
        if let reads = run.first(where: { $0.operation == .get }) { #expect(reads.notFound == 0) }
    }

    @Test func sameSeedSameStreamThroughProperties() throws {
        let w1 = try Workload(settings: Self.configuration(["workloads/ycsb/workloada"], ["threadcount=2"]).settings)
        let w2 = try Workload(settings: Self.configuration(["workloads/ycsb/workloada"], ["threadcount=2"]).settings)
        func digest(_ w: Workload, _ t: Int) -> UInt64 {
            var s = OpStream(workload: w, thread: t)
            for _ in 0..<10_000 { _ = s.next() }
            return s.digest
        }
        #expect(digest(w1, 0) == digest(w2, 0))
        #expect(digest(w1, 1) == digest(w2, 1))
        #expect(digest(w1, 0) != digest(w1, 1))
    }
}

/// YCSB's key choosers against their definitions.
struct YCSBDistributionTests {
    @Test func zetaOfTenBillionItemsIsYCSBsConstant() {
        let z = ScrambledZipfianGenerator.zeta(10_000_000_000, theta: 0.99)
        #expect(abs(z - ScrambledZipfianGenerator.zetaN99) / ScrambledZipfianGenerator.zetaN99 < 1e-9, "\(z)")
    }

    /// Rank-frequency of the scrambled zipfian's keys: log(frequency) falls with slope -0.99 in log(rank).
    @Test func scrambledZipfianRankFrequencySlope() {
        var z = ScrambledZipfianGenerator(keySpace: 1_000_000, constant: 0.99)
        var rng = SeededRNG(seed: 11)
        var counts: [UInt64: Int] = [:]
        for _ in 0..<300_000 { counts[z.next(&rng), default: 0] += 1 }
        let top = counts.values.sorted(by: >).prefix(30)
        let xs = (1...top.count).map { log(Double($0)) }, ys = top.map { log(Double($0)) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let slope = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        #expect(abs(slope + 0.99) < 0.1, "slope \(slope)")
        // The hottest key takes about 1/zeta(10^10) = 3.8% of the draws.
        #expect(abs(Double(top.first!) / 300_000 - 1 / ScrambledZipfianGenerator.zetaN99) < 0.004)
    }

    @Test func latestPutsMostAccessesOnTheNewestTenPercent() {
        var chooser = KeyChooser(.latest(constant: 0.99), records: 10_000, thread: 0, threads: 1)
        var rng = SeededRNG(seed: 12)
        var newest = 0
        for _ in 0..<100_000 where chooser.next(&rng, existing: 10_000) >= 9_000 { newest += 1 }
        #expect(newest > 50_000, "\(newest)")
    }

    @Test func hotspotHonoursYCSBFractions() throws {
        let c = try YCSBPropertiesTests.configuration(["workloads/ycsb/workloadc"],
            ["requestdistribution=hotspot", "hotspotdatafraction=0.3", "hotspotopnfraction=0.7", "recordcount=10000"])
        var s = OpStream(workload: try Workload(settings: c.settings), thread: 0)
        var hot = 0
        for _ in 0..<100_000 where s.next().record < 3_000 { hot += 1 }
        #expect(abs(Double(hot) / 100_000 - 0.7) <= 0.01, "\(hot)")
    }

    @Test func exponentialPutsItsPercentileOnTheNewestFraction() throws {
        let c = try YCSBPropertiesTests.configuration(["workloads/ycsb/workloadc"],
            ["requestdistribution=exponential", "recordcount=10000"])
        var s = OpStream(workload: try Workload(settings: c.settings), thread: 0)
        var within = 0
        // 95% of draws fall within the newest 10000 * 0.8571428571 records; draws past the oldest record
        // are drawn again (as YCSB does), which lifts the share to 0.95 / (1 - 0.05^(10000 / 8571.43)).
        for _ in 0..<100_000 where s.next().record >= 10_000 - 8_571 { within += 1 }
        let expected = 0.95 / (1 - pow(0.05, 10_000 / (10_000 * 0.8571428571)))
        #expect(abs(Double(within) / 100_000 - expected) <= 0.01, "\(within) vs \(expected)")
    }
}

/// dataintegrity: values derived from the key, every read checked.
struct YCSBDataIntegrityTests {
    @Test func readsVerifyWhatTheLoadWrote() throws {
        let c = try YCSBPropertiesTests.configuration(["workloads/ycsb/workloadb"],
            ["dataintegrity=true", "operationcount=5000", "insertorder=ordered", "zeropadding=10"])
        let w = try Workload(settings: c.settings)
        #expect(w.dataIntegrity && w.keyStyle == .ycsb(hashed: false, zeroPadding: 10))
        let r = try BenchmarkRunner(workload: w, settings: c.settings, showStatus: false).run(backend: "memory", directory: "")
        #expect(r.errors.isEmpty)
        #expect(r.operations.first { $0.operation == .get }?.notFound == 0)
    }

    @Test func dataIntegrityNeedsConstantFieldLengths() throws {
        #expect { try Workload(settings: YCSBPropertiesTests.configuration(["workloads/ycsb/workloadb"],
                   ["dataintegrity=true", "fieldlengthdistribution=uniform"]).settings) } throws: { e in
            (e as? OrbitError)?.description.hasPrefix("flag -p dataintegrity=true: data_integrity needs a constant value size, got 10...1000") == true
        }
    }
}

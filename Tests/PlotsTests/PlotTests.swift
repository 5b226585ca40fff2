import Foundation
import Testing
import OrbitCore
@testable import Plots
import Reports

/// Fixtures: results directories written by `orbit-bench run` (trimmed) and a crash.csv.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static func path(_ name: String) -> String { root + "/" + name }

    static func tempDir(_ tag: String) -> String {
        let dir = NSTemporaryDirectory() + "orbit-plots-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }
}

/// Every plot kind is drawn by gnuplot from fixture results, and each PNG is a valid, non-blank picture.
@Suite(.serialized)
struct PlotTests {
    static func expectDrawn(_ plot: Plotter.Plot) throws {
        for f in [plot.script, plot.png, plot.svg] {
            #expect(FileManager.default.fileExists(atPath: f), "\(f) missing")
        }
        let png = try PNGCheck.read(plot.png)
        #expect(png.width == 1100 && png.height == 720, "\(plot.name): \(png.width)x\(png.height)")
        // Text, axes and lines in several colours, on a white background that does not fill the picture.
        #expect(png.distinctColours > 8, "\(plot.name): \(png.distinctColours) colours")
        #expect(png.inkFraction > 0.01, "\(plot.name): only \(png.inkFraction) of the pixels are drawn")
        let svg = try String(contentsOfFile: plot.svg, encoding: .utf8)
        #expect(svg.contains("<svg"))
    }

    @Test func drawsEveryPlotKindOfARunDirectory() throws {
        let out = Fixtures.tempDir("run")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let plots = try Plotter.plot(directories: [Fixtures.path("run-a")], out: out)
        let names = Set(plots.map(\.name))
        for name in ["latency-spectrum-get", "latency-spectrum-update", "throughput-over-time", "p99-over-time",
                     "memory-over-time", "disk-over-time", "amplification"] {
            #expect(names.contains(name), "no \(name) in \(names.sorted())")
        }
        for p in plots { try Self.expectDrawn(p) }
        // Titles carry the run id; series are labelled with backend and durability mode.
        let spectrum = try String(contentsOfFile: out + "/latency-spectrum-get.gp", encoding: .utf8)
        #expect(spectrum.contains("20261123-083000-read-heavy"))
        #expect(spectrum.contains("\"rocksdb (none)\""))
        #expect(spectrum.contains("\"99.9%%\" 1000"))
        #expect(spectrum.contains("set logscale x"))
    }

    @Test func drawsCrashPlotsFromCrashCSV() throws {
        let out = Fixtures.tempDir("crash")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let plots = try Plotter.plot(directories: [Fixtures.path("crash")], out: out)
        #expect(Set(plots.map(\.name)) == ["crash-recovery-time", "crash-unsynced-lost"])
        for p in plots { try Self.expectDrawn(p) }
        let gp = try String(contentsOfFile: out + "/crash-recovery-time.gp", encoding: .utf8)
        #expect(gp.contains("\"lsm (none) kill\""))
        #expect(gp.contains("\"cow (none) power-loss\""))
    }

    @Test func drawsSeveralRunsTogetherLabelledByRun() throws {
        let out = Fixtures.tempDir("multi")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let plots = try Plotter.plot(directories: [Fixtures.path("run-a"), Fixtures.path("run-b")], out: out)
        #expect(plots.contains { $0.name == "latency-spectrum-get" })
        let gp = try String(contentsOfFile: out + "/latency-spectrum-get.gp", encoding: .utf8)
        #expect(gp.contains("rocksdb (none) · 20261123-083000-read-heavy"))
        #expect(gp.contains("rocksdb (none) · 20261123-090000-read-heavy"))
        try Self.expectDrawn(plots[0])
    }

    @Test func refusesSeveralDirectoriesWithoutOut() {
        #expect(throws: OrbitError.self) { try Plotter.plot(directories: [Fixtures.path("run-a"), Fixtures.path("run-b")]) }
    }

    @Test func namesTheFileOfAMalformedCSV() throws {
        let dir = Fixtures.tempDir("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "elapsed_s,backend\n1.0,memory\n2.0\n".write(toFile: dir + "/stats.csv", atomically: true, encoding: .utf8)
        do {
            _ = try ResultsDirectory.read(dir)
            Issue.record("a short row was accepted")
        } catch let e as OrbitError {
            #expect("\(e)".contains("stats.csv:3"))
        }
    }

    @Test func parsesQuotedCSVCells() throws {
        let t = try CSVTable.read(Fixtures.path("crash/crash.csv"))
        #expect(t.rows.count == 8)
        #expect(try t.string(7, "detail") == "detail with a comma, and \"quotes\"")
        #expect(try t.number(0, "recovery_ms") == 3.412)
    }
}

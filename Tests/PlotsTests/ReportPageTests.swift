#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import OrbitCore
import Plots
import Reports

/// report.html (issue 19 item 9): one self-contained page with the tables, every plot inline as SVG,
/// the environment and the effective configuration; rendered by headless Chromium into a non-blank
/// screenshot with no console message.
@Suite(.serialized)
struct ReportPageTests {
    static func page(_ out: String) throws -> (html: String, plots: Int) {
        let runs = try [Fixtures.path("run-a"), Fixtures.path("run-b")].map(ResultsDirectory.read)
        let plots = try Plotter.plot(runs: runs, out: out + "/plots")
        let html = ReportPage.html(rows: try Report.rows(runs), runs: runs, plots: plots, plotNote: nil)
        try html.write(toFile: out + "/report.html", atomically: true, encoding: .utf8)
        return (html, plots.count)
    }

    @Test func thePageHoldsTablesPlotsEnvironmentAndConfiguration() throws {
        let out = Fixtures.tempDir("html")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let (html, plots) = try Self.page(out)
        #expect(plots > 0)
        #expect(html.components(separatedBy: "<svg").count - 1 == plots, "every plot inline")
        #expect(!html.contains("<script") && !html.contains("src=\"") && !html.contains("<?xml"), "self-contained, no prolog inside HTML")
        #expect(html.contains("<h2>run: get</h2>"))
        #expect(html.contains("Effective configuration") && html.contains("Environment"))
        #expect(html.contains("unbounded"), "the memory regime of every row")
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    }

    /// Chromium draws the page: a screenshot with ink in it and not one console message. Required in
    /// CI (.ci/run installs chromium); elsewhere skipped with the reason printed when it is missing.
    @Test func chromiumRendersThePage() throws {
        let candidates: [String] = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        let chromium = candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("chromium is not installed (CI installs it)") }
            print("[skip] ReportPageTests.chromiumRendersThePage: no chromium here")
            return
        }
        let out = Fixtures.tempDir("chromium")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try Self.page(out)
        let shot = out + "/report.png"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                       "--user-data-dir=" + out + "/profile", "--enable-logging=stderr", "--v=0",
                       "--window-size=1280,2400", "--screenshot=" + shot, "file://" + out + "/report.html"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "chromium exit \(p.terminationStatus): \(log.suffix(2000))")
        let console = log.split(separator: "\n").filter { $0.contains("CONSOLE") }
        #expect(console.isEmpty, "console messages: \(console)")
        let png = try PNGCheck.read(shot)
        print("[chromium] report.png \(png.width)x\(png.height), \(png.distinctColours) colours, ink \(png.inkFraction); \(shot)")
        #expect(png.width == 1280 && png.height == 2400)
        #expect(png.distinctColours > 16 && png.inkFraction > 0.02, "a blank page: \(png.distinctColours) colours, ink \(png.inkFraction)")
        if let keep = ProcessInfo.processInfo.environment["ORBIT_KEEP_SCREENSHOT"] { try? FileManager.default.copyItem(atPath: shot, toPath: keep) }
    }
}

import OrbitCore
import Foundation

/// The percentile lines of an HdrHistogram `.hgrm` file (`Value Percentile TotalCount 1/(1-Percentile)`).
public struct HgrmFile: Sendable {
    public struct Point: Sendable, Equatable {
        /// Latency, µs (the files are written in µs).
        public var value: Double
        /// 0...1.
        public var percentile: Double
        public var totalCount: UInt64
        /// 1/(1-percentile); infinite for the last line (percentile 1).
        public var inverse: Double
    }

    public var points: [Point]
    /// From the `#[Max = ...]` footer, µs.
    public var max: Double?

    public static func read(_ path: String) throws -> HgrmFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw OrbitError(.io, "cannot read histogram", at: path, cause: .library("\(error)"))
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> HgrmFile {
        var points: [Point] = []
        var max: Double?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#[Max") {
                // "#[Max     =        2.047, Total count    =         1000]"
                if let eq = line.firstIndex(of: "="), let comma = line[eq...].firstIndex(of: ",") {
                    max = Double(line[line.index(after: eq)..<comma].trimmingCharacters(in: .whitespaces))
                }
                continue
            }
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 4, let v = Double(f[0]) else { continue }  // header, blank, footer lines
            guard let p = Double(f[1]), let c = UInt64(f[2]) else {
                throw OrbitError(.invalidArgument, "malformed percentile line", at: "\(path):\(n + 1)",
                                 hint: "Value Percentile TotalCount 1/(1-Percentile), as HdrHistogram writes them")
            }
            points.append(Point(value: v, percentile: p, totalCount: c, inverse: Double(f[3]) ?? .infinity))
        }
        guard !points.isEmpty else {
            throw OrbitError(.invalidArgument, "no percentile lines in the histogram file", at: path,
                             hint: "an HdrHistogram percentile distribution (.hgrm)")
        }
        return HgrmFile(points: points, max: max)
    }
}

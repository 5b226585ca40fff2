import OrbitCore

/// Checks shared by the engines' store-layout tests (a `FileLayout` is what CrashLab's corruption
/// sweep probes and names).
public enum FileLayoutChecks {
    /// What is wrong with `layout` against `known` (file type → region → checksummed, the names the
    /// sweep's results use): an unknown type or region, a changed coverage, segments out of order,
    /// overlapping or outside the file, header offsets unsorted. Also the regions it shows.
    public static func problems(_ layout: FileLayout, known: [String: [String: Bool]]) -> (problems: [String], regions: Set<String>) {
        guard let regions = known[layout.fileType] else { return (["\(layout.path): unknown file type \(layout.fileType)"], []) }
        var out: [String] = []
        var seen: Set<String> = [layout.defaultRegion]
        if regions[layout.defaultRegion] != layout.defaultChecksummed {
            out.append("\(layout.path): default region \(layout.defaultRegion) checksummed=\(layout.defaultChecksummed)")
        }
        var end: Int64 = 0
        for s in layout.segments {
            if regions[s.region] != s.checksummed { out.append("\(layout.path): \(s.region) checksummed=\(s.checksummed)") }
            if s.start < end || s.end <= s.start || s.end > layout.size { out.append("\(layout.path): segment \(s) out of place") }
            end = s.end
            seen.insert(s.region)
        }
        if layout.headerOffsets != layout.headerOffsets.sorted() || Set(layout.headerOffsets).count != layout.headerOffsets.count {
            out.append("\(layout.path): header offsets not sorted and unique")
        }
        return (out, seen)
    }

    /// Offsets to flip in the checksummed regions of `layout`: one seeded byte in each of up to
    /// `perRegion` segments of every checksummed region, and up to `defaultSamples` seeded offsets
    /// that fall in its default region when that is checksummed.
    public static func checksummedOffsets(_ layout: FileLayout, perRegion: Int, defaultSamples: Int,
                                          _ rng: inout SeededRNG) -> [Int] {
        var byRegion: [String: [FileLayout.Segment]] = [:]
        for s in layout.segments where s.checksummed { byRegion[s.region, default: []].append(s) }
        var out: [Int] = []
        for (_, segments) in byRegion.sorted(by: { $0.key < $1.key }) {
            for s in segments.shuffled(using: &rng).prefix(perRegion) { out.append(Int(s.start + Int64(rng.below(UInt64(s.end - s.start))))) }
        }
        if layout.defaultChecksummed && layout.size > 0 {
            for _ in 0..<defaultSamples {
                let o = Int64(rng.below(UInt64(layout.size)))
                if layout.classify(o).region == layout.defaultRegion { out.append(Int(o)) }
            }
        }
        return out
    }
}

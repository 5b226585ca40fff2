/// What an engine says about one file of its store (built from the engine's own format constants;
/// CrashLab's corruption and I/O-error sweeps read it): its type, the regions of its format (and which a
/// checksum covers), and the offsets of every header and trailer field worth flipping.
public struct FileLayout: Sendable, Equatable {
    public struct Segment: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        public var region: String
        public var checksummed: Bool
    }

    public var path: String          // relative to the store directory
    public var fileType: String
    public var size: Int64
    /// Sorted, non-overlapping; bytes not covered take `defaultRegion`.
    public var segments: [Segment] = []
    public var defaultRegion: String
    public var defaultChecksummed: Bool
    /// Header, trailer and footer fields: every one is probed (when the budget allows).
    public var headerOffsets: [Int64] = []

    public init(path: String, fileType: String, size: Int64, region: String, checksummed: Bool) {
        self.path = path
        self.fileType = fileType
        self.size = size
        defaultRegion = region
        defaultChecksummed = checksummed
    }

    public mutating func add(_ start: Int64, _ end: Int64, _ region: String, _ checksummed: Bool) {
        guard end > start else { return }
        segments.append(Segment(start: start, end: min(end, size), region: region, checksummed: checksummed))
    }

    public mutating func header(_ offsets: Int64...) {
        for o in offsets where o >= 0 && o < size { headerOffsets.append(o) }
    }

    /// The region and checksum coverage of the byte at `offset`.
    public func classify(_ offset: Int64) -> (region: String, checksummed: Bool) {
        var lo = 0, hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].end <= offset { lo = mid + 1 } else { hi = mid }
        }
        if lo < segments.count, segments[lo].start <= offset, offset < segments[lo].end {
            return (segments[lo].region, segments[lo].checksummed)
        }
        return (defaultRegion, defaultChecksummed)
    }

    public mutating func finish() {
        segments.sort { $0.start < $1.start }
        headerOffsets = Array(Set(headerOffsets)).sorted()
    }
}


/// An engine's file formats, as its descriptor hands them to the crash lab
/// (`EngineDescriptor.Layouts`): built from the engine's own format constants.
public protocol StoreFileLayouts {
    /// The layout of one file of a store (`relativePath` below the store directory, `bytes` its content).
    static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout?
    /// The file's kind from its path alone ("wal", "sstable"; "other" for a file the engine does not know).
    static func fileKind(relativePath: String) -> String
}

/// An engine whose files the crash lab does not know (or that keeps none).
public enum NoFileLayouts: StoreFileLayouts {
    public static func fileLayout(relativePath: String, bytes: [UInt8]) -> FileLayout? { nil }
    public static func fileKind(relativePath: String) -> String { "other" }
}

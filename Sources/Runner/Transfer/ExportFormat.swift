public import OrbitCore

/// The export stream (docs/formats/export.md): an engine-neutral, checksummed sequence of a store's
/// entries in key order, written by `orbit-bench export` and read by `import` and `validate`.
///
/// Layout, all integers little-endian:
/// - header: magic `ORBXPORT`, u32 version, u32 text length, the text (UTF-8
///   `name=value` lines: source engine, its library version, ...), u32 masked CRC32C of all of it;
/// - chunks: u8 tag 0x01, u32 record count, u32 payload length, the payload (per record: uvarint key
///   length, key, uvarint value length, value), u32 masked CRC32C of tag..payload;
/// - trailer: u8 tag 0xFF, u64 record count, u64 payload bytes, u32 digest (CRC32C of every chunk's
///   payload in order), u32 masked CRC32C of tag..digest; nothing after it.
public enum ExportFormat {
    public static let magic: [UInt8] = Array("ORBXPORT".utf8)
    public static let version: UInt32 = 1
    public static let chunkTag: UInt8 = 0x01
    public static let trailerTag: UInt8 = 0xFF
    /// A chunk is cut once its payload reaches this size (a larger record gets a chunk of its own).
    public static let chunkTarget = 64 * 1024
    /// The largest chunk payload a reader accepts (bounds its memory; above any engine's value limit).
    public static let maxChunkPayload = 1 << 30
    /// The largest header text a reader accepts.
    public static let maxHeaderText = 64 * 1024
    static let headerFixed = 16
    static let chunkFixed = 9
    static let trailerSize = 1 + 8 + 8 + 4 + 4

    /// The header's fields, in the order they are written.
    public struct Header: Sendable, Equatable {
        /// The engine whose store was exported.
        public var sourceEngine: String
        /// The engine library's version ("9.10.0"), or "orbit-bench" for an engine of this project.
        public var sourceVersion: String
        public var fields: [(String, String)] {
            [("format", "orbit-bench export"), ("source_engine", sourceEngine), ("source_version", sourceVersion), ("order", "bytewise")]
        }
        public init(sourceEngine: String, sourceVersion: String) {
            self.sourceEngine = sourceEngine
            self.sourceVersion = sourceVersion
        }
        public static func == (a: Header, b: Header) -> Bool { a.sourceEngine == b.sourceEngine && a.sourceVersion == b.sourceVersion }
    }

    /// What a trailer says of the whole stream.
    public struct Summary: Sendable, Equatable {
        public var records: UInt64
        public var payloadBytes: UInt64
        public var digest: UInt32
    }

    // MARK: Little-endian helpers

    static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendVarint(_ v: Int, to out: inout [UInt8]) { LEB128.append(UInt64(v), to: &out) }

    static func load<T: FixedWidthInteger>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer, _ at: Int) -> T {
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[at..<at + MemoryLayout<T>.size])) }
        return T(littleEndian: v)
    }

    static func headerBytes(_ h: Header) -> [UInt8] {
        var text: [UInt8] = []
        for (k, v) in h.fields { text += Array("\(k)=\(v)\n".utf8) }
        var out = magic
        append(version, to: &out)
        append(UInt32(text.count), to: &out)
        out += text
        append(CRC32C.mask(CRC32C.checksum(out)), to: &out)
        return out
    }

    /// A damaged or truncated stream: corruption naming the file and the offset.
    static func damaged(_ path: String, _ offset: Int64, _ what: String) -> OrbitError {
        OrbitError(.corruption, what, at: "\(path) @ offset \(offset)",
                   hint: "the export file is damaged or truncated; export the store again (import writes nothing from a damaged file)")
    }
}

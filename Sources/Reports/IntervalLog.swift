public import Runner
import OrbitCore
import CZlib
import Foundation

/// interval-<backend>-<op>.hlog: an operation's per-interval latency histograms in HdrHistogram's
/// interval log format, as HdrHistogram's `HistogramLogWriter` writes it, for HistogramLogAnalyzer,
/// hdr-plot and any HdrHistogram library's log reader. Format: docs/formats/hlog.md.
///
/// Each line is one interval: `[Tag=intended,]start_s,length_s,max_ms,HISTF...`, the last field a
/// histogram in the V2 compressed encoding (`encode`). Service-time histograms are untagged; open
/// loop adds the intended-latency histogram of each interval under `Tag=intended`. Values are in
/// nanoseconds (the maximum column in milliseconds, HdrHistogram's default unit ratio).
public enum IntervalLog {
    /// V2 encoding cookie with the word size (8) in bits 4-7, and its compressed form.
    static let encodingCookie: UInt32 = 0x1c84_9303 | 0x10
    static let compressedCookie: UInt32 = 0x1c84_9304 | 0x10
    /// The layout of every latency histogram (`makeLatencyHistogram()`).
    static let lowestDiscernibleValue: UInt64 = 1
    static let highestTrackableValue: UInt64 = 3_600_000_000_000
    static let significantDigits: UInt32 = 3

    /// The whole log of one operation's intervals; `startMillis` is the run's start (epoch ms).
    public static func render(_ rows: [TimeseriesRow], startMillis: Int64) throws -> String {
        let start = Double(startMillis) / 1000
        var out = "#[Histogram log format version 1.3]\n"
        out += "#[StartTime: \(formatDouble(start, decimals: 3)) (seconds since epoch), \(Date(timeIntervalSince1970: start))]\n"
        out += "#[BaseTime: \(formatDouble(start, decimals: 3)) (seconds since epoch)]\n"
        out += "#[Written by orbit-bench: interval start times are seconds since the backend's start; values in ns]\n"
        out += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
        for r in rows {
            let begin = max(0, r.elapsedSeconds - r.lengthSeconds)
            for (tag, figures) in [("", r.latency), ("Tag=intended,", r.intendedLatency)] {
                guard let figures, figures.count > 0 else { continue }
                out += tag + formatDouble(begin, decimals: 3) + "," + formatDouble(r.lengthSeconds, decimals: 3) + ","
                    + formatDouble(Double(figures.max) / 1e6, decimals: 3) + "," + (try encode(figures.buckets)) + "\n"
            }
        }
        return out
    }

    /// One histogram, V2 compressed and base64-encoded. Counts run from index 0 to the highest
    /// non-empty one, each a ZigZag LEB128 varint; a run of n > 1 empty buckets is written as -n.
    public static func encode(_ buckets: [IntervalBucket]) throws -> String {
        var counts: [Int: UInt64] = [:]
        for b in buckets where b.count > 0 { counts[LatencyBuckets.index(max(1, b.value)), default: 0] += b.count }
        var payload: [UInt8] = []
        if let top = counts.keys.max() {
            var i = 0
            while i <= top {
                guard let c = counts[i] else {
                    var zeros = 0
                    while i <= top && counts[i] == nil { zeros += 1; i += 1 }
                    putZigZag(zeros == 1 ? 0 : -Int64(zeros), &payload)
                    continue
                }
                putZigZag(Int64(c), &payload)
                i += 1
            }
        }
        var plain: [UInt8] = []
        putBigEndian(encodingCookie, &plain)
        putBigEndian(UInt32(payload.count), &plain)
        putBigEndian(UInt32(0), &plain)  // normalizing index offset
        putBigEndian(significantDigits, &plain)
        putBigEndian(lowestDiscernibleValue, &plain)
        putBigEndian(highestTrackableValue, &plain)
        putBigEndian((1.0 as Double).bitPattern, &plain)  // integer-to-double conversion ratio
        plain += payload
        let compressed = try deflate(plain)
        var framed: [UInt8] = []
        putBigEndian(compressedCookie, &framed)
        putBigEndian(UInt32(compressed.count), &framed)
        framed += compressed
        return Data(framed).base64EncodedString()
    }

    /// ZigZag, then LEB128 (7 bits a byte, low first), as HdrHistogram's ZigZagEncoding: at most 9
    /// bytes, the ninth carrying a full 8 bits.
    static func putZigZag(_ v: Int64, _ out: inout [UInt8]) {
        var u = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        for _ in 0..<8 {
            if u < 0x80 { out.append(UInt8(u)); return }
            out.append(UInt8(u & 0x7f) | 0x80)
            u >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: u))
    }

    static func putBigEndian<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.bigEndian) { out += $0 }
    }

    /// zlib-wrapped deflate (what `java.util.zip.Deflater` and Python's `zlib.decompress` use).
    static func deflate(_ input: [UInt8]) throws -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let rc = out.withUnsafeMutableBufferPointer { o in
            input.withUnsafeBufferPointer { i in compress2(o.baseAddress, &length, i.baseAddress, uLong(input.count), Z_DEFAULT_COMPRESSION) }
        }
        guard rc == Z_OK else { throw OrbitError(.io, "zlib compress2 failed (\(rc)) encoding an interval histogram") }
        return Array(out.prefix(Int(length)))
    }
}

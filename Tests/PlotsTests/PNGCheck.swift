import CZlib
import Foundation

/// Just enough PNG decoding to tell a drawn plot from a blank or broken file: the signature, the IHDR
/// chunk (with its CRC), the IDAT data inflated with zlib and unfiltered, and the distinct pixel values.
struct PNGCheck {
    var width: Int
    var height: Int
    /// Distinct pixel values (RGB(A) or palette indices).
    var distinctColours: Int
    /// Fraction of pixels that differ from the most common one (the background).
    var inkFraction: Double

    enum Failure: Error, CustomStringConvertible {
        case bad(String)
        var description: String { if case .bad(let s) = self { s } else { "" } }
    }

    static func read(_ path: String) throws -> PNGCheck {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.bad("\(path): cannot read") }
        let b = [UInt8](data)
        guard b.count > 33, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw Failure.bad("\(path): no PNG signature") }
        func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        guard u32(8) == 13, String(decoding: b[12..<16], as: UTF8.self) == "IHDR" else { throw Failure.bad("\(path): first chunk is not IHDR") }
        let crc = b[12..<29].withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, 17)) }
        guard crc == UInt32(u32(29)) else { throw Failure.bad("\(path): IHDR CRC mismatch") }
        let width = u32(16), height = u32(20), depth = Int(b[24]), colourType = Int(b[25]), interlace = Int(b[28])
        guard width > 0, height > 0, depth == 8, interlace == 0 else {
            throw Failure.bad("\(path): unsupported PNG (depth \(depth), interlace \(interlace))")
        }
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colourType] ?? 0
        guard channels > 0 else { throw Failure.bad("\(path): colour type \(colourType)") }
        // Concatenate the IDAT chunks.
        var idat: [UInt8] = []
        var i = 8
        while i + 8 <= b.count {
            let len = u32(i), type = String(decoding: b[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + len <= b.count else { throw Failure.bad("\(path): truncated chunk \(type)") }
            if type == "IDAT" { idat += b[(i + 8)..<(i + 8 + len)] }
            if type == "IEND" { break }
            i += 12 + len
        }
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: (stride + 1) * height)
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            idat.withUnsafeBufferPointer { uncompress(out.baseAddress, &rawLength, $0.baseAddress, uLong($0.count)) }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else { throw Failure.bad("\(path): IDAT does not inflate (zlib \(status))") }
        // Undo the per-row filters.
        var pixels = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let v = raw[y * (stride + 1) + 1 + x]
                let a = x >= channels ? Int(pixels[y * stride + x - channels]) : 0
                let up = y > 0 ? Int(pixels[(y - 1) * stride + x]) : 0
                let c = (x >= channels && y > 0) ? Int(pixels[(y - 1) * stride + x - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = up
                case 3: predictor = (a + up) / 2
                case 4:
                    let p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? up : c)
                default: throw Failure.bad("\(path): row \(y) has filter \(filter)")
                }
                pixels[y * stride + x] = UInt8(truncatingIfNeeded: Int(v) + predictor)
            }
        }
        var counts: [UInt32: Int] = [:]
        for p in 0..<(width * height) {
            var key: UInt32 = 0
            for ch in 0..<channels { key = key << 8 | UInt32(pixels[p * channels + ch]) }
            counts[key, default: 0] += 1
        }
        let background = counts.values.max() ?? 0
        return PNGCheck(width: width, height: height, distinctColours: counts.count,
                        inkFraction: Double(width * height - background) / Double(width * height))
    }
}

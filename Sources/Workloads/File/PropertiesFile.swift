import OrbitCore
import Foundation

/// Java `.properties` syntax (what YCSB's `-P` files are): `key=value`, `key: value` or `key value`
/// lines; `#` and `!` comment lines; a trailing backslash continues a line; `\t \n \r \f \uXXXX` escapes.
/// Each entry keeps the line and column of its key, so errors can name `file:line:column`.
public enum PropertiesFile {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
        public var column: Int
    }

    public static func read(path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OrbitError(.invalidWorkload, "cannot read property file", at: path,
                             hint: "give a path to a YCSB property file, e.g. workloads/ycsb/workloada")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw OrbitError(.invalidWorkload, "property file is not text", at: path)
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> [Entry] {
        var entries: [Entry] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? Substring($0.dropLast()) : $0
        }
        var i = 0
        while i < lines.count {
            let startLine = i + 1
            var raw = String(lines[i])
            i += 1
            let trimmed = raw.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
            if trimmed.isEmpty || trimmed.first == "#" || trimmed.first == "!" { continue }
            let column = raw.count - trimmed.count + 1
            raw = String(trimmed)
            // Continuation: an odd number of trailing backslashes joins the next line (its leading blanks dropped).
            while endsInContinuation(raw), i <= lines.count {
                raw.removeLast()
                if i == lines.count { break }
                raw += lines[i].drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
                i += 1
            }
            let (key, value) = try split(raw, path: path, line: startLine, column: column)
            entries.append(Entry(key: key, value: value, line: startLine, column: column))
        }
        return entries
    }

    static func endsInContinuation(_ s: String) -> Bool {
        var n = 0
        for c in s.reversed() { if c == "\\" { n += 1 } else { break } }
        return n % 2 == 1
    }

    /// Splits a logical line into key and value, unescaping both.
    static func split(_ line: String, path: String, line number: Int, column: Int) throws -> (String, String) {
        let chars = Array(line)
        var k = 0
        var keyEnd = chars.count
        while k < chars.count {
            let c = chars[k]
            if c == "\\" { k += 2; continue }
            if c == "=" || c == ":" || c == " " || c == "\t" || c == "\u{0C}" { keyEnd = k; break }
            k += 1
        }
        var v = min(keyEnd, chars.count)
        while v < chars.count, chars[v] == " " || chars[v] == "\t" || chars[v] == "\u{0C}" { v += 1 }
        if v < chars.count, chars[v] == "=" || chars[v] == ":" { v += 1 }
        while v < chars.count, chars[v] == " " || chars[v] == "\t" || chars[v] == "\u{0C}" { v += 1 }
        let where_ = "\(path):\(number):\(column)"
        let key = try unescape(chars[0..<min(keyEnd, chars.count)], at: where_)
        let value = try unescape(chars[min(v, chars.count)...], at: where_)
        return (key, value.trimmingWhitespace())
    }

    static func unescape(_ s: ArraySlice<Character>, at location: String) throws -> String {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            guard c == "\\", i + 1 < s.endIndex else {
                out.append(c)
                i += 1
                continue
            }
            let e = s[i + 1]
            i += 2
            switch e {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                guard i + 4 <= s.endIndex, let code = UInt32(String(s[i..<(i + 4)]), radix: 16),
                      let scalar = Unicode.Scalar(code) else {
                    throw OrbitError(.invalidWorkload, "malformed \\uXXXX escape", at: location,
                                     hint: "write four hexadecimal digits after \\u")
                }
                out.unicodeScalars.append(scalar)
                i += 4
            default: out.append(e)
            }
        }
        return out
    }
}

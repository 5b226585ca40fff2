import OrbitCore
import Foundation

/// A CSV file read back (RFC 4180: quoted cells may hold commas, quotes and newlines), its cells looked
/// up by header name, so readers do not depend on column positions (columns are only ever added).
public struct CSVTable: Sendable {
    public var path: String
    public var header: [String]
    public var rows: [[String]]
    /// 1-based line number of each row's start in the file (for error messages).
    public var lines: [Int]

    public init(path: String, header: [String], rows: [[String]], lines: [Int]) {
        self.path = path
        self.header = header
        self.rows = rows
        self.lines = lines
    }

    /// Reads and parses `path`.
    public static func read(_ path: String) throws -> CSVTable {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw OrbitError(.io, "cannot read CSV file", at: path, cause: .library("\(error)"))
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> CSVTable {
        var records: [[String]] = []
        var starts: [Int] = []
        var cell = ""
        var record: [String] = []
        var quoted = false
        var line = 1
        var recordLine = 1
        var chars = Array(text.unicodeScalars)[...]
        var atCellStart = true
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        chars.removeFirst()
                        cell.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    cell.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atCellStart:
                quoted = true
                atCellStart = false
            case ",":
                record.append(cell)
                cell = ""
                atCellStart = true
            case "\r":
                continue
            case "\n":
                record.append(cell)
                records.append(record)
                starts.append(recordLine)
                record = []
                cell = ""
                atCellStart = true
                line += 1
                recordLine = line
            default:
                cell.unicodeScalars.append(c)
                atCellStart = false
            }
        }
        if quoted {
            throw OrbitError(.invalidArgument, "unterminated quoted cell", at: "\(path):\(recordLine)",
                             hint: "a quoted CSV cell must end with a closing double quote")
        }
        if !cell.isEmpty || !record.isEmpty {
            record.append(cell)
            records.append(record)
            starts.append(recordLine)
        }
        guard let header = records.first else {
            throw OrbitError(.invalidArgument, "empty CSV file (no header)", at: path, hint: "results CSV files start with a header row")
        }
        for (i, r) in records.enumerated().dropFirst() where r.count != header.count {
            throw OrbitError(.invalidArgument, "row has \(r.count) cells, the header has \(header.count)",
                             at: "\(path):\(starts[i])", hint: "every row needs one cell per header column: " + header.joined(separator: ","))
        }
        return CSVTable(path: path, header: header, rows: Array(records.dropFirst()), lines: Array(starts.dropFirst()))
    }

    /// Index of `column`, or an error naming the file and the columns it has.
    public func index(_ column: String) throws -> Int {
        guard let i = header.firstIndex(of: column) else {
            throw OrbitError(.invalidArgument, "column '\(column)' is missing", at: "\(path):1",
                             hint: "the header has: " + header.joined(separator: ","))
        }
        return i
    }

    public func has(_ column: String) -> Bool { header.contains(column) }

    /// The cells of `column`, in row order.
    public func column(_ column: String) throws -> [String] {
        let i = try index(column)
        return rows.map { $0[i] }
    }

    /// The number in `column` of row `row`: nil for an empty cell; an error naming file:line:column for
    /// anything else that is not a number.
    public func number(_ row: Int, _ column: String) throws -> Double? {
        let i = try index(column)
        let s = rows[row][i]
        if s.isEmpty { return nil }
        guard let v = Double(s) else {
            throw OrbitError(.invalidArgument, "'\(s)' in column '\(column)' is not a number", at: "\(path):\(lines[row]):\(i + 1)",
                             hint: "a number or an empty cell")
        }
        return v
    }

    public func string(_ row: Int, _ column: String) throws -> String { rows[row][try index(column)] }
}

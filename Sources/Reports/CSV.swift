/// Minimal RFC 4180 CSV writing: quote a cell only when it needs it.
public enum CSV {
    public static func cell(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacing("\"", with: "\"\"") + "\""
        }
        return s
    }

    public static func row(_ cells: [String]) -> String {
        cells.map(cell).joined(separator: ",") + "\n"
    }
}

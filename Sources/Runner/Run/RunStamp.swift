public import Foundation

/// The UTC time stamp that starts every run id (`results/<yyyyMMdd-HHmmss>-<name>/`).
public enum RunStamp {
    public static func now() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: Date())
    }
}

public import Foundation

/// Bytes of the regular files under a directory (a store's size on disk, for crash records and the
/// latency table's disk column); 0 when it cannot be listed.
public enum DirectoryBytes {
    public static func of(_ path: String) -> Int64 {
        var total: Int64 = 0
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        while let f = e.nextObject() as? String {
            if let a = try? FileManager.default.attributesOfItem(atPath: path + "/" + f),
               (a[.type] as? FileAttributeType) == .typeRegular, let s = a[.size] as? NSNumber {
                total += s.int64Value
            }
        }
        return total
    }
}

import Foundation
import OrbitCore

/// The machine and build a run happened on: recorded in summary.json so figures can be judged.
public struct EnvironmentInfo: Sendable, Codable {
    public var cpuModel: String
    public var cores: Int
    public var memoryBytes: UInt64
    public var kernel: String
    public var hostname: String
    public var dataDirFilesystem: String
    public var swiftVersion: String
    public var buildConfiguration: String
    /// The version of each library an engine of this build wraps (`EngineDescriptor.libraryVersion`),
    /// in registry order: summary.json's environment has one field per engine, named after it.
    public var libraryVersions: [LibraryVersion]
    public var allocator: String
    public var gitCommit: String
    /// The metering clock: the calibrated timestamp counter, or clock_gettime and why.
    public var clock: String

    public static func capture(dataDirectory: String) -> EnvironmentInfo {
        EnvironmentInfo(
            cpuModel: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: ProcessInfo.processInfo.physicalMemory, kernel: kernel(),
            hostname: ProcessInfo.processInfo.hostName, dataDirFilesystem: filesystem(of: dataDirectory),
            swiftVersion: swiftVersion, buildConfiguration: buildConfiguration,
            libraryVersions: libraryVersionsOfThisBuild(),
            allocator: ProcessMemory.isJemallocActive ? "jemalloc \(ProcessMemory.jemallocVersion())" : "system malloc",
            gitCommit: gitCommit(), clock: MeterClock.shared.description)
    }

    public struct LibraryVersion: Sendable, Codable {
        /// The engine's backend name.
        public var backend: String
        public var version: String
    }

    /// The environment's fields for summary.json: one per wrapped library, named after its engine.
    public var libraryVersionFields: [String: Any] {
        Dictionary(uniqueKeysWithValues: libraryVersions.map { ($0.backend, $0.version as Any) })
    }

    static func libraryVersionsOfThisBuild() -> [LibraryVersion] {
        Engines.install()
        return EngineRegistry.all.filter { Engines.builtinNames.contains($0.name) }
            .compactMap { d in d.libraryVersion.map { LibraryVersion(backend: d.name, version: $0) } }
    }

    public static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    static var swiftVersion: String {
        #if compiler(>=6.3)
        "6.3+"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    static func kernel() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: T) -> String {
            withUnsafeBytes(of: v) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    /// The mount that holds `path` (longest mount-point prefix in /proc/mounts): "ext4 on / (/dev/vda)".
    static func filesystem(of path: String) -> String {
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return "unknown" }
        var best: (point: String, desc: String)?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3 else { continue }
            let point = f[1].replacingOccurrences(of: "\\040", with: " ")
            let matches = point == "/" || abs == point || abs.hasPrefix(point + "/")
            if matches, point.count >= (best?.point.count ?? -1) {
                best = (point, "\(f[2]) on \(point) (\(f[0]))")
            }
        }
        return best?.desc ?? "unknown"
    }

    static func gitCommit() -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["describe", "--always", "--dirty", "--abbrev=12"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do {
            try p.run()
            p.waitUntilExit()
        } catch { return "unknown" }
        guard p.terminationStatus == 0 else { return "unknown" }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

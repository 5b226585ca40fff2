import OrbitCore
import Foundation
import Runner

/// environment.txt beside a reproduced table: the machine, the software, the load on the machine.
public enum EnvironmentFile {
    /// /proc/loadavg's first three fields ("1.23 0.98 0.50"), or "unknown".
    public static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Writes the file; returns a one-line summary.
    @discardableResult
    public static func write(to path: String, dataDirectory: String, loadBefore: String, seconds: Double) throws -> String {
        let e = EnvironmentInfo.capture(dataDirectory: dataDirectory)
        let f = ISO8601DateFormatter()
        let libraries = e.libraryVersions.map { "\($0.backend): \($0.version)" }.joined(separator: "\n")
        let text = """
        command: \(CommandLine.arguments.joined(separator: " "))
        date_utc: \(f.string(from: Date()))
        cpu_model: \(e.cpuModel)
        cores: \(e.cores)
        memory_bytes: \(e.memoryBytes)
        kernel: \(e.kernel)
        hostname: \(e.hostname)
        data_dir_filesystem: \(e.dataDirFilesystem)
        swift: \(e.swiftVersion)
        build: \(e.buildConfiguration)
        \(libraries)
        allocator: \(e.allocator)
        git_commit: \(e.gitCommit)
        load_average_before (1, 5, 15 min): \(loadBefore)
        load_average_after (1, 5, 15 min): \(loadAverage())
        took_s: \(formatDouble(seconds, decimals: 1))
        note: the machine is shared (2 cores; other engineers build and benchmark on it at the same time); a load
          average above the core count means the figures are slower and noisier than on a quiet machine.

        """
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw OrbitError(.io, "cannot write the environment file", at: path, cause: .library("\(error)"))
        }
        return "\(e.cpuModel), \(e.cores) cores, \(e.kernel), \(e.buildConfiguration) build, load \(loadBefore) → \(loadAverage())"
    }
}

import OrbitCore
import Foundation

/// gnuplot (Debian's gnuplot-nox), run as a subprocess on a generated script.
public enum Gnuplot {
    /// The gnuplot executable: $ORBIT_GNUPLOT, else the first `gnuplot` on $PATH.
    public static func executable() throws -> String {
        if let p = ProcessInfo.processInfo.environment["ORBIT_GNUPLOT"], !p.isEmpty { return p }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = String(dir) + "/gnuplot"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw OrbitError(.unsupported, "gnuplot was not found on PATH",
                         hint: "install Debian's gnuplot-nox (scripts/install-deps.sh does), or set ORBIT_GNUPLOT to its path")
    }

    /// Runs gnuplot on `script` with `directory` as its working directory (the script names its outputs
    /// relative to it). gnuplot's messages become the error on failure.
    public static func run(script: String, in directory: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable())
        p.arguments = [script]
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            throw OrbitError(.io, "cannot start gnuplot", at: script, cause: .library("\(error)"))
        }
        let messages = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw OrbitError(.io, "gnuplot failed (exit status \(p.terminationStatus))", at: directory + "/" + script,
                             cause: .library(messages.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
    }

    /// A string as a gnuplot double-quoted string literal.
    static func quote(_ s: String) -> String {
        "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n") + "\""
    }
}

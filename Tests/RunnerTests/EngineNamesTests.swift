import Foundation
import Runner
import Testing

/// Issue 15's acceptance, kept: outside an engine's own descriptor (`Sources/*/…Descriptor.swift`)
/// no source line names a built-in engine in a string literal; the harness asks the registry and
/// branches on capabilities and descriptor hooks. Comments (documentation, examples) may name them,
/// and so may module maps (`link "rocksdb"` is a library name). A server engine's own module may
/// spell words its server uses that happen to be its name — the program `postgres`, the system
/// user `postgres`, Redis's INFO section `memory` — but no other module may.
struct EngineNamesTests {
    /// Words of a server's own protocol that are also engine names (Redis's `INFO memory` section).
    static let serverWords: Set<String> = ["\"memory\""]
    /// Files that spell a kernel interface's own word that is also an engine name: the cgroup
    /// controller `memory` (`/proc/self/cgroup`, `cgroup.controllers`).
    static let kernelWords: [String: Set<String>] = ["Runner/Metering/MemoryCgroup.swift": ["\"memory\""]]

    @Test func engineNamesAreSpelledOnlyInDescriptors() throws {
        let sources = DocsTests.root + "/Sources"
        let literals = Engines.builtinNames.map { "\"\($0)\"" }
        #expect(literals.count >= 5, "\(literals)")
        // A server engine's module directory and the literals it may spell (its own name, the words
        // above); its options still take the descriptor's constant.
        var allowed: [String: Set<String>] = [:]
        let files = FileManager.default.enumerator(atPath: sources)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix("Descriptor.swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            guard let r = text.range(of: #"static let name = "[a-z0-9-]+""#, options: .regularExpression) else { continue }
            let name = String(text[r].split(separator: "\"")[1])
            if Engines.capabilities(name)?.contains(.server) == true {
                allowed[String(file.split(separator: "/")[0]), default: Self.serverWords].insert("\"\(name)\"")
            }
        }
        var offenders: [String] = []
        for file in files.sorted() where file.hasSuffix(".swift") && !file.hasSuffix("Descriptor.swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            let mayUse = (allowed[String(file.split(separator: "/")[0])] ?? []).union(Self.kernelWords[file] ?? [])
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                if literals.contains(where: { code.contains($0) && !mayUse.contains($0) }) {
                    offenders.append("Sources/\(file):\(n + 1): \(code)")
                }
            }
        }
        #expect(allowed.count >= 2, "server descriptors found: \(allowed)")
        #expect(offenders.isEmpty, "engine names outside the descriptors:\n\(offenders.joined(separator: "\n"))")
    }
}

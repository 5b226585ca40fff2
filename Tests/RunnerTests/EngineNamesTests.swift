import Foundation
import Runner
import Testing

/// Issue 15's acceptance, kept: outside an engine's own descriptor (`Sources/*/…Descriptor.swift`)
/// no source line names a built-in engine in a string literal; the harness asks the registry and
/// branches on capabilities and descriptor hooks. Comments (documentation, examples) may name them,
/// and so may module maps (`link "rocksdb"` is a library name).
struct EngineNamesTests {
    @Test func engineNamesAreSpelledOnlyInDescriptors() throws {
        let sources = DocsTests.root + "/Sources"
        let literals = Engines.builtinNames.map { "\"\($0)\"" }
        #expect(literals.count >= 5, "\(literals)")
        var offenders: [String] = []
        let files = FileManager.default.enumerator(atPath: sources)?.compactMap { $0 as? String } ?? []
        for file in files.sorted() where file.hasSuffix(".swift") && !file.hasSuffix("Descriptor.swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                if literals.contains(where: { code.contains($0) }) { offenders.append("Sources/\(file):\(n + 1): \(code)") }
            }
        }
        #expect(offenders.isEmpty, "engine names outside the descriptors:\n\(offenders.joined(separator: "\n"))")
    }
}

import Foundation
import Testing
import OrbitCore
import Reports

/// docs/architecture.md stays true to what is built: its module table is Package.swift's targets and
/// dependencies, exactly, and its results column lines are ResultsWriter's.
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func read(_ relative: String) throws -> String {
        try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
    }

    /// One target of the package: its kind ("system library", "library", "executable", "test") and
    /// the names it depends on (targets, and products of other packages by product name).
    struct Module: Equatable, CustomStringConvertible {
        var kind: String
        var dependencies: Set<String>
        var description: String { "\(kind): \(dependencies.sorted().joined(separator: ", "))" }
    }

    @Test func moduleTableIsPackageSwift() throws {
        let manifest = try Self.modules(packageSwift: Self.read("Package.swift"))
        let documented = try Self.modules(architecture: Self.read("docs/architecture.md"))
        #expect(manifest.count > 10, "parsed too few targets from Package.swift: \(manifest.keys.sorted())")
        for name in Set(manifest.keys).union(documented.keys).sorted() {
            #expect(documented[name] == manifest[name],
                    "module \(name): docs/architecture.md says \(documented[name].map(\.description) ?? "nothing"), Package.swift \(manifest[name].map(\.description) ?? "nothing")")
        }
    }

    /// The rule the table illustrates: an engine module depends on OrbitCore and system libraries only.
    @Test func engineModulesDependOnlyOnOrbitCore() throws {
        let manifest = try Self.modules(packageSwift: Self.read("Package.swift"))
        let systemLibraries = Set(manifest.filter { $0.value.kind == "system library" }.keys)
        for engine in ["MemoryEngine", "RocksDBEngine", "LMDBEngine", "CowBTree", "LSMTree"] {
            let deps = try #require(manifest[engine], "no target \(engine) in Package.swift").dependencies
            #expect(deps.subtracting(systemLibraries) == ["OrbitCore"], "\(engine) depends on \(deps.sorted())")
        }
        for engine in ["PostgresEngine", "RedisEngine"] {
            let deps = try #require(manifest[engine], "no target \(engine) in Package.swift").dependencies
            #expect(deps.subtracting(systemLibraries) == ["OrbitCore", "ServerSupport"], "\(engine) depends on \(deps.sorted())")
        }
        // etcd's client is gRPC (grpc-swift 2 over SwiftNIO), not a system library.
        let grpc: Set<String> = ["GRPCCore", "GRPCNIOTransportHTTP2Posix", "GRPCProtobuf", "SwiftProtobuf", "NIOCore"]
        let etcd = try #require(manifest["EtcdEngine"], "no target EtcdEngine in Package.swift").dependencies
        #expect(etcd.subtracting(systemLibraries).subtracting(grpc) == ["OrbitCore", "ServerSupport"], "EtcdEngine depends on \(etcd.sorted())")
    }

    @Test func resultsColumnsAreResultsWriters() throws {
        let doc = try Self.read("docs/architecture.md")
        let lines = Set(doc.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for (file, columns) in [("summary.csv", ResultsWriter.summaryColumns), ("metrics.csv", ResultsWriter.metricsColumns),
                                ("timeseries.csv", ResultsWriter.timeseriesColumns), ("stats.csv", ResultsWriter.statsColumns),
                                ("interval-<backend>-<op>.csv", ResultsWriter.intervalColumns)] {
            let header = columns.joined(separator: ",")
            #expect(lines.contains(header), "docs/architecture.md lacks \(file)'s header line: \(header)")
        }
    }

    // MARK: - Parsing

    /// The table between the module-graph markers: `| `Name` | kind | `Dep`, `Dep` (package) |`.
    static func modules(architecture text: String) throws -> [String: Module] {
        guard let begin = text.range(of: "<!-- module-graph: begin"), let end = text.range(of: "<!-- module-graph: end") else {
            throw OrbitError(.invalidArgument, "no module-graph markers", at: "docs/architecture.md")
        }
        var out: [String: Module] = [:]
        for line in text[begin.upperBound..<end.lowerBound].split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let name = backticked(cells[1]).first else { continue }
            out[name] = Module(kind: cells[2], dependencies: Set(backticked(cells[3])))
        }
        return out
    }

    static func backticked(_ s: String) -> [String] {
        s.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    /// Every `.systemLibrary(`, `.target(`, `.executableTarget(` and `.testTarget(` call of the
    /// manifest: its `name:` and the names in its `dependencies:` (strings, `.product(name:)`, and
    /// `let` constants of type `Target.Dependency`), conditional ones included.
    static func modules(packageSwift raw: String) throws -> [String: Module] {
        // Comments out (a `//` after a space or at a line's start: URLs have `://`).
        let text = raw.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("//") { return "" }
            if let r = line.range(of: " //") { return String(line[..<r.lowerBound]) }
            return String(line)
        }.joined(separator: "\n")
        var constants: [String: String] = [:]   // let histogram: Target.Dependency = .product(name: "Histogram", ...)
        for m in text.matches(of: /let\s+(\w+)\s*:\s*Target\.Dependency\s*=\s*\.product\(\s*name:\s*"([^"]+)"/) {
            constants[String(m.1)] = String(m.2)
        }
        let kinds = ["systemLibrary": "system library", "target": "library", "executableTarget": "executable", "testTarget": "test"]
        var out: [String: Module] = [:]
        for m in text.matches(of: /\.(systemLibrary|target|executableTarget|testTarget)\(/) {
            let call = balancedCall(text, from: m.range.upperBound)
            guard let name = call.firstMatch(of: /name:\s*"([^"]+)"/)?.1 else {
                throw OrbitError(.invalidArgument, "a .\(m.1)( call without a name", at: "Package.swift")
            }
            var deps: Set<String> = []
            if let d = call.range(of: "dependencies:") {
                var list = String(call[d.upperBound...])
                for stop in ["swiftSettings:", "exclude:", "path:", "resources:", "linkerSettings:", "cSettings:"] {
                    if let r = list.range(of: stop) { list = String(list[..<r.lowerBound]) }
                }
                for p in list.matches(of: /\.product\(\s*name:\s*"([^"]+)"[^)]*\)/) { deps.insert(String(p.1)) }
                list = list.replacing(/\.product\([^)]*\)/, with: "")
                for s in list.matches(of: /"([^"]+)"/) { deps.insert(String(s.1)) }
                for w in list.matches(of: /\b([a-z]\w*)\b/) where constants[String(w.1)] != nil { deps.insert(constants[String(w.1)]!) }
            }
            out[String(name)] = Module(kind: kinds[String(m.1)]!, dependencies: deps)
        }
        return out
    }

    /// The text from `start` (just after an opening parenthesis) to its matching closing one.
    static func balancedCall(_ text: String, from start: String.Index) -> Substring {
        var depth = 1
        var inString = false
        var i = start
        while i < text.endIndex {
            let c = text[i]
            if c == "\"" { inString.toggle() }
            else if !inString && c == "(" { depth += 1 }
            else if !inString && c == ")" { depth -= 1; if depth == 0 { return text[start..<i] } }
            i = text.index(after: i)
        }
        return text[start...]
    }
}

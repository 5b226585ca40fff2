public import OrbitCore
import Foundation
import Yams

/// Reads a workload file (YAML) into `Settings`, one layer of the configuration precedence chain.
///
/// Every leaf must name a known field or knob and have the right type and range; otherwise the error
/// names file:line:column and what is allowed, and nothing is applied.
public enum WorkloadFile {
    /// Top-level keys beyond the workload knobs.
    static let extraTopLevel = ["backends", "durability", "config", "phases"]

    public static func apply(path: String, to settings: inout Settings) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OrbitError(.invalidWorkload, "cannot read workload file", at: path,
                             hint: "give a path to a YAML workload file; `orbit-bench list` shows the bundled ones")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw OrbitError(.invalidWorkload, "workload file is not UTF-8 text", at: path)
        }
        try apply(yaml: text, path: path, to: &settings)
    }

    public static func apply(yaml: String, path: String, to settings: inout Settings) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            throw yamlError(e, path)
        }
        guard let root else {
            throw OrbitError(.invalidWorkload, "workload file is empty", at: "\(path):1:1",
                             hint: "a workload is a YAML mapping; see README.md, 'Writing a workload file'")
        }
        guard case .mapping(let top) = root else {
            throw OrbitError(.invalidWorkload, "a workload file must be a mapping of fields, found \(kindName(root))",
                             at: loc(path, root), hint: "start with e.g. `name: my-workload`")
        }
        // Apply to a copy, so a failure leaves the caller's settings untouched.
        var staged = settings
        var seen = Set<String>()
        for (keyNode, value) in top {
            let key = try keyString(keyNode, path)
            guard seen.insert(key).inserted else {
                throw OrbitError(.invalidWorkload, "field '\(key)' appears twice", at: loc(path, keyNode))
            }
            switch key {
            case "backends":
                try applyBackends(value, path, &staged)
            case "durability":
                try applyLeaf("durability", value, path, &staged)
            case "config":
                try applyConfig(value, path, &staged)
            case "phases":
                try applyPhases(value, path, &staged)
            default:
                if WorkloadKnobs.sections.contains(key) {
                    try applySection(key, value, path, &staged)
                } else if staged.knob(named: key) != nil, WorkloadKnobs.all.contains(where: { $0.name == key }) {
                    try applyLeaf(key, value, path, &staged)
                } else {
                    throw OrbitError(.invalidWorkload, "unknown field '\(key)'", at: loc(path, keyNode),
                                     hint: "allowed fields: " + topLevelFields.joined(separator: ", "))
                }
            }
        }
        settings = staged
    }

    static var topLevelFields: [String] {
        var names: [String] = []
        for k in WorkloadKnobs.all {
            let head = String(k.name.split(separator: ".").first!)
            if !names.contains(head) { names.append(head) }
        }
        return names + extraTopLevel
    }

    // MARK: - Sections

    static func applySection(_ section: String, _ node: Node, _ path: String, _ s: inout Settings) throws {
        if WorkloadKnobs.rangeFields.contains(section), case .scalar = node {
            try applyLeaf(section + ".min", node, path, &s, shownName: section)
            try applyLeaf(section + ".max", node, path, &s, shownName: section)
            return
        }
        if let typeKey = WorkloadKnobs.typedFields[section], case .scalar = node {
            try applyLeaf(section + "." + typeKey, node, path, &s, shownName: section)
            return
        }
        guard case .mapping(let m) = node else {
            var expected = "a mapping"
            if WorkloadKnobs.rangeFields.contains(section) { expected = "a number or {min: N, max: M}" }
            if WorkloadKnobs.typedFields[section] != nil { expected = "a name or {type: NAME, ...}" }
            throw OrbitError(.invalidWorkload, "'\(section)' must be \(expected), found \(kindName(node))", at: loc(path, node))
        }
        let children = WorkloadKnobs.all.filter { $0.name.hasPrefix(section + ".") }
            .map { String($0.name.dropFirst(section.count + 1)) }
        var seen = Set<String>()
        for (keyNode, value) in m {
            let key = try keyString(keyNode, path)
            guard seen.insert(key).inserted else {
                throw OrbitError(.invalidWorkload, "field '\(section).\(key)' appears twice", at: loc(path, keyNode))
            }
            guard children.contains(key) else {
                throw OrbitError(.invalidWorkload, "unknown field '\(key)' in '\(section)'", at: loc(path, keyNode),
                                 hint: "allowed in \(section): " + children.joined(separator: ", "))
            }
            try applyLeaf(section + "." + key, value, path, &s)
        }
    }

    static func applyBackends(_ node: Node, _ path: String, _ s: inout Settings) throws {
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let seq): items = Array(seq)
        default:
            throw OrbitError(.invalidWorkload, "'backends' must be a list of backend names, found \(kindName(node))",
                             at: loc(path, node), hint: "e.g. backends: [memory, rocksdb]")
        }
        guard !items.isEmpty else {
            throw OrbitError(.invalidWorkload, "'backends' is empty", at: loc(path, node),
                             hint: "name at least one of: " + EngineRegistry.names.joined(separator: ", "))
        }
        var names: [String] = []
        for item in items {
            guard case .scalar(let sc) = item else {
                throw OrbitError(.invalidWorkload, "a backend must be a name, found \(kindName(item))", at: loc(path, item))
            }
            let canonical = EngineRegistry.canonicalName(sc.string)
            guard EngineRegistry.names.contains(canonical) else {
                throw OrbitError(.invalidWorkload, "unknown backend '\(sc.string)'", at: loc(path, item),
                                 hint: "allowed: " + EngineRegistry.names.joined(separator: ", "))
            }
            names.append(canonical)
        }
        s.set("backends", .string(names.joined(separator: ",")), from: source(path, node))
    }

    /// `config: {rocksdb: {block_cache_mb: 64}}` sets engine knobs `rocksdb.block_cache_mb`.
    static func applyConfig(_ node: Node, _ path: String, _ s: inout Settings) throws {
        guard case .mapping(let m) = node else {
            throw OrbitError(.invalidWorkload, "'config' must be a mapping of engine sections, found \(kindName(node))",
                             at: loc(path, node), hint: "e.g. config: {rocksdb: {block_cache_mb: 64}}")
        }
        let engines = Set(s.knobs.compactMap { k -> String? in
            let parts = k.name.split(separator: ".")
            return parts.count == 2 && !WorkloadKnobs.sections.contains(String(parts[0])) ? String(parts[0]) : nil
        })
        for (engineNode, section) in m {
            let engine = try keyString(engineNode, path)
            guard engines.contains(engine) else {
                throw OrbitError(.invalidWorkload, "unknown engine section '\(engine)' in 'config'", at: loc(path, engineNode),
                                 hint: "allowed: " + engines.sorted().joined(separator: ", "))
            }
            guard case .mapping(let knobs) = section else {
                throw OrbitError(.invalidWorkload, "'config.\(engine)' must be a mapping of settings, found \(kindName(section))",
                                 at: loc(path, section))
            }
            let allowed = s.knobs.filter { $0.name.hasPrefix(engine + ".") }.map { String($0.name.dropFirst(engine.count + 1)) }
            for (keyNode, value) in knobs {
                let key = try keyString(keyNode, path)
                guard allowed.contains(key) else {
                    throw OrbitError(.invalidWorkload, "unknown setting '\(key)' in 'config.\(engine)'", at: loc(path, keyNode),
                                     hint: "allowed: " + allowed.joined(separator: ", "))
                }
                try applyLeaf(engine + "." + key, value, path, &s)
            }
        }
    }

    // MARK: - Phases

    /// `phases:` — a list of mappings, each the run-section fields of one phase (`phaseFields`) plus
    /// `name` (default phase-N) and `background: true` (runs beside the next phase, stops when it ends).
    /// A phase's values are kept apart (`Settings.phases`); what a phase leaves out it takes from the
    /// workload, except that a phase's `mix` replaces the whole mix, and its `operation_count` or
    /// `duration_s` is its whole length (the other is not taken from the workload).
    static func applyPhases(_ node: Node, _ path: String, _ s: inout Settings) throws {
        let allowed = ["name", "background"] + WorkloadKnobs.phaseFields
        guard case .sequence(let seq) = node else {
            throw OrbitError(.invalidWorkload, "'phases' must be a list of phase mappings, found \(kindName(node))",
                             at: loc(path, node), hint: "e.g. phases: [{name: writers, mix: {update: 1}, operation_count: 1000}]")
        }
        guard !seq.isEmpty else {
            throw OrbitError(.invalidWorkload, "'phases' is empty", at: loc(path, node),
                             hint: "give at least one phase, or leave 'phases' out for a one-phase run")
        }
        guard seq.count <= WorkloadKnobs.maxPhases else {
            throw OrbitError(.invalidWorkload, "'phases' has \(seq.count) phases, more than \(WorkloadKnobs.maxPhases)", at: loc(path, node))
        }
        var phases: [PhaseOverlay] = []
        for (i, item) in seq.enumerated() {
            guard case .mapping(let m) = item else {
                throw OrbitError(.invalidWorkload, "phase \(i + 1) must be a mapping of run fields, found \(kindName(item))",
                                 at: loc(path, item), hint: "allowed in a phase: " + allowed.joined(separator: ", "))
            }
            var name = "phase-\(i + 1)"
            var background = false
            var backgroundSource = source(path, item)
            var scratch = s
            let before = scratch.entries.map(\.source)
            var seen: [String: Node] = [:]
            for (keyNode, value) in m {
                let key = try keyString(keyNode, path)
                guard seen[key] == nil else {
                    throw OrbitError(.invalidWorkload, "field '\(key)' appears twice in phase \(i + 1)", at: loc(path, keyNode))
                }
                seen[key] = value
                switch key {
                case "name":
                    guard case .scalar(let sc) = value else {
                        throw OrbitError(.invalidWorkload, "a phase's 'name' must be a word, found \(kindName(value))", at: loc(path, value))
                    }
                    name = sc.string
                    let ok = !name.isEmpty && name.count <= 64
                        && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
                    guard ok, name != "load" else {
                        throw OrbitError(.invalidWorkload, "phase name '\(name)' is not allowed", at: loc(path, value),
                                         hint: "a phase name is 1-64 letters, digits, '-' or '_', and not 'load' (the load phase's name)")
                    }
                case "background":
                    guard case .scalar(let sc) = value, sc.style != .singleQuoted, sc.style != .doubleQuoted, let b = value.bool else {
                        throw OrbitError(.invalidWorkload, "a phase's 'background' must be true or false, found \(kindName(value))",
                                         at: loc(path, value))
                    }
                    background = b
                    backgroundSource = source(path, value)
                default:
                    guard WorkloadKnobs.phaseFields.contains(key) else {
                        throw OrbitError(.invalidWorkload, "unknown field '\(key)' in phase \(i + 1)", at: loc(path, keyNode),
                                         hint: "allowed in a phase: " + allowed.joined(separator: ", ")
                                            + "; the other fields are the workload's, for every phase")
                    }
                    if key == "mix" {
                        // A phase's mix is its whole mix: proportions it leaves out are 0, not the workload's.
                        for (k, _) in WorkloadKnobs.mixEntries { scratch.set("mix." + k, .double(0), from: source(path, value)) }
                    }
                    if WorkloadKnobs.sections.contains(key) {
                        try applySection(key, value, path, &scratch)
                    } else {
                        try applyLeaf(key, value, path, &scratch)
                    }
                }
            }
            // The phase's length: its operation_count or duration_s alone, else (a background phase) until
            // the next phase ends, else the workload's.
            switch (seen["operation_count"], seen["duration_s"]) {
            case (let count?, nil): scratch.set("duration_s", .double(0), from: source(path, count))
            case (nil, let duration?): scratch.set("operation_count", .int(0), from: source(path, duration))
            case (nil, nil) where background:
                scratch.set("operation_count", .int(0), from: backgroundSource)
                scratch.set("duration_s", .double(0), from: backgroundSource)
            default: break
            }
            var values: [(knob: String, value: KnobValue, source: ConfigSource)] = []
            for (j, e) in scratch.entries.enumerated() where e.source != before[j] {
                values.append((e.name, e.value, e.source))
            }
            guard !phases.contains(where: { $0.name == name }) else {
                throw OrbitError(.invalidWorkload, "phase name '\(name)' appears twice", at: loc(path, seen["name"] ?? item),
                                 hint: "give every phase its own name")
            }
            phases.append(PhaseOverlay(name: name, source: source(path, seen["name"] ?? item), background: background,
                                       backgroundSource: backgroundSource, values: values))
        }
        if let last = phases.last, last.background {
            throw OrbitError(.invalidWorkload, "the last phase ('\(last.name)') cannot be a background phase",
                             at: last.backgroundSource.location ?? path,
                             hint: "a background phase runs beside the next phase and stops when it ends; the last phase has no next one")
        }
        s.phases = phases
    }

    // MARK: - Leaves

    static func applyLeaf(_ name: String, _ node: Node, _ path: String, _ s: inout Settings, shownName: String? = nil) throws {
        guard let knob = s.knob(named: name) else { preconditionFailure("no knob \(name)") }
        let src = source(path, node)
        // A list knob also takes a YAML sequence: `crash_methods: [kill, power-loss]`.
        if case .list = knob.kind, case .sequence(let seq) = node {
            var items: [String] = []
            for item in seq {
                guard case .scalar(let sc) = item else {
                    throw OrbitError(.invalidWorkload, "'\(shownName ?? name)' must be \(knob.allowed), found \(kindName(item)) in the list",
                                     at: loc(path, item))
                }
                items.append(sc.string)
            }
            do {
                s.set(name, try knob.check(.string(items.joined(separator: ",")), src), from: src)
            } catch var e as OrbitError {
                e.code = .invalidWorkload
                throw e
            }
            return
        }
        guard case .scalar(let sc) = node else {
            throw OrbitError(.invalidWorkload, "'\(shownName ?? name)' must be \(knob.allowed), found \(kindName(node))",
                             at: loc(path, node))
        }
        let value: KnobValue
        let quoted = sc.style == .singleQuoted || sc.style == .doubleQuoted
        switch knob.kind {
        case .int:
            guard !quoted, let v = node.int else { throw typeError(shownName ?? name, knob, sc, node, path) }
            value = .int(v)
        case .double:
            if !quoted, let v = node.int { value = .int(v) }
            else if !quoted, let v = node.float { value = .double(v) }
            else { throw typeError(shownName ?? name, knob, sc, node, path) }
        case .bool:
            guard !quoted, let v = node.bool else { throw typeError(shownName ?? name, knob, sc, node, path) }
            value = .bool(v)
        case .choice, .list, .string, .durability:
            value = .string(sc.string)
        }
        do {
            s.set(name, try knob.check(value, src), from: src)
        } catch var e as OrbitError {
            e.code = .invalidWorkload
            if let shownName { e.message = e.message.replacing(name, with: shownName) }
            throw e
        }
    }

    static func typeError(_ name: String, _ knob: Knob, _ sc: Node.Scalar, _ node: Node, _ path: String) -> OrbitError {
        let found = sc.style == .plain || sc.style == .any ? "'\(sc.string)'" : "string \"\(sc.string)\""
        return OrbitError(.invalidWorkload, "'\(name)' has the wrong type: \(found)", at: loc(path, node),
                          hint: "allowed: \(knob.allowed)")
    }

    // MARK: - Helpers

    static func keyString(_ node: Node, _ path: String) throws -> String {
        guard case .scalar(let sc) = node else {
            throw OrbitError(.invalidWorkload, "a field name must be a plain word, found \(kindName(node))", at: loc(path, node))
        }
        return sc.string
    }

    static func source(_ path: String, _ node: Node) -> ConfigSource {
        .workload(path: path, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    static func loc(_ path: String, _ node: Node) -> String {
        guard let m = node.mark else { return path }
        return "\(path):\(m.line):\(m.column)"
    }

    static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar(let s): "'\(s.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    static func yamlError(_ e: YamlError, _ path: String) -> OrbitError {
        switch e {
        case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _),
             .composer(let ctx, let problem, let mark, _):
            let context = ctx.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
            return OrbitError(.invalidWorkload, "YAML syntax error: \(problem)\(context)", at: "\(path):\(mark.line):\(mark.column)",
                              hint: "fix the YAML; a workload is a mapping of `field: value` lines")
        case .duplicatedKeysInMapping(let dups, let ctx):
            return OrbitError(.invalidWorkload, "field appears twice: \(dups.joined(separator: ", "))",
                              at: "\(path):\(ctx.mark.line):\(ctx.mark.column)")
        default:
            return OrbitError(.invalidWorkload, "cannot parse YAML: \(e)", at: path)
        }
    }
}

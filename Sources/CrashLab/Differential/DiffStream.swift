import OrbitCore

/// One operation of a differential stream.
public enum DiffOp: Sendable, Hashable {
    case put([UInt8], [UInt8])
    case delete([UInt8])
    /// (isPut, key, value) entries, applied all or nothing.
    case batch([BatchEntry])
    /// A bounded scan; its result is one observation.
    case scan(start: [UInt8]?, end: [UInt8]?, limit: Int)
    /// A full scan: one observation (a checkpoint of the state).
    case check
    /// Close and open the store again (memory: nothing happens; everyone else keeps everything).
    case reopen
    case snapshotCreate(String)
    case snapshotRestore(String)
    case snapshotDrop(String)

    public struct BatchEntry: Sendable, Hashable {
        public var isPut: Bool
        public var key: [UInt8]
        public var value: [UInt8]
    }
}

/// The seeded stream generator, the replay file format and the validity pass shrinking needs.
public enum DiffStream {
    static let keySpace = 240
    static let snapshotNames = ["s0", "s1", "s2"]

    static func key(_ i: Int) -> [UInt8] {
        // Varied lengths and shared prefixes (prefix compression, separators), 5 to 17 bytes.
        Array("k\(String(i * 7_919 % 1_000))".utf8) + [UInt8](repeating: UInt8(97 + i % 3), count: i % 13)
    }

    /// `count` operations from `seed`: puts, deletes, batches, scans, checks, reopens and
    /// snapshot create/restore/drop (only valid ones: a name is created when absent, restored or
    /// dropped when present), then a final check.
    public static func generate(seed: UInt64, count: Int) -> [DiffOp] {
        var rng = SeededRNG(seed: seed)
        var ops: [DiffOp] = []
        ops.reserveCapacity(count + 1)
        var snaps = Set<String>()
        func value() -> [UInt8] {
            let n = rng.below(50) == 0 ? 0 : 1 + Int(rng.below(rng.below(8) == 0 ? 300 : 40))
            return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        func anyKey() -> [UInt8] { key(Int(rng.below(UInt64(keySpace)))) }
        while ops.count < count {
            let r = rng.below(1000)
            switch r {
            case 0..<560: ops.append(.put(anyKey(), value()))
            case 560..<720: ops.append(.delete(anyKey()))
            case 720..<800:
                var entries: [DiffOp.BatchEntry] = []
                for _ in 0..<(1 + Int(rng.below(6))) {
                    let put = rng.below(4) != 0
                    entries.append(.init(isPut: put, key: anyKey(), value: put ? value() : []))
                }
                ops.append(.batch(entries))
            case 800..<960:
                let a = rng.below(4) == 0 ? nil : anyKey()
                let b = rng.below(4) == 0 ? nil : anyKey()
                ops.append(.scan(start: a, end: b, limit: rng.below(2) == 0 ? 0 : 1 + Int(rng.below(20))))
            case 960..<990: ops.append(.check)
            case 990..<992: ops.append(.reopen)
            default:
                let name = snapshotNames[Int(rng.below(UInt64(snapshotNames.count)))]
                if !snaps.contains(name) {
                    ops.append(.snapshotCreate(name)); snaps.insert(name)
                } else if rng.below(2) == 0 {
                    ops.append(.snapshotRestore(name))
                } else {
                    ops.append(.snapshotDrop(name)); snaps.remove(name)
                }
            }
        }
        ops.append(.check)
        return ops
    }

    /// Drops the snapshot operations a shorter stream made invalid (a create of an existing name,
    /// a restore or drop of a missing one), so every candidate of the shrinker is a valid stream.
    static func normalize(_ ops: [DiffOp]) -> [DiffOp] {
        var snaps = Set<String>()
        var out: [DiffOp] = []
        out.reserveCapacity(ops.count)
        for op in ops {
            switch op {
            case .snapshotCreate(let n): if snaps.insert(n).inserted { out.append(op) }
            case .snapshotRestore(let n): if snaps.contains(n) { out.append(op) }
            case .snapshotDrop(let n): if snaps.remove(n) != nil { out.append(op) }
            default: out.append(op)
            }
        }
        return out
    }

    // MARK: The replay file

    static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(b.count * 2 + 1)
        out.append(UInt8(ascii: "x"))
        for x in b { out.append(digits[Int(x >> 4)]); out.append(digits[Int(x & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: Substring) -> [UInt8]? {
        guard s.first == "x" else { return nil }
        let u = Array(s.utf8.dropFirst())
        guard u.count % 2 == 0 else { return nil }
        func d(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            default: nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let h = d(u[i]), let l = d(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    /// One op a line: `put xKEY xVALUE`, `delete xKEY`, `batch p:xK:xV d:xK ...`,
    /// `scan xSTART|- xEND|- LIMIT`, `check`, `reopen`, `snapshot-create|restore|drop NAME`;
    /// bytes in hex after an `x`; `#` starts a comment line.
    public static func render(_ ops: [DiffOp], header: [String]) -> String {
        var out = header.map { "# " + $0 + "\n" }.joined()
        for op in ops {
            switch op {
            case .put(let k, let v): out += "put \(hex(k)) \(hex(v))\n"
            case .delete(let k): out += "delete \(hex(k))\n"
            case .batch(let es): out += "batch " + es.map { $0.isPut ? "p:\(hex($0.key)):\(hex($0.value))" : "d:\(hex($0.key))" }.joined(separator: " ") + "\n"
            case .scan(let a, let b, let l): out += "scan \(a.map(hex) ?? "-") \(b.map(hex) ?? "-") \(l)\n"
            case .check: out += "check\n"
            case .reopen: out += "reopen\n"
            case .snapshotCreate(let n): out += "snapshot-create \(n)\n"
            case .snapshotRestore(let n): out += "snapshot-restore \(n)\n"
            case .snapshotDrop(let n): out += "snapshot-drop \(n)\n"
            }
        }
        return out
    }

    public static func parse(_ text: String, file: String) throws -> [DiffOp] {
        var ops: [DiffOp] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingPrefix(while: { $0 == " " })
            if line.isEmpty || line.hasPrefix("#") { continue }
            let f = line.split(separator: " ")
            func bad() -> OrbitError {
                OrbitError(.invalidArgument, "differential replay: cannot read line \(n + 1): '\(line.prefix(80))'", at: file,
                           hint: "one op a line: put xKEY xVALUE | delete xKEY | batch p:xK:xV d:xK | scan xA|- xB|- LIMIT | check | reopen | snapshot-create|restore|drop NAME")
            }
            func bytes(_ i: Int) throws -> [UInt8] {
                guard i < f.count else { throw bad() }
                if f[i] == "x" { return [] }
                guard let b = unhex(f[i]) else { throw bad() }
                return b
            }
            switch f[0] {
            case "put": ops.append(.put(try bytes(1), f.count > 2 ? try bytes(2) : []))
            case "delete": ops.append(.delete(try bytes(1)))
            case "batch":
                var es: [DiffOp.BatchEntry] = []
                for e in f.dropFirst() {
                    let p = e.split(separator: ":", omittingEmptySubsequences: false)
                    guard p.count >= 2, let k = p[1] == "x" ? [] : unhex(p[1]) else { throw bad() }
                    if p[0] == "p", p.count == 3, let v = p[2] == "x" ? [] : unhex(p[2]) { es.append(.init(isPut: true, key: k, value: v)) }
                    else if p[0] == "d" { es.append(.init(isPut: false, key: k, value: [])) }
                    else { throw bad() }
                }
                ops.append(.batch(es))
            case "scan":
                guard f.count == 4, let l = Int(f[3]) else { throw bad() }
                ops.append(.scan(start: f[1] == "-" ? nil : try bytes(1), end: f[2] == "-" ? nil : try bytes(2), limit: l))
            case "check": ops.append(.check)
            case "reopen": ops.append(.reopen)
            case "snapshot-create", "snapshot-restore", "snapshot-drop":
                guard f.count == 2 else { throw bad() }
                let name = String(f[1])
                ops.append(f[0] == "snapshot-create" ? .snapshotCreate(name) : f[0] == "snapshot-restore" ? .snapshotRestore(name) : .snapshotDrop(name))
            default: throw bad()
            }
        }
        return ops
    }
}

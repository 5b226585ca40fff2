public import OrbitCore

/// YCSB property files (`-P FILE`, in order) and `-p key=value` overrides as a configuration source.
///
/// YCSB's CoreWorkload and Client properties map onto the knobs that mean the same thing
/// (`readproportion` → `mix.read`, `threadcount` → `threads`, `target` → `target_ops_s`, ...); a property
/// a file leaves out takes YCSB's default (source "YCSB default ..."). A record of `fieldcount` fields of
/// `fieldlength` bytes is stored as one value of fieldcount · fieldlength bytes. orbit-bench knobs may be
/// given by name too (`-p durability=every-write`). Database-binding properties (`mongodb.url`,
/// `rocksdb.dir`, ...) are ignored with a notice; any other property is an error naming it and its
/// `file:line:column` (or flag).
public struct YCSBProperties: Sendable {
    /// One property as given: its value and where it came from.
    public struct Given: Sendable {
        public var key: String
        public var value: String
        public var source: ConfigSource
    }

    /// Properties in precedence order (later wins).
    public private(set) var given: [Given] = []
    /// The first file's name without directory: the workload's name unless `name` is set.
    public private(set) var firstFileName: String?

    public init() {}

    public mutating func add(file path: String) throws {
        for e in try PropertiesFile.read(path: path) {
            given.append(Given(key: e.key, value: e.value, source: .workload(path: path, line: e.line, column: e.column)))
        }
        if firstFileName == nil { firstFileName = String(path.split(separator: "/").last ?? Substring(path)) }
    }

    /// `-p key=value`.
    public mutating func add(override assignment: String) throws {
        guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
            throw OrbitError(.invalidArgument, "-p expects key=value, got '\(assignment)'", at: "flag -p \(assignment)",
                             hint: "e.g. -p recordcount=100000 or -p requestdistribution=zipfian")
        }
        given.append(Given(key: String(assignment[..<eq]).trimmingWhitespace(),
                           value: String(assignment[assignment.index(after: eq)...]).trimmingWhitespace(),
                           source: .flag("-p \(assignment)")))
    }

    // MARK: - The property table

    /// CoreWorkload and Client properties with a one-to-one knob, and YCSB's default.
    static let direct: [(property: String, knob: String, ycsbDefault: String?)] = [
        ("recordcount", "record_count", nil),
        ("operationcount", "operation_count", nil),
        ("threadcount", "threads", "1"),
        ("target", "target_ops_s", "0"),
        ("maxexecutiontime", "duration_s", "0"),
        ("readproportion", "mix.read", "0.95"),
        ("updateproportion", "mix.update", "0.05"),
        ("insertproportion", "mix.insert", "0"),
        ("scanproportion", "mix.scan", "0"),
        ("readmodifywriteproportion", "mix.read_modify_write", "0"),
        ("hotspotdatafraction", "key_distribution.data_fraction", "0.2"),
        ("hotspotopnfraction", "key_distribution.op_fraction", "0.8"),
        ("exponential.percentile", "key_distribution.percentile", "95"),
        ("exponential.frac", "key_distribution.fraction", "0.8571428571"),
        ("minscanlength", "scan_length.min", "1"),
        ("maxscanlength", "scan_length.max", "1000"),
        ("insertorder", "insert_order", "hashed"),
        ("insertstart", "insert_start", "0"),
        ("insertcount", "insert_count", nil),
        ("zeropadding", "zero_padding", "1"),
        ("table", "table", "usertable"),
        ("dataintegrity", "data_integrity", "false"),
        ("measurement.interval", "measurement_interval", "op"),
        ("dotransactions", "run", nil),
    ]

    /// Properties that several knobs are derived from (handled below), with YCSB's defaults.
    static let derived: [(property: String, ycsbDefault: String)] = [
        ("fieldcount", "10"), ("fieldlength", "100"), ("minfieldlength", "1"), ("fieldlengthdistribution", "constant"),
        ("requestdistribution", "uniform"), ("scanlengthdistribution", "uniform"), ("status.interval", "10"),
        ("readallfields", "true"), ("writeallfields", "false"), ("workload", "site.ycsb.workloads.CoreWorkload"),
    ]

    /// YCSB client and measurement properties with no counterpart here: accepted with a notice.
    public static let withoutEffect: [String: String] = [
        "db": "the engine is chosen with --backend",
        "exporter": "results are written as orbit-bench's files and YCSB-style lines",
        "exportfile": "results go to --out",
        "measurementtype": "latencies are always kept in HdrHistograms",
        "measurement.trackjvm": "there is no JVM",
        "hdrhistogram.fileoutput": "per-interval histograms are always written (interval-<backend>-<op>.csv)",
        "hdrhistogram.output.path": "results go to --out",
        "hdrhistogram.percentiles": "the YCSB-style lines show the 95th and 99th percentiles",
        "histogram.buckets": "latencies are always kept in HdrHistograms",
        "timeseries.granularity": "timeseries.csv uses status.interval",
        "fieldnameprefix": "a record is one value; fields have no names",
        "readallfieldsbyname": "a record is one value; a read returns all of it",
        "core_workload_insertion_retry_limit": "a failed insert is counted as an error, not retried",
        "core_workload_insertion_retry_interval": "a failed insert is counted as an error, not retried",
        "measurement.raw.output_file": "metrics.csv holds sampled raw rows (metrics_all: true for all)",
        "measurement.raw.no_summary": "the summary is always written",
        "label": "the run is named by the workload name",
        "zipfian.constant": "use -p key_distribution.constant=...",
    ]

    /// Prefixes and names of YCSB's database bindings' properties: listed and ignored with a notice.
    public static let bindingPrefixes = [
        "accumulo.", "aerospike.", "arangodb.", "asynchbase.", "azurecosmos.", "azuretablestorage.", "cassandra.",
        "cloudspanner.", "couchbase.", "crail.", "db.", "dynamodb.", "elasticsearch.", "es.", "foundationdb.", "geode.",
        "googlebigtable.", "googledatastore.", "griddb.", "hbase.", "ignite.", "infinispan.", "jdbc.", "kudu_", "maprdb.",
        "memcached.", "mongodb.", "nosqldb.", "orientdb.", "postgrenosql.", "rados.", "redis.", "rest.", "riak.",
        "rocksdb.", "s3.", "scylla.", "seaweed.", "solr.", "tablestore.", "tarantool.", "voldemort.", "zookeeper.",
    ]
    public static let bindingNames: Set<String> = ["hosts", "port", "columnfamily", "keyspace", "debug", "url"]

    static let distributions: [String: String] = [
        "uniform": "uniform", "zipfian": "scrambled_zipfian", "latest": "latest", "hotspot": "hotspot",
        "exponential": "exponential", "sequential": "sequential",
    ]

    public static func isBindingProperty(_ key: String) -> Bool {
        bindingNames.contains(key) || bindingPrefixes.contains { key.hasPrefix($0) }
    }

    // MARK: - Resolution

    /// One knob value the properties decide, with the source of the property that decided it.
    public struct Resolved: Sendable {
        public var knob: String
        public var value: KnobValue
        public var source: ConfigSource
    }

    /// Maps the properties onto knob values. `knobs` are the harness's knobs (a property may name one
    /// directly). Returns the values and the notices for ignored properties.
    public func resolve(knobs settings: Settings) throws -> (values: [Resolved], notices: [String]) {
        var latest: [String: Given] = [:]
        var notices: [String] = []
        var direct: [Given] = []  // orbit-bench knobs named directly, in order
        let known = Set(Self.direct.map(\.property) + Self.derived.map(\.property))
        for g in given {
            if known.contains(g.key) {
                latest[g.key] = g
            } else if settings.knob(named: g.key) != nil || WorkloadKnobs.shorthands[g.key] != nil {
                direct.append(g)
            } else if let why = Self.withoutEffect[g.key] {
                notices.append("\(where_(g.source)): property '\(g.key)' has no effect here (\(why)); ignored")
            } else if Self.isBindingProperty(g.key) {
                notices.append("\(where_(g.source)): database-binding property '\(g.key)' ignored (orbit-bench drives its own engines; choose one with --backend)")
            } else {
                let near = (Self.direct.map(\.property) + Self.derived.map(\.property)).filter { editDistance($0, g.key) <= 2 }
                throw OrbitError(.invalidWorkload, "unknown property '\(g.key)'" + (near.first.map { " (did you mean '\($0)'?)" } ?? ""),
                                 at: where_(g.source),
                                 hint: "supported YCSB properties: " + (Self.direct.map(\.property) + Self.derived.map(\.property)).sorted().joined(separator: ", ")
                                    + "; database-binding properties (e.g. " + Self.bindingPrefixes.prefix(3).map { $0 + "*" }.joined(separator: ", ")
                                    + ") are ignored with a notice; orbit-bench settings can be given by name (`orbit-bench list`)")
            }
        }

        var out: [Resolved] = []
        func value(_ p: String, _ def: String?) -> (text: String, source: ConfigSource)? {
            if let g = latest[p] { return (g.value, g.source) }
            return def.map { ($0, .ycsbDefault("\(p)=\($0)")) }
        }
        func set(_ knob: String, _ text: String, _ source: ConfigSource, property: String) throws {
            guard let k = settings.knob(named: knob) else { preconditionFailure("no knob \(knob)") }
            do {
                out.append(Resolved(knob: knob, value: try k.parse(text, source: source), source: source))
            } catch {
                throw OrbitError(.invalidWorkload, "\(property): bad value '\(text)'", at: where_(source),
                                 hint: "allowed: \(k.allowed)")
            }
        }
        func bad(_ property: String, _ text: String, _ source: ConfigSource, _ allowed: String) -> OrbitError {
            OrbitError(.invalidWorkload, "\(property): bad value '\(text)'", at: where_(source), hint: "allowed: \(allowed)")
        }

        // What a YCSB file always means here.
        let fixed = ConfigSource.ycsbDefault("(YCSB property file)")
        out.append(Resolved(knob: "key_format", value: .string("ycsb"), source: fixed))
        out.append(Resolved(knob: "load_order", value: .string("sequential"), source: fixed))
        out.append(Resolved(knob: "ycsb_output", value: .bool(true), source: fixed))
        if let name = firstFileName {
            out.append(Resolved(knob: "name", value: .string(name.split(separator: ".").first.map(String.init) ?? name), source: fixed))
        }

        for (property, knob, def) in Self.direct {
            guard let (text, source) = value(property, def) else { continue }
            if property == "insertorder", !["hashed", "ordered"].contains(text) {
                throw bad(property, text, source, "hashed, ordered")
            }
            if property == "dotransactions" || property == "dataintegrity", Bool(text.lowercased()) == nil {
                throw bad(property, text, source, "true, false")
            }
            try set(knob, text, source, property: property)
        }

        // Key distribution.
        if let (text, source) = value("requestdistribution", "uniform") {
            guard let type = Self.distributions[text] else {
                throw bad("requestdistribution", text, source, Self.distributions.keys.sorted().joined(separator: ", "))
            }
            out.append(Resolved(knob: "key_distribution.type", value: .string(type), source: source))
        }
        if let (text, source) = value("scanlengthdistribution", "uniform"), text != "uniform" {
            throw bad("scanlengthdistribution", text, source, "uniform (zipfian scan lengths are not supported)")
        }
        // Status lines and interval histograms share YCSB's status.interval.
        if let (text, source) = value("status.interval", "10") {
            try set("status_interval_s", text, source, property: "status.interval")
            try set("interval_s", text, source, property: "status.interval")
        }
        for p in ["readallfields", "writeallfields"] {
            if let (text, source) = value(p, nil), Bool(text.lowercased()) == nil { throw bad(p, text, source, "true, false") }
        }
        if let (text, source) = value("workload", nil),
           !["site.ycsb.workloads.CoreWorkload", "com.yahoo.ycsb.workloads.CoreWorkload"].contains(text) {
            throw bad("workload", text, source, "site.ycsb.workloads.CoreWorkload (com.yahoo.ycsb.workloads.CoreWorkload); other YCSB workload classes are not supported")
        }

        // A record: fieldcount fields of fieldlength bytes, stored as one value.
        func int(_ p: String, _ def: String) throws -> (Int, ConfigSource) {
            let (text, source) = value(p, def)!
            guard let v = Int(text), v >= 0 else { throw bad(p, text, source, "a non-negative integer") }
            return (v, source)
        }
        let (fields, fieldsSource) = try int("fieldcount", "10")
        let (length, lengthSource) = try int("fieldlength", "100")
        let (minLength, minSource) = try int("minfieldlength", "1")
        let (dist, distSource) = value("fieldlengthdistribution", "constant")!
        let last = [fieldsSource, lengthSource, minSource, distSource].last { if case .ycsbDefault = $0 { false } else { true } } ?? fieldsSource
        switch dist {
        case "constant":
            try set("value_size.min", String(fields * length), last, property: "fieldcount·fieldlength")
            try set("value_size.max", String(fields * length), last, property: "fieldcount·fieldlength")
        case "uniform":
            guard minLength <= length else { throw bad("minfieldlength", String(minLength), minSource, "at most fieldlength (\(length))") }
            try set("value_size.min", String(fields * minLength), last, property: "fieldcount·minfieldlength")
            try set("value_size.max", String(fields * length), last, property: "fieldcount·fieldlength")
        default:
            throw bad("fieldlengthdistribution", dist, distSource, "constant, uniform (zipfian and histogram field lengths are not supported)")
        }

        // orbit-bench knobs named directly win over the YCSB properties of the same precedence level.
        for g in direct {
            for knob in WorkloadKnobs.shorthands[g.key] ?? [g.key] {
                guard let k = settings.knob(named: knob) else { continue }
                out.append(Resolved(knob: knob, value: try k.parse(g.value, source: g.source), source: g.source))
            }
        }
        return (out, notices)
    }

    func where_(_ s: ConfigSource) -> String { s.location ?? s.description }
}

/// Levenshtein distance (for "did you mean" hints; property names are short).
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    var prev = Array(0...y.count)
    for i in 1...max(x.count, 1) where !x.isEmpty {
        var cur = [i] + Array(repeating: 0, count: y.count)
        for j in 1...max(y.count, 1) where !y.isEmpty {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return x.isEmpty ? y.count : prev[y.count]
}

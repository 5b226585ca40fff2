import OrbitCore
import Testing

/// A toy engine's options: one of each entry kind, a constraint, an environment override, and two
/// combination checks (one with the durability mode).
private struct ToyOptions: TableDrivenOptions, Hashable {
    var cacheMB = 8
    var ratio = 1.5
    var verify = false
    var codec = "none"
    var pageSize = 4096
    var low = 1
    var high = 2

    init() {}

    static let optionTable = OptionTable<ToyOptions>(engine: "toy", [
        .int("cache_mb", \.cacheMB, 0...1024, "cache, MiB"),
        .double("ratio", \.ratio, 0.5...2.5, "a ratio"),
        .bool("verify", \.verify, "verify reads"),
        .choice("codec", \.codec, ["none", "lz4"], "block codec"),
        .int("page_size", \.pageSize, 512...65_536, "page size", env: "page",
             constraint: .integer("a power of two in 512...65536") { $0 & ($0 - 1) == 0 }),
        .int("low", \.low, 0...100, "low mark"),
        .int("high", \.high, 0...100, "high mark"),
    ])

    func validate(durability: DurabilityMode) throws {
        let t = Self.optionTable
        guard low < high else {
            throw OptionError([t.name(\.low), t.name(\.high)], "\(t.name(\.low)) \(low) is not below \(t.name(\.high)) \(high)")
        }
        if durability != .none && !verify {
            throw OptionError([t.name(\.verify), OptionError.durabilityKnob], "a syncing durability needs \(t.name(\.verify))")
        }
    }
}

private let durabilityKnob = Knob("durability", env: "ORBIT_DURABILITY", kind: .durability, default: .string("none"), help: "")

/// The error `body` throws, which must be an `OrbitError` of bad input (exit status 2).
private func configError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OrbitError? {
    do {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let e as OrbitError {
        #expect(e.code == .invalidConfig && e.exitStatus == 2, sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected an OrbitError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct OptionTableTests {
    @Test func defaultsComeFromTheType() {
        let byName = Dictionary(uniqueKeysWithValues: ToyOptions.knobs.map { ($0.name, $0.defaultValue) })
        #expect(byName == ["toy.cache_mb": .int(8), "toy.ratio": .double(1.5), "toy.verify": .bool(false),
                           "toy.codec": .string("none"), "toy.page_size": .int(4096), "toy.low": .int(1), "toy.high": .int(2)])
        #expect(ToyOptions(settings: Settings(knobs: ToyOptions.knobs)) == ToyOptions())
    }

    @Test func namesAreDerivedFromTheEngineAndTheKey() {
        #expect(ToyOptions.knobs.map(\.name) == ["toy.cache_mb", "toy.ratio", "toy.verify", "toy.codec", "toy.page_size", "toy.low", "toy.high"])
        for k in ToyOptions.knobs {
            #expect(k.jsonSection == "toy_config")
            #expect("toy." + k.jsonKey == k.name)
        }
        #expect(ToyOptions.knobs[0].environment == "ORBIT_TOY_CACHE_MB")
        #expect(ToyOptions.knobs[4].environment == "ORBIT_TOY_PAGE", "an entry's environment override")
        #expect(ToyOptions.knobs[4].allowed == "an integer in 512...65536", "what `list` shows is the range")
        #expect(ToyOptions.optionTable.name(\.high) == "toy.high")
    }

    @Test func everySourceReachesTheField() throws {
        var settings = Settings(knobs: ToyOptions.knobs)
        try settings.applyEnvironment(["ORBIT_TOY_CACHE_MB": "64", "ORBIT_TOY_PAGE": "8192"])
        try settings.set("toy.codec", text: "LZ4", from: .flag("--set toy.codec=LZ4"))
        try settings.set("toy.ratio", text: "2", from: .api)
        let json = try #require(settings.knob(named: "toy.verify"))
        settings.set("toy.verify", try json.check(.bool(true), .configFile(path: "c.json", keyPath: "toy_config.verify")),
                     from: .configFile(path: "c.json", keyPath: "toy_config.verify"))
        let o = ToyOptions(settings: settings)
        #expect(o.cacheMB == 64 && o.pageSize == 8192 && o.codec == "lz4" && o.ratio == 2 && o.verify)
        #expect(o.low == 1 && o.high == 2)
    }

    @Test func rangeErrorsNameTheKnobAndTheSource() throws {
        var settings = Settings(knobs: ToyOptions.knobs)
        let e1 = configError { try settings.set("toy.cache_mb", text: "2000", from: .flag("--set toy.cache_mb=2000")) }
        #expect(e1?.description == "flag --set toy.cache_mb=2000: toy.cache_mb: bad value 2000; allowed: an integer in 0...1024")
        // The constraint is checked wherever the range is, and its words replace the range's.
        let e2 = configError { try settings.applyEnvironment(["ORBIT_TOY_PAGE": "1000"]) }
        #expect(e2?.description == "environment variable ORBIT_TOY_PAGE: toy.page_size: bad value 1000; allowed: a power of two in 512...65536")
        let page = try #require(settings.knob(named: "toy.page_size"))
        let e3 = configError { _ = try page.check(.int(131_072), .configFile(path: "c.json", keyPath: "toy_config.page_size")) }
        #expect(e3?.description == "c.json: toy_config.page_size: toy.page_size: bad value 131072; allowed: a power of two in 512...65536")
        #expect(settings.int("toy.page_size") == 4096 && settings.int("toy.cache_mb") == 8, "nothing refused was set")
    }

    @Test func optionsBuiltInCodeAreRangeChecked() {
        let table = ToyOptions.optionTable
        var o = ToyOptions()
        o.cacheMB = -1
        #expect { try table.check(o) } throws: { ($0 as? OptionError)?.knobs == ["toy.cache_mb"] }
        let e = configError { try o.check(durability: .none) }
        #expect(e?.description == "toy.cache_mb: bad value -1; allowed: an integer in 0...1024")
        o = ToyOptions()
        o.pageSize = 1000
        #expect { try table.check(o) } throws: { ($0 as? OptionError)?.knobs == ["toy.page_size"] }
        o = ToyOptions()
        o.codec = "LZ4"
        // In code a choice is spelled as the table spells it.
        #expect { try table.check(o) } throws: { ($0 as? OptionError)?.knobs == ["toy.codec"] }
        o = ToyOptions()
        o.ratio = 3
        #expect { try table.check(o) } throws: { ($0 as? OptionError)?.knobs == ["toy.ratio"] }
        #expect(throws: Never.self) { try ToyOptions().check(durability: .none) }
    }

    @Test func combinationErrorsNameEveryKnobAndItsSource() throws {
        var settings = Settings(knobs: [durabilityKnob] + ToyOptions.knobs)
        try settings.set("toy.low", text: "5", from: .flag("--set toy.low=5"))
        let e1 = configError { _ = try ToyOptions.validated(from: settings) }
        #expect(e1?.location == "toy.low from flag --set toy.low=5, toy.high from default")
        #expect(e1?.message == "toy.low 5 is not below toy.high 2")

        settings = Settings(knobs: [durabilityKnob] + ToyOptions.knobs)
        try settings.applyEnvironment(["ORBIT_DURABILITY": "group"])
        let e2 = configError { _ = try ToyOptions.validated(from: settings) }
        #expect(e2?.location == "toy.verify from default, durability from environment ORBIT_DURABILITY")
        try settings.set("toy.verify", text: "true", from: .api)
        #expect(try ToyOptions.validated(from: settings).verify)

        // Without settings (an engine opened with options built in code) the message names the knobs.
        var o = ToyOptions()
        o.high = 0
        let e3 = configError { try o.check(durability: .none) }
        #expect(e3?.location == nil && e3?.message == "toy.low 1 is not below toy.high 0")
    }
}

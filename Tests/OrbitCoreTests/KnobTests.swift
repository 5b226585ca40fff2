import OrbitCore
import Testing

/// Runs `body`, which must throw an `OrbitError`, and returns it.
private func configError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OrbitError? {
    do {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let e as OrbitError {
        #expect(e.code == .invalidConfig, sourceLocation: sourceLocation)
        #expect(e.exitStatus == 2, sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected an OrbitError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct KnobTests {
    let cacheMB = Knob("lsm.block_cache_mb", section: "lsm_config", env: "ORBIT_LSM_BLOCK_CACHE_MB",
                       kind: .int(1...65_536), default: .int(8), help: "block cache size")
    let ratio = Knob("bloom_ratio", env: "ORBIT_BLOOM_RATIO", kind: .double(0.5...2.5), default: .double(1), help: "")
    let verify = Knob("verify", env: "ORBIT_VERIFY", kind: .bool, default: .bool(false), help: "")
    let codec = Knob("codec", env: "ORBIT_CODEC", kind: .choice(["none", "lz4"]), default: .string("none"), help: "")
    let durability = Knob("durability", env: "ORBIT_DURABILITY", kind: .durability, default: .string("none"), help: "")

    @Test func parsesGoodValues() throws {
        #expect(try cacheMB.parse(" 64\n", source: .flag("--set")) == .int(64))
        #expect(try ratio.parse("1.25", source: .api) == .double(1.25))
        #expect(try ratio.check(.int(2), .api) == .double(2))
        #expect(try verify.parse("yes", source: .api) == .bool(true))
        #expect(try verify.parse("OFF", source: .api) == .bool(false))
        #expect(try codec.parse("LZ4", source: .api) == .string("lz4"))
        #expect(try durability.parse("every_write", source: .api) == .string("every-write"))
        #expect(try durability.parse("periodic(250ms)", source: .api) == .string("periodic:250"))
    }

    @Test func environmentErrorNamesTheVariableAndTheAllowedRange() {
        let e = configError { _ = try cacheMB.parse("lots", source: .environment(variable: "ORBIT_LSM_BLOCK_CACHE_MB")) }
        #expect(e?.location == "environment variable ORBIT_LSM_BLOCK_CACHE_MB")
        #expect(e?.description == "environment variable ORBIT_LSM_BLOCK_CACHE_MB: lsm.block_cache_mb: "
                + "bad value 'lots'; allowed: an integer in 1...65536")
    }

    @Test func configFileErrorNamesTheSectionKeyAndFile() {
        let e = configError { _ = try cacheMB.check(.int(0), .configFile(path: "orbit.json", keyPath: "lsm_config.block_cache_mb")) }
        let text = e?.description ?? ""
        #expect(text.contains("orbit.json"), "\(text)")
        #expect(text.contains("orbit.json: lsm_config.block_cache_mb: lsm.block_cache_mb: bad value 0"), "\(text)")
        #expect(text.contains("allowed: an integer in 1...65536"), "\(text)")
    }

    @Test func workloadAndFlagErrorsNameThePosition() {
        let w = configError { _ = try ratio.parse("3", source: .workload(path: "workloads/a.yaml", line: 4, column: 7)) }
        #expect(w?.location == "workloads/a.yaml:4:7")
        #expect(w?.description.contains("bloom_ratio: bad value 3") == true, "\(w?.description ?? "")")
        #expect(w?.hint == "allowed: a number in 0.5...2.5")

        let f = configError { _ = try verify.parse("maybe", source: .flag("--set verify=maybe")) }
        #expect(f?.location == "flag --set verify=maybe")
        #expect(f?.description.contains("verify: bad value 'maybe'") == true)
        #expect(f?.hint == "allowed: true or false")
    }

    @Test func choiceAndDurabilityErrorsListTheChoices() {
        let c = configError { _ = try codec.parse("zstd", source: .api) }
        #expect(c?.description == "codec: bad value 'zstd'; allowed: one of: none, lz4")
        let d = configError { _ = try durability.parse("periodic:0", source: .environment(variable: "ORBIT_DURABILITY")) }
        #expect(d?.description.contains("environment variable ORBIT_DURABILITY: durability: bad value 'periodic:0'") == true)
        #expect(d?.hint == "allowed: one of: " + DurabilityMode.allowedSpellings)
    }

    @Test func wrongTypeFromJSONIsNamed() {
        let e = configError { _ = try cacheMB.check(.bool(true), .configFile(path: "c.json", keyPath: "lsm_config.block_cache_mb")) }
        #expect(e?.description.contains("bad value boolean true") == true, "\(e?.description ?? "")")
        let s = configError { _ = try verify.check(.string("yes"), .api) }
        #expect(s?.description.contains("bad value string yes") == true, "\(s?.description ?? "")")
    }

    @Test func settingsRejectUnknownNamesAndVariables() throws {
        var settings = Settings(knobs: [cacheMB, verify, durability])
        #expect(settings.source("verify") == .builtinDefault)
        let unknown = configError { try settings.set("cache_mb", text: "4", from: .flag("--set cache_mb=4")) }
        #expect(unknown?.description.contains("unknown setting 'cache_mb'") == true)
        #expect(unknown?.hint == "known settings: lsm.block_cache_mb, verify, durability")

        let env = configError {
            try settings.applyEnvironment(["ORBIT_VERIFY": "true", "ORBIT_VERYFY": "true", "HOME": "/root"])
        }
        #expect(env?.location == "environment variable ORBIT_VERYFY")
        #expect(env?.hint?.contains("ORBIT_VERIFY") == true)

        try settings.applyEnvironment(["ORBIT_LSM_BLOCK_CACHE_MB": "32", "ORBIT_OTHER": "x"], ignoring: ["ORBIT_OTHER"])
        #expect(settings.int("lsm.block_cache_mb") == 32)
        #expect(settings.source("lsm.block_cache_mb") == .environment(variable: "ORBIT_LSM_BLOCK_CACHE_MB"))
        try settings.set("durability", text: "group", from: .flag("--durability"))
        #expect(settings.durability() == .group)
        #expect(settings.source("durability") == .flag("--durability"))
    }
}

import Foundation
import Testing
import Yams
@testable import OrbitCLI
import OrbitCore
import Runner

/// deploy/kubernetes/ (README "Running agents in Kubernetes"): no cluster and no kubectl here, so
/// the manifests are checked against what the Kubernetes API accepts: every document parses, its
/// apiVersion/kind pair exists, every field name at every level is one of that object's fields in
/// the API reference (the lists below are subsets of it: a field not listed is refused, so a typo
/// is caught), the required fields are there, the agents' DNS names, ports and Secret references
/// agree with each other, and the orbit-bench command lines parse with the real CLI.
@Suite("Kubernetes manifests")
struct KubernetesManifestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let directory = root + "/deploy/kubernetes"

    // MARK: - The API reference's fields (core/v1 and batch/v1), as far as manifests here may use them

    indirect enum Field: Sendable {
        case scalar                 // string, number, boolean (or IntOrString)
        case stringMap              // map[string]string: labels, selectors, data, resource quantities
        case scalars                // []string
        case object(String)         // a nested object of the named type
        case objects(String)        // a list of objects of the named type
    }

    static func fields(_ scalars: [String], _ rest: [String: Field] = [:]) -> [String: Field] {
        var out = rest
        for s in scalars { out[s] = .scalar }
        return out
    }

    /// apiVersion of each kind the manifests may use.
    static let apiVersions: [String: String] = ["Job": "batch/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1"]

    static let types: [String: [String: Field]] = [
        "Job": fields(["apiVersion", "kind"], ["metadata": .object("ObjectMeta"), "spec": .object("JobSpec")]),
        "Service": fields(["apiVersion", "kind"], ["metadata": .object("ObjectMeta"), "spec": .object("ServiceSpec")]),
        "ConfigMap": fields(["apiVersion", "kind", "immutable"],
                            ["metadata": .object("ObjectMeta"), "data": .stringMap, "binaryData": .stringMap]),
        "Secret": fields(["apiVersion", "kind", "immutable", "type"],
                         ["metadata": .object("ObjectMeta"), "data": .stringMap, "stringData": .stringMap]),
        "ObjectMeta": fields(["name", "generateName", "namespace"], ["labels": .stringMap, "annotations": .stringMap]),
        "JobSpec": fields(["activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode", "completions",
                           "managedBy", "manualSelector", "maxFailedIndexes", "parallelism", "podReplacementPolicy", "suspend",
                           "ttlSecondsAfterFinished"],
                          ["selector": .object("LabelSelector"), "template": .object("PodTemplateSpec")]),
        "PodTemplateSpec": ["metadata": .object("ObjectMeta"), "spec": .object("PodSpec")],
        "PodSpec": fields(["activeDeadlineSeconds", "automountServiceAccountToken", "dnsPolicy", "enableServiceLinks", "hostIPC",
                           "hostNetwork", "hostPID", "hostUsers", "hostname", "nodeName", "preemptionPolicy", "priority",
                           "priorityClassName", "restartPolicy", "runtimeClassName", "schedulerName", "serviceAccountName",
                           "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds"],
                          ["nodeSelector": .stringMap, "containers": .objects("Container"), "initContainers": .objects("Container"),
                           "volumes": .objects("Volume"), "topologySpreadConstraints": .objects("TopologySpreadConstraint"),
                           "securityContext": .object("PodSecurityContext"), "tolerations": .objects("Toleration"),
                           "imagePullSecrets": .objects("LocalObjectReference")]),
        "PodSecurityContext": fields(["fsGroup", "fsGroupChangePolicy", "runAsGroup", "runAsNonRoot", "runAsUser"],
                                     ["supplementalGroups": .scalars, "seccompProfile": .object("SeccompProfile")]),
        "SeccompProfile": fields(["type", "localhostProfile"]),
        "Toleration": fields(["effect", "key", "operator", "tolerationSeconds", "value"]),
        "LocalObjectReference": fields(["name"]),
        "Container": fields(["name", "image", "imagePullPolicy", "workingDir", "terminationMessagePath", "terminationMessagePolicy",
                             "stdin", "stdinOnce", "tty"],
                            ["command": .scalars, "args": .scalars, "env": .objects("EnvVar"), "envFrom": .objects("EnvFromSource"),
                             "ports": .objects("ContainerPort"), "readinessProbe": .object("Probe"), "livenessProbe": .object("Probe"),
                             "startupProbe": .object("Probe"), "resources": .object("ResourceRequirements"),
                             "volumeMounts": .objects("VolumeMount"), "securityContext": .object("SecurityContext")]),
        "SecurityContext": fields(["allowPrivilegeEscalation", "privileged", "procMount", "readOnlyRootFilesystem", "runAsGroup",
                                   "runAsNonRoot", "runAsUser"],
                                  ["capabilities": .object("Capabilities"), "seccompProfile": .object("SeccompProfile")]),
        "Capabilities": ["add": .scalars, "drop": .scalars],
        "EnvVar": fields(["name", "value"], ["valueFrom": .object("EnvVarSource")]),
        "EnvVarSource": ["secretKeyRef": .object("KeySelector"), "configMapKeyRef": .object("KeySelector"),
                         "fieldRef": .object("ObjectFieldSelector")],
        "KeySelector": fields(["name", "key", "optional"]),
        "ObjectFieldSelector": fields(["apiVersion", "fieldPath"]),
        "EnvFromSource": fields(["prefix"], ["configMapRef": .object("EnvSource"), "secretRef": .object("EnvSource")]),
        "EnvSource": fields(["name", "optional"]),
        "ContainerPort": fields(["containerPort", "hostIP", "hostPort", "name", "protocol"]),
        "Probe": fields(["failureThreshold", "initialDelaySeconds", "periodSeconds", "successThreshold",
                         "terminationGracePeriodSeconds", "timeoutSeconds"],
                        ["tcpSocket": .object("TCPSocketAction"), "httpGet": .object("HTTPGetAction"), "exec": .object("ExecAction"),
                         "grpc": .object("GRPCAction")]),
        "TCPSocketAction": fields(["host", "port"]),
        "HTTPGetAction": fields(["host", "path", "port", "scheme"]),
        "ExecAction": ["command": .scalars],
        "GRPCAction": fields(["port", "service"]),
        "ResourceRequirements": ["limits": .stringMap, "requests": .stringMap],
        "VolumeMount": fields(["mountPath", "mountPropagation", "name", "readOnly", "recursiveReadOnly", "subPath", "subPathExpr"]),
        "Volume": fields(["name"], ["configMap": .object("ConfigMapVolumeSource"), "secret": .object("SecretVolumeSource"),
                                    "emptyDir": .object("EmptyDirVolumeSource"),
                                    "persistentVolumeClaim": .object("PersistentVolumeClaimVolumeSource")]),
        "ConfigMapVolumeSource": fields(["name", "defaultMode", "optional"], ["items": .objects("KeyToPath")]),
        "SecretVolumeSource": fields(["secretName", "defaultMode", "optional"], ["items": .objects("KeyToPath")]),
        "KeyToPath": fields(["key", "path", "mode"]),
        "EmptyDirVolumeSource": fields(["medium", "sizeLimit"]),
        "PersistentVolumeClaimVolumeSource": fields(["claimName", "readOnly"]),
        "TopologySpreadConstraint": fields(["maxSkew", "minDomains", "nodeAffinityPolicy", "nodeTaintsPolicy", "topologyKey",
                                            "whenUnsatisfiable"],
                                           ["matchLabelKeys": .scalars, "labelSelector": .object("LabelSelector")]),
        "LabelSelector": ["matchLabels": .stringMap, "matchExpressions": .objects("LabelSelectorRequirement")],
        "LabelSelectorRequirement": fields(["key", "operator"], ["values": .scalars]),
        "ServiceSpec": fields(["clusterIP", "externalName", "externalTrafficPolicy", "internalTrafficPolicy", "ipFamilyPolicy",
                               "loadBalancerClass", "publishNotReadyAddresses", "sessionAffinity", "type"],
                              ["clusterIPs": .scalars, "externalIPs": .scalars, "ipFamilies": .scalars, "selector": .stringMap,
                               "ports": .objects("ServicePort")]),
        "ServicePort": fields(["appProtocol", "name", "nodePort", "port", "protocol", "targetPort"]),
    ]

    /// Variables that carry credentials: only ever from a Secret (valueFrom.secretKeyRef), never a literal value.
    static let credentialVariables: Set<String> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                   "ETCDCTL_USER", "ETCDCTL_PASSWORD", "PGPASSWORD", "REDIS_PASSWORD"]

    // MARK: - Reading the manifests

    struct Manifest {
        var file: String
        var node: Node
        var kind: String { node["kind"]?.string ?? "" }
        var name: String { node["metadata"]?["name"]?.string ?? "" }
        var podSpec: Node? { node["spec"]?["template"]?["spec"] }
        /// Containers and init containers of a Job's pod template.
        var containers: [Node] {
            (podSpec?["initContainers"]?.sequence.map(Array.init) ?? []) + (podSpec?["containers"]?.sequence.map(Array.init) ?? [])
        }
    }

    static func manifestFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    }

    static func parse(_ yaml: String, file: String) throws -> [Manifest] {
        try Yams.compose_all(yaml: yaml).map { Manifest(file: file, node: $0) }
    }

    static func manifests() throws -> [Manifest] {
        try manifestFiles().flatMap { name in
            try parse(String(contentsOfFile: directory + "/" + name, encoding: .utf8), file: "deploy/kubernetes/" + name)
        }
    }

    static func location(_ file: String, _ node: Node) -> String {
        node.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
    }

    static func strings(_ node: Node?) -> [String] {
        node?.sequence?.compactMap(\.string) ?? []
    }

    // MARK: - The field check

    /// Problems of one document: an unknown apiVersion/kind pair, or a field its object does not have.
    static func problems(_ m: Manifest) -> [String] {
        guard m.node.mapping != nil else { return ["\(location(m.file, m.node)): a manifest is a mapping"] }
        guard let want = apiVersions[m.kind] else {
            return ["\(location(m.file, m.node)): kind '\(m.kind)' is not one of \(apiVersions.keys.sorted())"]
        }
        var out: [String] = []
        let version = m.node["apiVersion"]?.string ?? ""
        if version != want {
            out.append("\(location(m.file, m.node)): \(m.kind) is apiVersion \(want), not '\(version)'")
        }
        check(m.node, as: m.kind, path: m.kind, file: m.file, into: &out)
        if m.name.isEmpty { out.append("\(location(m.file, m.node)): metadata.name is required") }
        else if m.name.count > 63 || m.name.contains(where: { !($0.isLowercase && $0.isASCII) && !$0.isNumber && $0 != "-" })
                    || m.name.hasPrefix("-") || m.name.hasSuffix("-") {
            out.append("\(location(m.file, m.node)): metadata.name '\(m.name)' is not a DNS-1123 label (a-z, 0-9, '-', at most 63)")
        }
        return out
    }

    static func check(_ node: Node, as type: String, path: String, file: String, into out: inout [String]) {
        guard let known = types[type] else { out.append("\(path): no field list for \(type)"); return }
        guard let mapping = node.mapping else {
            out.append("\(location(file, node)): \(path) is a \(type), a mapping; found \(node)")
            return
        }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            let here = "\(path).\(key)"
            guard let field = known[key] else {
                out.append("\(location(file, keyNode)): unknown field '\(key)' in \(type) (\(path)); known: \(known.keys.sorted().joined(separator: ", "))")
                continue
            }
            switch field {
            case .scalar:
                if value.scalar == nil { out.append("\(location(file, value)): \(here) must be a scalar") }
            case .stringMap:
                if let m = value.mapping {
                    for (k, v) in m where k.scalar == nil || v.scalar == nil {
                        out.append("\(location(file, k)): \(here) maps strings to strings")
                    }
                } else { out.append("\(location(file, value)): \(here) must be a map of strings") }
            case .scalars:
                if let s = value.sequence {
                    for item in s where item.scalar == nil { out.append("\(location(file, item)): \(here) is a list of strings") }
                } else { out.append("\(location(file, value)): \(here) must be a list") }
            case .object(let t):
                check(value, as: t, path: here, file: file, into: &out)
            case .objects(let t):
                if let s = value.sequence {
                    for (i, item) in s.enumerated() { check(item, as: t, path: "\(here)[\(i)]", file: file, into: &out) }
                } else { out.append("\(location(file, value)): \(here) must be a list") }
            }
        }
    }

    // MARK: - Tests

    @Test func everyManifestUsesRealKindsAndFields() throws {
        let all = try Self.manifests()
        let files = try Self.manifestFiles()
        #expect(all.count >= 4, "deploy/kubernetes/ holds \(all.count) manifests: \(files)")
        #expect(Set(all.map(\.kind)).isSuperset(of: ["Job", "Service", "ConfigMap"]), "kinds: \(all.map(\.kind))")
        for m in all {
            let p = Self.problems(m)
            #expect(p.isEmpty, "\(m.file): \(p.joined(separator: "\n"))")
        }
        // Names are unique per kind (kubectl apply -f deploy/kubernetes/ would overwrite one with the other).
        let keys = all.map { "\($0.kind)/\($0.name)" }
        #expect(Set(keys).count == keys.count, "duplicate objects: \(keys.sorted())")
    }

    /// The checker itself: a typo, a field one level too high, a wrong apiVersion and a missing name are found.
    @Test func checkerRefusesWhatKubernetesRefuses() throws {
        let bad = """
            apiVersion: batch/v2
            kind: Job
            metadata:
              labels: {a: b}
            spec:
              completionMode: Indexed
              template:
                spec:
                  restartPolicy: Never
                  container:
                    - name: x
                      image: y
                  containers:
                    - name: x
                      image: y
                      args: [a]
                      port: 7070
            ---
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: s}
            """
        let docs = try Self.parse(bad, file: "bad.yaml")
        let first = Self.problems(docs[0]).joined(separator: "\n")
        #expect(first.contains("apiVersion batch/v1, not 'batch/v2'"), "\(first)")
        #expect(first.contains("bad.yaml:10:"), "\(first)")
        #expect(first.contains("unknown field 'container' in PodSpec"), "\(first)")
        #expect(first.contains("unknown field 'port' in Container"), "\(first)")
        #expect(first.contains("metadata.name is required"), "\(first)")
        #expect(Self.problems(docs[1]).joined().contains("kind 'StatefulSet' is not one of"))
        #expect(Self.jobProblems(docs[0]).joined().contains("completionMode Indexed needs completions"))
    }

    static func jobProblems(_ m: Manifest) -> [String] {
        var out: [String] = []
        let spec = m.node["spec"]
        let at = Self.location(m.file, m.node)
        let restart = m.podSpec?["restartPolicy"]?.string
        if restart != "Never" && restart != "OnFailure" {
            out.append("\(at): Job \(m.name): restartPolicy must be Never or OnFailure, is \(restart ?? "unset (Always)")")
        }
        let containers = m.podSpec?["containers"]?.sequence.map(Array.init) ?? []
        if containers.isEmpty { out.append("\(at): Job \(m.name): spec.template.spec.containers is required") }
        for c in m.containers where c["name"]?.string?.isEmpty ?? true || c["image"]?.string?.isEmpty ?? true {
            out.append("\(Self.location(m.file, c)): Job \(m.name): every container needs a name and an image")
        }
        let mode = spec?["completionMode"]?.string ?? "NonIndexed"
        if mode != "Indexed" && mode != "NonIndexed" { out.append("\(at): completionMode is Indexed or NonIndexed, not \(mode)") }
        if mode == "Indexed" {
            let completions = spec?["completions"]?.int, parallelism = spec?["parallelism"]?.int
            if completions == nil || parallelism == nil {
                out.append("\(at): Job \(m.name): completionMode Indexed needs completions and parallelism")
            } else if parallelism! > completions! || completions! < 1 {
                out.append("\(at): Job \(m.name): parallelism \(parallelism!) of \(completions!) completions")
            }
        }
        return out
    }

    @Test func jobsHaveTheirRequiredFields() throws {
        let jobs = try Self.manifests().filter { $0.kind == "Job" }
        #expect(jobs.count == 2, "an agents Job and a coordinator Job: \(jobs.map(\.name))")
        #expect(jobs.contains { $0.node["spec"]?["completionMode"]?.string == "Indexed" }, "no Indexed Job")
        for j in jobs {
            let p = Self.jobProblems(j)
            #expect(p.isEmpty, "\(p.joined(separator: "\n"))")
        }
    }

    /// The orbit-bench arguments of a container started as `orbit-bench ...` (nil otherwise).
    static func orbitBenchArguments(_ c: Node) -> [String]? {
        let line = strings(c["command"]) + strings(c["args"])
        guard line.first == "orbit-bench" else { return nil }
        return Array(line.dropFirst())
    }

    static func value(of flag: String, in args: [String]) -> String? {
        args.firstIndex(of: flag).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
    }

    /// The agents are `<job>-<index>.<service>`: the Indexed Job's pods name themselves after it, its
    /// subdomain is a headless Service selecting exactly its pods, and the coordinator's --agents lists
    /// every index at the port the agents listen on (and the Service and container declare).
    @Test func coordinatorReachesEveryAgentByItsStableName() throws {
        let all = try Self.manifests()
        let agentJobs = all.filter { m in m.kind == "Job" && m.containers.contains { Self.orbitBenchArguments($0)?.first == "agent" } }
        let agents = try #require(agentJobs.first, "no Job runs `orbit-bench agent`")
        #expect(agentJobs.count == 1)
        #expect(agents.node["spec"]?["completionMode"]?.string == "Indexed", "the agents' Job is not Indexed")
        let completions = try #require(agents.node["spec"]?["completions"]?.int)
        let container = try #require(agents.containers.first { Self.orbitBenchArguments($0)?.first == "agent" })
        let agentArgs = Self.orbitBenchArguments(container) ?? []
        let listen = try #require(Self.value(of: "--listen", in: agentArgs), "agent without --listen: \(agentArgs)")
        let port = try #require(listen.split(separator: ":").last.flatMap { Int($0) }, "--listen \(listen)")
        #expect(listen.hasPrefix("0.0.0.0:"), "agents listen on every interface of the pod, not \(listen)")
        let containerPorts = Self.ints(container["ports"], "containerPort")
        #expect(containerPorts.contains(port), "the agent container does not declare port \(port)")

        let subdomain = try #require(agents.podSpec?["subdomain"]?.string, "the agents' pod template has no subdomain")
        let service = try #require(all.first { $0.kind == "Service" && $0.name == subdomain }, "no Service named \(subdomain)")
        #expect(service.node["spec"]?["clusterIP"]?.string == "None", "Service \(subdomain) is not headless")
        let selector = service.node["spec"]?["selector"]?.mapping.map { m in
            Dictionary(uniqueKeysWithValues: m.map { ($0.key.string ?? "", $0.value.string ?? "") })
        } ?? [:]
        #expect(selector == ["job-name": agents.name], "Service \(subdomain) selects \(selector), not job-name=\(agents.name)")
        let servicePorts = Self.ints(service.node["spec"]?["ports"], "port")
        #expect(servicePorts.contains(port), "Service \(subdomain) lacks port \(port)")

        let expected = (0..<completions).map { "\(agents.name)-\($0).\(subdomain):\(port)" }
        let coordinators = all.filter { $0.kind == "Job" && $0.containers.contains { Self.orbitBenchArguments($0)?.first == "run" } }
        #expect(coordinators.count == 1, "one coordinator Job runs `orbit-bench run`: \(coordinators.map(\.name))")
        for m in coordinators {
            for c in m.containers {
                guard let args = Self.orbitBenchArguments(c), args.first == "run" else { continue }
                let list = try #require(Self.value(of: "--agents", in: args), "the coordinator has no --agents")
                #expect(list.split(separator: ",").map(String.init) == expected, "--agents \(list); the Job's pods are \(expected)")
            }
            // The init container waits for each of those names at that port.
            for c in m.podSpec?["initContainers"]?.sequence.map(Array.init) ?? [] {
                let script = Self.strings(c["args"]).joined(separator: "\n")
                #expect(script.contains("for i in \((0..<completions).map(String.init).joined(separator: " ")); do"), "\(script)")
                #expect(script.contains("\(agents.name)-$i.\(subdomain)/\(port)"), "\(script)")
            }
        }
    }

    static func ints(_ list: Node?, _ key: String) -> [Int] {
        list?.sequence?.compactMap { $0[key]?.int } ?? []
    }

    /// Credentials come from a Secret through the environment, never from a manifest: no literal value
    /// for a credential variable, no Secret object with data, and every orbit-bench container that
    /// reaches the store gets the same Secret's keys.
    @Test func credentialsOnlyFromASecret() throws {
        let all = try Self.manifests()
        for m in all where m.kind == "Secret" {
            #expect(m.node["data"] == nil && m.node["stringData"] == nil, "\(m.file): a Secret with values; create it with kubectl instead")
        }
        var secretNames: Set<String> = []
        for m in all where m.kind == "Job" {
            for c in m.containers {
                var present: Set<String> = []
                for e in c["env"]?.sequence.map(Array.init) ?? [] {
                    guard let name = e["name"]?.string, Self.credentialVariables.contains(name) else { continue }
                    #expect(e["value"] == nil, "\(Self.location(m.file, e)): \(name) has a literal value")
                    let ref = e["valueFrom"]?["secretKeyRef"]
                    #expect(ref?["name"]?.string != nil && ref?["key"]?.string != nil, "\(Self.location(m.file, e)): \(name) is not from a Secret")
                    if let s = ref?["name"]?.string { secretNames.insert(s) }
                    present.insert(name)
                }
                if let args = Self.orbitBenchArguments(c), ["run", "agent"].contains(args.first ?? "") {
                    #expect(present.isSuperset(of: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
                            "\(m.name)/\(c["name"]?.string ?? "?"): the store's credentials are missing: \(present.sorted())")
                }
            }
        }
        #expect(secretNames.count == 1, "one Secret for the store's credentials: \(secretNames.sorted())")
    }

    /// Every orbit-bench command line parses with the real CLI, and `run`'s configuration (workload
    /// from the ConfigMap, --backend, --set knobs, --agents) builds as `run` would build it.
    @Test func commandLinesUseRealFlags() throws {
        Engines.install()
        let all = try Self.manifests()
        // The ConfigMaps' files, by the path they are mounted at in each pod.
        let configMaps = Dictionary(all.filter { $0.kind == "ConfigMap" }.map { ($0.name, $0.node["data"]) }, uniquingKeysWith: { a, _ in a })
        let scratch = NSTemporaryDirectory() + "orbit-k8s-manifests-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        var checked = 0
        for m in all where m.kind == "Job" {
            var mounted: [String: String] = [:]   // path in the pod -> file here
            for v in m.podSpec?["volumes"]?.sequence.map(Array.init) ?? [] {
                guard let cm = v["configMap"]?["name"]?.string, let volume = v["name"]?.string else { continue }
                let data = try #require(configMaps[cm] ?? nil, "\(m.name): volume \(volume) names ConfigMap \(cm), which is not in deploy/kubernetes/")
                for c in m.containers {
                    for mount in c["volumeMounts"]?.sequence.map(Array.init) ?? [] where mount["name"]?.string == volume {
                        for (key, text) in data.mapping.map(Array.init) ?? [] {
                            let here = scratch + "/\(cm)-\(key.string ?? "")"
                            try (text.string ?? "").write(toFile: here, atomically: true, encoding: .utf8)
                            mounted[(mount["mountPath"]?.string ?? "") + "/" + (key.string ?? "")] = here
                        }
                    }
                }
            }
            for c in m.containers {
                guard var args = Self.orbitBenchArguments(c) else { continue }
                checked += 1
                args = args.map { mounted[$0] ?? $0 }
                do {
                    let command = try OrbitBenchCLI.parseAsRoot(args)
                    guard let run = command as? RunCommand else { continue }
                    #expect(run.workload.workload.map { $0.hasPrefix(scratch) } == true,
                            "\(m.name): the workload \(run.workload.workload ?? "none") is not a file of a mounted ConfigMap (\(mounted.keys.sorted()))")
                    let c = try run.options.build(workload: run.workload.workload, propertyFiles: run.workload.propertyFiles,
                                                  properties: run.workload.properties)
                    #expect(!c.settings.string("name").isEmpty)
                } catch {
                    Issue.record("\(m.name)/\(c["name"]?.string ?? "?"): `orbit-bench \(args.joined(separator: " "))` is refused: \(OrbitBenchCLI.fullMessage(for: error))")
                }
            }
        }
        #expect(checked >= 2, "found \(checked) orbit-bench command lines")
    }

    /// The image the manifests run is the one deploy/kubernetes/Dockerfile builds (README's tag), with
    /// orbit-bench on PATH.
    @Test func imageIsTheDockerfiles() throws {
        let dockerfile = try String(contentsOfFile: Self.directory + "/Dockerfile", encoding: .utf8)
        #expect(dockerfile.contains("--product orbit-bench"))
        #expect(dockerfile.contains("/usr/local/bin/orbit-bench"))
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        for m in try Self.manifests() where m.kind == "Job" {
            for c in m.containers {
                let image = c["image"]?.string ?? ""
                #expect(readme.contains("-t \(image) "), "\(m.name): image \(image) is not the one README's docker build tags")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore

/// The memory-bounded regime (`memory_limit_mb`, issue 16 item 6; docs/architecture.md, "Metrics
/// and timing"): each backend's open, load, run and close happen inside a memory cgroup of that
/// size, page cache included, so no engine gets more of the machine's memory than another, whether
/// it caches in its own heap (lsm's block cache, cow's pages) or leans on the OS page cache (LMDB,
/// RocksDB's reads). A managed server started meanwhile is forked inside it and counted too.
///
/// Mechanism: the harness process moves itself (every thread: `cgroup.procs`) into a new child of
/// its own memory cgroup for the backend's run and back out afterwards; memory it had charged
/// before stays outside, everything allocated or read into the page cache during the backend's run
/// is charged inside. cgroup v1's memory controller where it is mounted (this machine kind), else
/// cgroup v2's `memory.max`. When the limit cannot hold the anonymous memory, the kernel's OOM
/// killer picks a process in the cgroup: the harness (or a managed server) — stated in README.
public final class MemoryCgroup {
    public enum Version: String, Sendable { case v1 = "cgroup v1", v2 = "cgroup v2" }

    /// Where this process's memory cgroup is, and which version.
    public struct Controller: Sendable {
        public var version: Version
        /// The directory of this process's own memory cgroup.
        public var current: String
    }

    /// What a backend's run used, read from its cgroup after the run.
    public struct Usage: Sendable, Hashable {
        public var limitBytes: UInt64
        public var cgroup: String
        public var version: String
        /// Highest charge (anonymous memory plus page cache), bytes.
        public var peakBytes: UInt64
        /// Page cache and anonymous memory charged at the end of the run, bytes.
        public var pageCacheBytes: UInt64
        public var anonymousBytes: UInt64
        /// Times the limit was hit (reclaim had to run), and OOM kills in the cgroup.
        public var limitHits: UInt64
        public var oomKills: UInt64
    }

    public let controller: Controller
    public let path: String
    public let limitBytes: UInt64

    /// This process's memory cgroup, or why there is none to use.
    public static func locate() -> Result<Controller, OrbitError> {
        guard let text = try? POSIXFileSystem().readFile("/proc/self/cgroup", limit: 1 << 16) else {
            return .failure(OrbitError(.unsupported, "cannot read /proc/self/cgroup: no cgroups"))
        }
        var v2Path: String?
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1].split(separator: ",").contains("memory") {
                let dir = "/sys/fs/cgroup/memory" + (parts[2] == "/" ? "" : String(parts[2]))
                if access(dir + "/memory.limit_in_bytes", F_OK) == 0 { return .success(Controller(version: .v1, current: dir)) }
            }
            if parts[0] == "0", parts[1].isEmpty { v2Path = String(parts[2]) }
        }
        if let p = v2Path {
            let dir = "/sys/fs/cgroup" + (p == "/" ? "" : p)
            if let c = try? POSIXFileSystem().readFile(dir + "/cgroup.controllers", limit: 4096),
               String(decoding: c, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("memory") {
                return .success(Controller(version: .v2, current: dir))
            }
        }
        return .failure(OrbitError(.unsupported, "no memory cgroup controller is mounted for this process (/proc/self/cgroup names none)"))
    }

    /// Refuses, before anything runs, when no memory controller is writable here: makes and removes
    /// a probe cgroup.
    public static func check(limitMB: Int) throws {
        let probe = try MemoryCgroup(name: "orbit-bench-\(getpid())-probe", limitBytes: UInt64(limitMB) << 20)
        try probe.remove()
    }

    /// A new child of this process's memory cgroup, limited to `limitBytes` (the run's regime).
    public init(name: String, limitBytes: UInt64) throws {
        let c: Controller
        switch Self.locate() {
        case .success(let found): c = found
        case .failure(let e):
            throw OrbitError(.invalidConfig, "memory_limit_mb: \(e.message)", at: "memory_limit_mb",
                             hint: "a memory-bounded run needs a writable memory cgroup (v1 memory controller or v2 memory.max; as root); run without memory_limit_mb")
        }
        controller = c
        path = c.current + "/" + name
        self.limitBytes = limitBytes
        Self.removeStale(in: c)
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            let e = Errno(errno)
            throw OrbitError(.invalidConfig, "memory_limit_mb: cannot create the memory cgroup \(path) (\(e))", at: "memory_limit_mb",
                             hint: "a memory-bounded run needs a writable memory cgroup (as root here); run without memory_limit_mb")
        }
        do {
            try write(c.version == .v1 ? "memory.limit_in_bytes" : "memory.max", String(limitBytes))
            if c.version == .v2 { try? write("memory.swap.max", "0") }
        } catch {
            rmdir(path)
            throw error
        }
    }

    private func write(_ file: String, _ text: String, in dir: String? = nil) throws {
        let p = (dir ?? path) + "/" + file
        let fd = open(p, O_WRONLY)
        guard fd >= 0 else {
            throw OrbitError(.invalidConfig, "memory_limit_mb: cannot open \(p) (\(Errno(errno)))", at: "memory_limit_mb",
                             hint: "a memory-bounded run needs a writable memory cgroup; run without memory_limit_mb")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else {
            throw OrbitError(.invalidConfig, "memory_limit_mb: writing '\(text)' to \(p) failed (\(Errno(errno)))", at: "memory_limit_mb")
        }
    }

    private func read(_ file: String) -> String {
        guard let b = try? POSIXFileSystem().readFile(path + "/" + file, limit: 1 << 20) else { return "" }
        return String(decoding: b, as: UTF8.self)
    }

    private func number(_ file: String) -> UInt64 { UInt64(read(file).trimmingWhitespace()) ?? 0 }

    private func field(_ name: String, of file: String) -> UInt64 {
        for line in read(file).split(separator: "\n") {
            let p = line.split(separator: " ")
            if p.count == 2, p[0] == name { return UInt64(p[1]) ?? 0 }
        }
        return 0
    }

    /// Drops the page cache of every file below `directory` (each synced first, so that its dirty
    /// pages can go too; no byte changes), so a backend starts its bounded run with none of its store
    /// cached by an earlier run outside its cgroup: every engine starts cold. Returns the files touched.
    @discardableResult
    public static func evictPageCache(of directory: String) -> Int {
        var files = 0
        guard let dir = opendir(directory) else { return 0 }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                files += evictPageCache(of: path)
            } else if st.st_mode & S_IFMT == S_IFREG {
                let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                _ = fdatasync(fd)
                _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
                close(fd)
                files += 1
            }
        }
        return files
    }

    /// Moves this process (every thread) into the cgroup.
    public func enter() throws { try write("cgroup.procs", String(getpid())) }

    /// Moves this process back to the cgroup it came from.
    public func leave() throws { try write("cgroup.procs", String(getpid()), in: controller.current) }

    /// What the cgroup saw (call after the run, before `remove`).
    public func usage() -> Usage {
        let v1 = controller.version == .v1
        return Usage(limitBytes: limitBytes, cgroup: path, version: controller.version.rawValue,
                     peakBytes: number(v1 ? "memory.max_usage_in_bytes" : "memory.peak"),
                     pageCacheBytes: field(v1 ? "cache" : "file", of: "memory.stat"),
                     anonymousBytes: field(v1 ? "rss" : "anon", of: "memory.stat"),
                     limitHits: v1 ? number("memory.failcnt") : field("max", of: "memory.events"),
                     oomKills: field("oom_kill", of: v1 ? "memory.oom_control" : "memory.events"))
    }

    /// Removes the cgroups an orbit-bench process made here and could not remove because it was
    /// killed (SIGKILL, or the OOM killer of its own limit): `orbit-bench-<pid>-…` whose process no
    /// longer exists. Only empty cgroups can be removed (rmdir refuses one with a task in it), and
    /// nothing else is touched: another name, a live pid, or a pid now reused are left alone.
    static func removeStale(in c: Controller) {
        guard let dir = opendir(c.current) else { return }
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("orbit-bench-"),
                  let pid = Int32(name.dropFirst("orbit-bench-".count).prefix { $0 != "-" }),
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            stale.append(c.current + "/" + name)
        }
        closedir(dir)
        for path in stale {
            if c.version == .v1 {
                let fd = open(path + "/memory.force_empty", O_WRONLY)
                if fd >= 0 { _ = Glibc.write(fd, "0", 1); close(fd) }
            }
            rmdir(path)
        }
    }

    /// Removes the cgroup (this process must have left it). Its page cache goes to the parent (v1:
    /// emptied first with memory.force_empty).
    public func remove() throws {
        if controller.version == .v1 { try? write("memory.force_empty", "0") }
        var tries = 0
        while rmdir(path) != 0 {
            guard errno == EBUSY, tries < 50 else {
                throw OrbitError(.io, "cannot remove the memory cgroup \(path) (\(Errno(errno)))")
            }
            tries += 1
            usleep(20_000)
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" { s.removeLast() }
        return s
    }
}

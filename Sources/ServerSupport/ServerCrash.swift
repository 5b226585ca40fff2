#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore

/// The processes of this machine as /proc shows them: pid, parent and start time (clock ticks after
/// boot, so a pid the kernel gave to another process since is not taken for the one we saw).
public struct ProcessTable: Sendable {
    public struct Entry: Sendable, Hashable {
        public var pid: pid_t
        public var ppid: pid_t
        /// Field 22 of /proc/<pid>/stat.
        public var startTime: UInt64
        /// Field 3: R, S, D, T, Z (a zombie: dead, not yet reaped), X.
        public var state: Character

        public var isDead: Bool { state == "Z" || state == "X" }
    }

    public var entries: [Entry]

    /// Reads every /proc/<pid>/stat (a process that exits meanwhile is left out).
    public static func read() -> ProcessTable {
        var out: [Entry] = []
        guard let dir = opendir("/proc") else { return ProcessTable(entries: []) }
        defer { closedir(dir) }
        while let d = readdir(dir) {
            let name = withUnsafeBytes(of: d.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = pid_t(name), let e = entry(pid) else { continue }
            out.append(e)
        }
        return ProcessTable(entries: out)
    }

    /// One process's entry, or nil when it is gone.
    public static func entry(_ pid: pid_t) -> Entry? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { return nil }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        guard let close = buf[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buf[(close + 1)..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 19, let state = fields[0].first,
              let ppid = pid_t(String(decoding: fields[1], as: UTF8.self)),
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        return Entry(pid: pid, ppid: ppid, startTime: start, state: Character(UnicodeScalar(state)))
    }

    /// Every live descendant of `root` (children, their children, ...), not `root` itself.
    public func descendants(of root: pid_t) -> [Entry] {
        var children: [pid_t: [Entry]] = [:]
        for e in entries where !e.isDead { children[e.ppid, default: []].append(e) }
        var out: [Entry] = []
        var queue = [root]
        while let p = queue.popLast() {
            for c in children[p] ?? [] {
                out.append(c)
                queue.append(c.pid)
            }
        }
        return out
    }

    /// Whether the process `e` names is gone: exited (a zombie counts) or its pid now another's.
    public static func isGone(_ e: Entry) -> Bool {
        guard let now = entry(e.pid) else { return true }
        return now.startTime != e.startTime || now.isDead
    }
}

extension ServerProcess {
    /// Crashes the server the way a machine's OOM killer or an operator's `kill -9` would, with its
    /// whole process tree (PostgreSQL's postmaster forks a backend per connection and its auxiliary
    /// processes): SIGSTOP the server, then every descendant as /proc shows them until no new one
    /// appears (a stopped process forks none, and a stopped postmaster restarts none), then SIGKILL
    /// them all and wait until every one is gone (a zombie counts: it holds no file, port or
    /// shared memory). No clean shutdown runs: nothing is flushed that was not already.
    ///
    /// Returns false when the process is not running (nothing was sent), true once the tree is gone;
    /// throws when some process of it is still there after `timeoutNanos`.
    @discardableResult
    public func crash(timeoutNanos: UInt64 = 30_000_000_000) throws -> Bool {
        let root = pid
        guard root > 0, isRunning, let rootEntry = ProcessTable.entry(root) else { return false }
        send(SIGSTOP)
        var tree: [pid_t: ProcessTable.Entry] = [:]
        while true {
            var fresh = 0
            for e in ProcessTable.read().descendants(of: root) where tree[e.pid]?.startTime != e.startTime {
                kill(e.pid, SIGSTOP)
                tree[e.pid] = e
                fresh += 1
            }
            if fresh == 0 { break }
        }
        send(SIGKILL)
        for e in tree.values where !ProcessTable.isGone(e) { kill(e.pid, SIGKILL) }
        let deadline = MonotonicClock.nanoseconds() &+ timeoutNanos
        _ = waitForExit(timeoutNanos: timeoutNanos)
        var pause: UInt32 = 200
        while true {
            let left = tree.values.filter { !ProcessTable.isGone($0) }
            if left.isEmpty && exitStatus != nil { return true }
            if MonotonicClock.nanoseconds() >= deadline {
                let pids = ([exitStatus == nil ? rootEntry.pid : nil].compactMap { $0 } + left.map(\.pid)).map(String.init)
                throw OrbitError(.engine, "\(spec.name) did not die within \(timeoutNanos / 1_000_000_000) s of SIGKILL (pids \(pids.joined(separator: ", ")))",
                                 at: spec.logFile)
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrbitCore

/// What the process cost the machine over a phase: CPU time (user and system, every thread), context
/// switches, bytes the process read and wrote to storage (/proc/self/io `read_bytes`/`write_bytes`:
/// what reached or came from the block layer, page-cache hits not counted), and the sectors moved on
/// the device that holds the data directory (/proc/diskstats: device-wide, so other processes' I/O
/// on that device is counted too — the figure to compare with the process's own).
///
/// A server backend's server is another process: its CPU and I/O are not in these figures (they are
/// the client's), which the table says beside them.
public struct ResourceUsage: Sendable, Hashable {
    public var userSeconds: Double = 0
    public var systemSeconds: Double = 0
    public var voluntarySwitches: UInt64 = 0
    public var involuntarySwitches: UInt64 = 0
    /// /proc/self/io read_bytes and write_bytes; nil where the file cannot be read.
    public var processReadBytes: UInt64?
    public var processWriteBytes: UInt64?
    /// The data directory's device, sectors × 512; nil without a data directory or a diskstats line.
    public var deviceReadBytes: UInt64?
    public var deviceWriteBytes: UInt64?

    public init() {}

    /// The counters now; `device` from `device(of:)`, once per run; `io: false` reads getrusage only.
    public static func now(device: Device?, io: Bool = true) -> ResourceUsage {
        var r = ResourceUsage()
        var u = rusage()
        #if canImport(Glibc)
        let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let who = RUSAGE_SELF
        #endif
        if getrusage(who, &u) == 0 {
            r.userSeconds = Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
            r.systemSeconds = Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
            r.voluntarySwitches = UInt64(max(0, u.ru_nvcsw))
            r.involuntarySwitches = UInt64(max(0, u.ru_nivcsw))
        }
        if io, let io = readSmallFile("/proc/self/io") {
            for line in io.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let v = UInt64(parts[1].trimmingPrefix(" ")) else { continue }
                if parts[0] == "read_bytes" { r.processReadBytes = v }
                if parts[0] == "write_bytes" { r.processWriteBytes = v }
            }
        }
        if let device, let stats = readSmallFile("/proc/diskstats", limit: 1 << 20) {
            for line in stats.split(separator: "\n") {
                // major minor name reads merged sectors-read ms writes merged sectors-written ...
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count >= 10, UInt32(f[0]) == device.major, UInt32(f[1]) == device.minor,
                      let rd = UInt64(f[5]), let wr = UInt64(f[9]) else { continue }
                r.deviceReadBytes = rd * 512
                r.deviceWriteBytes = wr * 512
                break
            }
        }
        return r
    }

    /// The block device a path lives on (major, minor), or nil (no such path, or a device
    /// /proc/diskstats does not list: tmpfs, overlay).
    public struct Device: Sendable, Hashable {
        public var major: UInt32
        public var minor: UInt32
        public var name: String
    }

    public static func device(of path: String) -> Device? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let major = UInt32((st.st_dev >> 8) & 0xfff) | UInt32((st.st_dev >> 32) & ~0xfff)
        let minor = UInt32(st.st_dev & 0xff) | UInt32((st.st_dev >> 12) & ~0xff)
        guard let stats = readSmallFile("/proc/diskstats", limit: 1 << 20) else { return nil }
        for line in stats.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 3, UInt32(f[0]) == major, UInt32(f[1]) == minor {
                return Device(major: major, minor: minor, name: String(f[2]))
            }
        }
        return nil
    }

    /// The cost from `earlier` to `self`.
    public func since(_ earlier: ResourceUsage) -> ResourceUsage {
        func d(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
            guard let a, let b else { return nil }
            return a >= b ? a - b : 0
        }
        var r = ResourceUsage()
        r.userSeconds = max(0, userSeconds - earlier.userSeconds)
        r.systemSeconds = max(0, systemSeconds - earlier.systemSeconds)
        r.voluntarySwitches = voluntarySwitches &- earlier.voluntarySwitches
        r.involuntarySwitches = involuntarySwitches &- earlier.involuntarySwitches
        r.processReadBytes = d(processReadBytes, earlier.processReadBytes)
        r.processWriteBytes = d(processWriteBytes, earlier.processWriteBytes)
        r.deviceReadBytes = d(deviceReadBytes, earlier.deviceReadBytes)
        r.deviceWriteBytes = d(deviceWriteBytes, earlier.deviceWriteBytes)
        return r
    }

    static func readSmallFile(_ path: String, limit: Int = 1 << 16) -> Substring? {
        guard let bytes = try? POSIXFileSystem().readFile(path, limit: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)[...]
    }
}

/// One phase's cost (load or run), and how many operations it did: the per-operation figures of
/// summary.csv divide the one by the other.
public struct PhaseCost: Sendable {
    public var phase: String
    public var operations: Int
    public var usage: ResourceUsage

    public init(phase: String, operations: Int, usage: ResourceUsage) {
        self.phase = phase
        self.operations = operations
        self.usage = usage
    }

    public var cpuUserMicrosPerOp: Double { perOp(usage.userSeconds * 1e6) }
    public var cpuSystemMicrosPerOp: Double { perOp(usage.systemSeconds * 1e6) }
    public var contextSwitchesPerOp: Double { perOp(Double(usage.voluntarySwitches + usage.involuntarySwitches)) }
    public var processReadBytesPerOp: Double? { usage.processReadBytes.map { perOp(Double($0)) } }
    public var processWriteBytesPerOp: Double? { usage.processWriteBytes.map { perOp(Double($0)) } }
    public var deviceReadBytesPerOp: Double? { usage.deviceReadBytes.map { perOp(Double($0)) } }
    public var deviceWriteBytesPerOp: Double? { usage.deviceWriteBytes.map { perOp(Double($0)) } }

    func perOp(_ v: Double) -> Double { operations > 0 ? v / Double(operations) : 0 }
}

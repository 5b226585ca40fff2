/// One timed operation, as the seeds define it: what ran, how long it took, the process heap at the
/// time, the bytes this call itself moved to and from disk, and whether it succeeded.
///
/// Produced only by the metering layer (engines never time themselves).
public struct PersistenceMetrics: Sendable, Hashable {
    public var operationType: OperationType
    /// Service time in nanoseconds (monotonic clock).
    public var latencyNanos: UInt64
    /// Process heap in bytes (jemalloc `stats.allocated`) when sampled; 0 when not measured.
    public var memoryUsedBytes: UInt64
    public var diskBytesRead: UInt64
    public var diskBytesWritten: UInt64
    public var success: Bool
    /// Bytes a server backend's call sent and received on the wire (0 for engines without a server).
    public var netBytesSent: UInt64
    public var netBytesReceived: UInt64

    public init(operationType: OperationType, latencyNanos: UInt64, memoryUsedBytes: UInt64 = 0,
                diskBytesRead: UInt64 = 0, diskBytesWritten: UInt64 = 0, success: Bool = true,
                netBytesSent: UInt64 = 0, netBytesReceived: UInt64 = 0) {
        self.operationType = operationType
        self.latencyNanos = latencyNanos
        self.memoryUsedBytes = memoryUsedBytes
        self.diskBytesRead = diskBytesRead
        self.diskBytesWritten = diskBytesWritten
        self.success = success
        self.netBytesSent = netBytesSent
        self.netBytesReceived = netBytesReceived
    }
}

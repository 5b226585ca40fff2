#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread counters of the disk bytes the calling thread's operations moved.
///
/// Engines (or the file layer beneath them) add to these as they read and write; the metering layer
/// reads them before and after an operation to fill `PersistenceMetrics.diskBytesRead/Written` for the
/// bytes that call itself moved. Background threads count into their own counters, which nobody
/// attributes to a foreground operation (their work is reported per interval through `StorageStats`).
public enum ThreadIO {
    public struct Counters: Sendable, Equatable {
        public var bytesRead: UInt64 = 0
        public var bytesWritten: UInt64 = 0
        /// Bytes a server backend's client sent and received on the wire (protocol framing included).
        public var netBytesSent: UInt64 = 0
        public var netBytesReceived: UInt64 = 0
        public init() {}
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { p in
            #if canImport(Darwin)
            p.assumingMemoryBound(to: Counters.self).deallocate()
            #else
            p?.assumingMemoryBound(to: Counters.self).deallocate()
            #endif
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return k
    }()

    @inline(__always)
    static func slot() -> UnsafeMutablePointer<Counters> {
        if let p = pthread_getspecific(key) { return p.assumingMemoryBound(to: Counters.self) }
        let p = UnsafeMutablePointer<Counters>.allocate(capacity: 1)
        p.initialize(to: Counters())
        pthread_setspecific(key, p)
        return p
    }

    @inline(__always) public static func addRead(_ n: Int) { slot().pointee.bytesRead &+= UInt64(n) }
    @inline(__always) public static func addWritten(_ n: Int) { slot().pointee.bytesWritten &+= UInt64(n) }
    @inline(__always) public static func addNet(sent: Int, received: Int) {
        let p = slot()
        p.pointee.netBytesSent &+= UInt64(sent)
        p.pointee.netBytesReceived &+= UInt64(received)
    }
    /// The calling thread's totals so far.
    @inline(__always) public static func current() -> Counters { slot().pointee }
}

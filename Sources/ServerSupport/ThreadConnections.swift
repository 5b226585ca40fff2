#if canImport(Glibc)
import Glibc
#endif
import CServerSpawn
public import OrbitCore

/// A client connection to a server, as `ThreadConnections` keeps it.
public protocol ServerConnection: AnyObject {
    /// Closes the connection (called once).
    func disconnect()
}

/// One connection per client thread: the first call on a thread opens that thread's connection, later
/// calls on it get the same one (a thread-specific slot: no lock on the hot path). A thread's
/// connection is closed when the thread exits, and every one still open when `closeAll()` runs.
public final class ThreadConnections<C: ServerConnection>: @unchecked Sendable {
    private let key: pthread_key_t
    private let open: () throws -> C
    private let slots = Lock<(live: [ObjectIdentifier: ConnectionSlot], closed: Bool)>(([:], false))

    /// `open` makes a new connection (called on the thread that will use it).
    public init(_ open: @escaping () throws -> C) {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { raw in
            guard let raw else { return }
            Unmanaged<ConnectionSlot>.fromOpaque(raw).takeRetainedValue().retire()
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        key = k
        self.open = open
    }

    /// The calling thread's connection, opened on first use.
    ///
    /// A key number freed by an earlier set's `closeAll` may come back from pthread_key_create, and
    /// a thread that outlived that set still holds its old slot under it: a slot is this set's only
    /// when it names it as its owner (the old owner is kept alive by its slot, so no two live sets
    /// share an identity).
    @inline(__always)
    public func current() throws -> C {
        if let raw = pthread_getspecific(key) {
            let slot = Unmanaged<ConnectionSlot>.fromOpaque(raw).takeUnretainedValue()
            if slot.ownerID == ObjectIdentifier(self) { return unsafeDowncast(slot, to: Slot<C>.self).connection }
            pthread_setspecific(key, nil)
            Unmanaged<ConnectionSlot>.fromOpaque(raw).release()
        }
        return try openForThread()
    }

    private func openForThread() throws -> C {
        guard !slots.withLock({ $0.closed }) else { throw OrbitError(.closed, "the engine is closed") }
        let c = try open()
        let slot = Slot(c, owner: self)
        let added = slots.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.live[ObjectIdentifier(slot)] = slot
            return true
        }
        guard added else {
            c.disconnect()
            throw OrbitError(.closed, "the engine is closed")
        }
        pthread_setspecific(key, Unmanaged.passRetained(slot as ConnectionSlot).toOpaque())
        return c
    }

    /// Closes the calling thread's connection (a call on it failed: its server was killed), so the
    /// thread's next `current()` opens a new one.
    public func dropCurrent() {
        guard let raw = pthread_getspecific(key) else { return }
        let slot = Unmanaged<ConnectionSlot>.fromOpaque(raw).takeUnretainedValue()
        pthread_setspecific(key, nil)
        if slot.ownerID == ObjectIdentifier(self) {
            let mine = slots.withLock { $0.live.removeValue(forKey: ObjectIdentifier(slot)) != nil }
            if mine { slot.disconnect() }
        }
        Unmanaged<ConnectionSlot>.fromOpaque(raw).release()
    }

    /// How many connections are open now.
    public var count: Int { slots.withLock { $0.live.count } }

    /// A thread that used a connection exits: its connection is closed (unless `closeAll` did).
    fileprivate func retire(_ slot: ConnectionSlot) {
        let mine = slots.withLock { $0.live.removeValue(forKey: ObjectIdentifier(slot)) != nil }
        if mine { slot.disconnect() }
    }

    /// Closes every connection; later `current()` calls throw `.closed`.
    public func closeAll() {
        let all = slots.withLock { s -> [ConnectionSlot] in
            s.closed = true
            defer { s.live.removeAll() }
            return Array(s.live.values)
        }
        for s in all { s.disconnect() }
        // The calling thread's own slot: cleared, so a later engine on this thread starts afresh.
        if let raw = pthread_getspecific(key) {
            pthread_setspecific(key, nil)
            Unmanaged<ConnectionSlot>.fromOpaque(raw).release()
        }
        pthread_key_delete(key)
    }
}

/// The thread-specific slot's object (non-generic, so the key's C destructor can call it).
class ConnectionSlot {
    let ownerID: ObjectIdentifier
    init(ownerID: ObjectIdentifier) { self.ownerID = ownerID }
    func retire() {}
    func disconnect() {}
}

private final class Slot<C: ServerConnection>: ConnectionSlot {
    let connection: C
    // Strong: a thread that exits after the engine is gone still finds the set it was in.
    let owner: ThreadConnections<C>
    init(_ connection: C, owner: ThreadConnections<C>) {
        self.connection = connection
        self.owner = owner
        super.init(ownerID: ObjectIdentifier(owner))
    }
    override func retire() { owner.retire(self) }
    override func disconnect() { connection.disconnect() }
}

/// Counts a connection's bytes on the wire into the calling thread's `ThreadIO` net counters, from
/// the kernel's TCP counters (TCP_INFO) read after each operation: what the client sent and received,
/// protocol framing included. A Unix-domain socket counts nothing (no such counters).
public struct NetByteCounter {
    private var sent: UInt64 = 0
    private var received: UInt64 = 0
    public private(set) var fd: Int32 = -1

    public init() {}

    /// Starts counting on `fd` (a new connection's socket; the bytes of its handshake are not counted).
    public mutating func attach(_ fd: Int32) {
        self.fd = fd
        if orbit_tcp_bytes(fd, &sent, &received) != 0 { self.fd = -1 }
    }

    /// Adds what moved since the last call to the calling thread's counters.
    @inline(__always)
    public mutating func account() {
        guard fd >= 0 else { return }
        var s: UInt64 = 0, r: UInt64 = 0
        guard orbit_tcp_bytes(fd, &s, &r) == 0 else { return }
        ThreadIO.addNet(sent: Int(truncatingIfNeeded: s &- sent), received: Int(truncatingIfNeeded: r &- received))
        sent = s
        received = r
    }
}

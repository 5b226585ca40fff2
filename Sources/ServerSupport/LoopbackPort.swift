#if canImport(Glibc)
import Glibc
#endif
public import OrbitCore

/// Free TCP ports on 127.0.0.1.
public enum LoopbackPort {
    /// A port nobody listens on now: bound with port 0 and released. Another process may take it
    /// before the server binds it; `ManagedServer` then starts again on another.
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw OrbitError(.io, "socket(AF_INET) failed", cause: .errno(Errno(errno))) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw OrbitError(.io, "cannot bind a port on 127.0.0.1", cause: .errno(Errno(errno))) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw OrbitError(.io, "getsockname failed", cause: .errno(Errno(errno))) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

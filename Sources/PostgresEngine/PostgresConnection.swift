#if canImport(Glibc)
import Glibc
#endif
import CLibpq
import OrbitCore
public import ServerSupport

/// One libpq connection (one per client thread) with the engine's statements prepared. Parameters
/// and results are binary (bytea as raw bytes): the caller's buffers are passed as they are, through
/// argument arrays reused for every call (libpq allocates its PGresult).
public final class PostgresConnection: ServerConnection {
    let conn: OpaquePointer
    var net = NetByteCounter()
    let values: UnsafeMutablePointer<UnsafePointer<CChar>?>
    let lengths: UnsafeMutablePointer<Int32>
    let formats: UnsafeMutablePointer<Int32>
    /// An int8 parameter, big-endian (binary format).
    let int8: UnsafeMutablePointer<UInt64>
    /// Scratch for a scan's next start key (last key + 0x00), reused.
    var nextStart: [UInt8] = []
    static let maxParams = 4
    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)

    static let get: StaticString = "orbit_get", put: StaticString = "orbit_put", delete: StaticString = "orbit_del"
    static let scanFrom: StaticString = "orbit_scan", scanRange: StaticString = "orbit_scan_range"

    init(conninfo: String, table: String, countNetBytes: Bool, what: String) throws {
        guard let c = PQconnectdb(conninfo) else { throw OrbitError(.engine, "libpq could not allocate a connection", at: what) }
        guard PQstatus(c) == CONNECTION_OK else {
            let msg = String(cString: PQerrorMessage(c)).trimmingWhitespace()
            PQfinish(c)
            throw OrbitError(.engine, "cannot connect to postgres at \(what)", cause: .library(msg))
        }
        conn = c
        values = .allocate(capacity: Self.maxParams)
        lengths = .allocate(capacity: Self.maxParams)
        formats = .allocate(capacity: Self.maxParams)
        for i in 0..<Self.maxParams { formats[i] = 1 }
        int8 = .allocate(capacity: 1)
        nextStart.reserveCapacity(256)
        let t = "\"\(table)\""
        do {
            try prepare(Self.get, "SELECT value FROM \(t) WHERE key = $1", [17])
            try prepare(Self.put, "INSERT INTO \(t) (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [17, 17])
            try prepare(Self.delete, "DELETE FROM \(t) WHERE key = $1", [17])
            try prepare(Self.scanFrom, "SELECT key, value FROM \(t) WHERE key >= $1 ORDER BY key LIMIT $2", [17, 20])
            try prepare(Self.scanRange, "SELECT key, value FROM \(t) WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3", [17, 17, 20])
        } catch {
            disconnect()
            throw error
        }
        if countNetBytes { net.attach(PQsocket(c)) }
    }

    /// A connection without prepared statements (set-up), for `run`.
    static func bare(conninfo: String, what: String) throws -> OpaquePointer {
        guard let c = PQconnectdb(conninfo) else { throw OrbitError(.engine, "libpq could not allocate a connection", at: what) }
        guard PQstatus(c) == CONNECTION_OK else {
            let msg = String(cString: PQerrorMessage(c)).trimmingWhitespace()
            PQfinish(c)
            throw OrbitError(.engine, "cannot connect to postgres at \(what)", cause: .library(msg))
        }
        PQsetNoticeProcessor(c, { _, _ in }, nil)  // "relation already exists, skipping" is not news
        return c
    }

    static func run(_ c: OpaquePointer, _ sql: String) throws {
        guard let r = PQexec(c, sql) else { throw OrbitError(.engine, "postgres: \(sql) failed", cause: .library(String(cString: PQerrorMessage(c)))) }
        defer { PQclear(r) }
        let st = PQresultStatus(r)
        guard st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK else {
            throw OrbitError(.engine, "postgres refused \(sql)", cause: .library(String(cString: PQresultErrorMessage(r)).trimmingWhitespace()))
        }
    }

    /// The first column of the first row, as text ("?" when there is none).
    static func value(_ c: OpaquePointer, _ sql: String) throws -> String {
        guard let r = PQexec(c, sql) else { throw OrbitError(.engine, "postgres: \(sql) failed", cause: .library(String(cString: PQerrorMessage(c)))) }
        defer { PQclear(r) }
        guard PQresultStatus(r) == PGRES_TUPLES_OK else {
            throw OrbitError(.engine, "postgres refused \(sql)", cause: .library(String(cString: PQresultErrorMessage(r)).trimmingWhitespace()))
        }
        guard PQntuples(r) > 0, PQgetisnull(r, 0, 0) == 0 else { return "?" }
        return String(cString: PQgetvalue(r, 0, 0))
    }

    public func disconnect() {
        PQfinish(conn)
        values.deallocate()
        lengths.deallocate()
        formats.deallocate()
        int8.deallocate()
    }

    private func prepare(_ name: StaticString, _ sql: String, _ types: [UInt32]) throws {
        let r = types.withUnsafeBufferPointer { PQprepare(conn, "\(name)", sql, Int32(types.count), $0.baseAddress) }
        try check(r, PGRES_COMMAND_OK, "\(name)").map(PQclear)
    }

    @inline(__always)
    func param(_ i: Int, _ bytes: UnsafeRawBufferPointer) {
        values[i] = bytes.baseAddress.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } ?? Self.empty
        lengths[i] = Int32(bytes.count)
    }

    @inline(__always)
    func param(_ i: Int, int64 v: Int) {
        int8.pointee = UInt64(bitPattern: Int64(v)).bigEndian
        values[i] = UnsafeRawPointer(int8).assumingMemoryBound(to: CChar.self)
        lengths[i] = 8
    }

    /// Runs a prepared statement with the first `count` parameters; binary results. The caller clears it.
    @inline(__always)
    func execute(_ name: StaticString, _ count: Int, expect: ExecStatusType) throws -> OpaquePointer {
        let r = PQexecPrepared(conn, UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self), Int32(count),
                               values, lengths, formats, 1)
        return try check(r, expect, "\(name)")!
    }

    /// A statement of text in, a result out (set-up, stats, transactions).
    @discardableResult
    func exec(_ sql: String, expect: ExecStatusType = PGRES_COMMAND_OK) throws -> OpaquePointer {
        try check(PQexec(conn, sql), expect, sql)!
    }

    /// Rows of text values.
    func rows(_ sql: String) throws -> [[String?]] {
        let r = try exec(sql, expect: PGRES_TUPLES_OK)
        defer { PQclear(r) }
        return (0..<PQntuples(r)).map { row in
            (0..<PQnfields(r)).map { col in PQgetisnull(r, row, col) != 0 ? nil : String(cString: PQgetvalue(r, row, col)) }
        }
    }

    @discardableResult
    private func check(_ r: OpaquePointer?, _ expect: ExecStatusType, _ what: String) throws -> OpaquePointer? {
        guard let r else {
            throw OrbitError(.engine, "postgres: \(what) failed", cause: .library(String(cString: PQerrorMessage(conn)).trimmingWhitespace()))
        }
        let status = PQresultStatus(r)
        guard status == expect else {
            let msg = String(cString: PQresultErrorMessage(r)).trimmingWhitespace()
            PQclear(r)
            throw OrbitError(.engine, "postgres refused \(what)", cause: .library(msg.isEmpty ? String(cString: PQresStatus(status)) : msg))
        }
        return r
    }
}

public import OrbitCore
import Foundation

/// The operation trace (`run --record-trace FILE`, read by `orbit-bench replay`): every operation of
/// the load and run phases, per client thread, with its start time, type, key and value size. The
/// byte layout is docs/formats/trace.md; this file writes and reads it.
public enum TraceFile {
    public static let magic: [UInt8] = Array("ORBTRACE".utf8)
    public static let endMagic: [UInt8] = Array("ORBTEND1".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 32
    public static let sectionHeaderSize = 20
    public static let trailerSize = 12

    /// The operation types a trace holds (load-phase inserts are `load`); lease operations are not traced.
    public static let tracedOperations: Set<OperationType> = [.load, .insert, .update, .get, .delete, .rangeQuery, .readModifyWrite]

    /// Writes the sink's per-thread records to `path` (which must not exist: a trace never replaces a file).
    static func write(_ sink: TraceSink, seed: UInt64, to path: String) throws {
        var out: [UInt8] = magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        u32(version)
        u32(UInt32(sink.threads))
        u64((0..<sink.threads).reduce(0) { $0 + sink.buffers[$1].records })
        u64(seed)
        for t in 0..<sink.threads {
            let b = sink.buffers[t]
            u32(UInt32(t))
            u64(b.records)
            u64(UInt64(b.bytes.count))
            out += b.bytes
        }
        let sum = CRC32C.mask(CRC32C.checksum(out))
        out += endMagic
        u32(sum)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw OrbitError(.io, "cannot create the trace file", at: path, cause: .errno(Errno(errno)))
        }
        defer { close(fd) }
        var done = 0
        try out.withUnsafeBytes { p in
            while done < p.count {
                let n = Foundation.write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw OrbitError(.io, "cannot write the trace file", at: path, cause: .errno(Errno(errno)))
                }
                done += n
            }
        }
    }

    /// Reads and checks a whole trace. A truncated or damaged file is an `.invalidArgument` error (exit
    /// status 2) naming the file offset where it went wrong.
    public static func read(_ path: String) throws -> Trace {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OrbitError(.invalidArgument, "cannot read the trace file", at: path, hint: "give a file `run --record-trace` wrote")
        }
        return try parse([UInt8](data), path: path)
    }

    /// Parses trace bytes (`path` names the file in errors).
    public static func parse(_ bytes: [UInt8], path: String) throws -> Trace {
        func bad(_ offset: Int, _ what: String) -> OrbitError {
            OrbitError(.invalidArgument, "not a valid trace: \(what)", at: "\(path) at offset \(offset)",
                       hint: "the file is truncated or damaged (docs/formats/trace.md); record it again with run --record-trace")
        }
        var at = 0
        func need(_ n: Int, _ what: String) throws {
            guard bytes.count - at >= n else { throw bad(at, "truncated: \(what) needs \(n) bytes, \(bytes.count - at) left") }
        }
        func le<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
            try need(MemoryLayout<T>.size, what)
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v |= T(bytes[at + i]) << (8 * i) }
            at += MemoryLayout<T>.size
            return v
        }
        func varint(_ what: String) throws -> UInt64 {
            let start = at
            do {
                return try bytes.withUnsafeBytes { p in try LEB128.decode(p, &at) }
            } catch LEB128.Failure.truncated {
                throw bad(start, "truncated: \(what)")
            } catch {
                throw bad(start, "\(what) is not a varint of at most 64 bits")
            }
        }
        try need(headerSize, "the header")
        guard Array(bytes[0..<8]) == magic else { throw bad(0, "no ORBTRACE magic") }
        at = 8
        let v = try le(UInt32.self, "version")
        guard v == version else { throw bad(8, "version \(v); this build reads version \(version)") }
        let threads = Int(try le(UInt32.self, "thread count"))
        let total = try le(UInt64.self, "record count")
        let seed = try le(UInt64.self, "seed")
        guard threads >= 1, threads <= 65_536 else { throw bad(12, "thread count \(threads) (1...65536)") }
        var sections: [TraceThread] = []
        var seen: UInt64 = 0
        for t in 0..<threads {
            let sectionStart = at
            let index = try le(UInt32.self, "section \(t)'s thread")
            guard index == t else { throw bad(sectionStart, "section \(t) is marked thread \(index)") }
            let records = try le(UInt64.self, "section \(t)'s record count")
            let length = try le(UInt64.self, "section \(t)'s byte length")
            guard length <= UInt64(bytes.count - at) else {
                throw bad(at, "truncated: section \(t) says \(length) bytes of records, \(bytes.count - at) left")
            }
            let end = at + Int(length)
            var thread = TraceThread()
            var time: UInt64 = 0
            var inRun = false
            for k in 0..<records {
                let recordStart = at
                guard at < end else { throw bad(at, "section \(t) ends after \(k) of its \(records) records") }
                let delta = try varint("record \(k)'s time")
                guard at < end else { throw bad(at, "truncated: record \(k) of thread \(t)") }
                let raw = bytes[at]
                guard let op = OperationType(rawValue: raw), tracedOperations.contains(op) else {
                    throw bad(at, "record \(k) of thread \(t) has operation code \(raw), which a trace does not hold")
                }
                at += 1
                if op != .load && !inRun {
                    inRun = true
                    time = 0  // run-phase times count from the run phase's start
                } else if op == .load && inRun {
                    throw bad(recordStart, "a load record after run records in thread \(t)")
                }
                time &+= delta
                let keyLength = try varint("record \(k)'s key length")
                guard keyLength <= UInt64(end - at) else {
                    throw bad(at, "record \(k) of thread \(t): key of \(keyLength) bytes runs past the section's end")
                }
                let keyOffset = thread.keys.count
                thread.keys += bytes[at..<(at + Int(keyLength))]
                at += Int(keyLength)
                let size = try varint("record \(k)'s value size")
                guard size <= 1 << 30 else { throw bad(at, "record \(k) of thread \(t): value size \(size) is over 1 GiB") }
                guard at <= end else { throw bad(recordStart, "record \(k) of thread \(t) runs past the section's end") }
                thread.records.append(TraceRecord(timeNanos: time, op: op, keyOffset: UInt32(keyOffset), keyLength: UInt32(keyLength),
                                                  valueSize: UInt32(size)))
            }
            guard at == end else { throw bad(at, "section \(t) has \(end - at) bytes after its \(records) records") }
            seen += records
            sections.append(thread)
        }
        guard seen == total else { throw bad(16, "the header counts \(total) records, the sections \(seen)") }
        try need(trailerSize, "the trailer")
        let trailer = at
        guard Array(bytes[at..<(at + 8)]) == endMagic else { throw bad(at, "no ORBTEND1 trailer") }
        at += 8
        let sum = try le(UInt32.self, "checksum")
        guard CRC32C.unmask(sum) == CRC32C.checksum(Array(bytes[0..<trailer])) else {
            throw bad(trailer + 8, "the checksum of bytes 0..<\(trailer) does not match: a byte of the file changed")
        }
        guard at == bytes.count else { throw bad(at, "\(bytes.count - at) bytes after the trailer") }
        return Trace(seed: seed, threads: sections)
    }
}

/// One traced operation. Times are ns from the start of the record's phase (load or run).
public struct TraceRecord: Sendable, Hashable {
    public var timeNanos: UInt64
    public var op: OperationType
    public var keyOffset: UInt32
    public var keyLength: UInt32
    /// Bytes written (put-like operations), the scan limit (`range_query`), 0 otherwise.
    public var valueSize: UInt32
}

/// One client thread's records, its keys in one buffer.
public struct TraceThread: Sendable {
    public var records: [TraceRecord] = []
    public var keys: [UInt8] = []
}

/// A whole trace, read back.
public struct Trace: Sendable {
    public var seed: UInt64
    public var threads: [TraceThread]

    /// Operations of each type, over all threads.
    public var counts: [OperationType: Int] {
        var c: [OperationType: Int] = [:]
        for t in threads { for r in t.records { c[r.op, default: 0] += 1 } }
        return c
    }
}

/// One client thread's trace being recorded: LEB128 records appended to a reused, growing buffer.
struct TraceBuffer {
    var bytes: [UInt8] = []
    var records: UInt64 = 0
    var last: UInt64 = 0
    var inRun = false

    @inline(__always)
    mutating func varint(_ v: UInt64) { LEB128.append(v, to: &bytes) }

    /// Appends one operation that started `time` ns after its phase started.
    @inline(__always)
    mutating func append(time: UInt64, op: OperationType, key: UnsafeRawBufferPointer, valueSize: Int) {
        if op != .load && !inRun {
            inRun = true
            last = 0
        }
        varint(time >= last ? time - last : 0)
        last = max(last, time)
        bytes.append(op.rawValue)
        varint(UInt64(key.count))
        bytes.append(contentsOf: key)
        varint(UInt64(max(valueSize, 0)))
        records += 1
    }
}

/// The per-thread trace buffers of a run; each is written by exactly one client thread.
final class TraceSink: @unchecked Sendable {
    let threads: Int
    let buffers: UnsafeMutablePointer<TraceBuffer>

    init(threads: Int, expectedRecordsPerThread: Int) {
        self.threads = threads
        buffers = .allocate(capacity: threads)
        buffers.initialize(repeating: TraceBuffer(), count: threads)
        for t in 0..<threads { buffers[t].bytes.reserveCapacity(min(expectedRecordsPerThread, 4_000_000) * 24) }
    }

    deinit { buffers.deinitialize(count: threads).deallocate() }
}

#if canImport(Glibc)
import Glibc
#endif

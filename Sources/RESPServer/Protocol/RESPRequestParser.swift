/// One client request: its arguments, copied into one reusable byte buffer.
///
/// `bytes` holds the arguments back to back; `bounds[i]` is argument `i`'s range in it. A connection
/// keeps one `RESPCommand` and the parser refills it (`removeAll(keepingCapacity:)`), so parsing a
/// request allocates nothing once the buffers have grown to the connection's largest request.
public struct RESPCommand: Sendable {
    public var bytes: [UInt8] = []
    public var bounds: [Range<Int>] = []

    public init() {}

    /// Builds a command from its arguments (tests and tools).
    public init(_ arguments: [[UInt8]]) {
        for a in arguments { append(a[...]) }
    }

    public var count: Int { bounds.count }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
    }

    mutating func append(_ argument: some Collection<UInt8>) {
        let start = bytes.count
        bytes.append(contentsOf: argument)
        bounds.append(start..<bytes.count)
    }

    /// Argument `i` as a slice of `bytes` (valid until the command is refilled).
    public subscript(i: Int) -> ArraySlice<UInt8> { bytes[bounds[i]] }

    /// Calls `body` with argument `i`'s bytes.
    public func withArgument<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[bounds[i]])) }
    }

    /// Argument `i` as text (for error messages only).
    public func text(_ i: Int) -> String { String(decoding: self[i], as: UTF8.self) }
}

/// The RESP2 request parser: pure (bytes in, a command or a verdict out), no I/O.
///
/// Accepts what a Redis server accepts from a client: multibulk requests (`*<n>\r\n` then `n` bulk
/// strings `$<len>\r\n<bytes>\r\n`) and inline commands (one line, arguments split on blanks, with
/// Redis's double- and single-quote rules). `parse` looks at the unconsumed bytes from their start:
/// `.incomplete` means "call again with more bytes" (a partial frame is never an error), `.command`
/// says how many bytes the request took (the caller drops them and calls again: pipelining), and
/// `.error` carries the `-ERR Protocol error: ...` text Redis sends before it closes the connection.
///
/// Limits (as Redis's): a multibulk count at most `maxArguments`, a bulk string at most
/// `maxBulkLength` bytes, an inline request (and the header line of a multibulk) at most
/// `maxInlineLength` bytes before its newline.
public struct RESPRequestParser: Sendable {
    public enum Outcome: Equatable, Sendable {
        /// More bytes are needed; nothing was consumed.
        case incomplete
        /// A request was parsed into the command; it took `consumed` bytes. An empty request (an empty
        /// inline line, `*0`) gives a command of no arguments, which the caller skips.
        case command(consumed: Int)
        /// The input is not RESP (or over a limit): the message, without the leading `-ERR `.
        case error(String)
    }

    public var maxArguments: Int
    public var maxBulkLength: Int
    public var maxInlineLength: Int

    /// Redis's defaults: 1024*1024 arguments, proto-max-bulk-len 512 MiB, 64 KiB inline.
    public init(maxArguments: Int = 1024 * 1024, maxBulkLength: Int = 512 << 20, maxInlineLength: Int = 64 << 10) {
        self.maxArguments = maxArguments
        self.maxBulkLength = maxBulkLength
        self.maxInlineLength = maxInlineLength
    }

    /// Parses one request from the start of `input` into `command` (which is emptied first).
    public func parse(_ input: UnsafeRawBufferPointer, into command: inout RESPCommand) -> Outcome {
        command.removeAll()
        guard let first = input.first else { return .incomplete }
        return first == UInt8(ascii: "*") ? parseMultibulk(input, &command) : parseInline(input, &command)
    }

    /// Convenience for tests: parses from a byte array.
    public func parse(_ input: [UInt8], into command: inout RESPCommand) -> Outcome {
        input.withUnsafeBytes { parse($0, into: &command) }
    }

    // MARK: Multibulk

    private func parseMultibulk(_ p: UnsafeRawBufferPointer, _ command: inout RESPCommand) -> Outcome {
        var pos = 0
        guard let header = line(p, from: 1) else {
            return p.count > maxInlineLength ? .error("Protocol error: too big mbulk count string") : .incomplete
        }
        guard let n = integer(p, header) else { return .error("Protocol error: invalid multibulk length") }
        guard n <= maxArguments else { return .error("Protocol error: invalid multibulk length") }
        pos = header.upperBound + 2
        if n <= 0 { return .command(consumed: pos) }
        for _ in 0..<n {
            guard pos < p.count else { return .incomplete }
            guard p[pos] == UInt8(ascii: "$") else {
                return .error("Protocol error: expected '$', got '\(Character(Unicode.Scalar(p[pos])))'")
            }
            guard let lenLine = line(p, from: pos + 1) else {
                return p.count - pos > maxInlineLength ? .error("Protocol error: too big bulk count string") : .incomplete
            }
            guard let len = integer(p, lenLine), len >= 0, len <= maxBulkLength else {
                return .error("Protocol error: invalid bulk length")
            }
            let body = lenLine.upperBound + 2
            guard p.count >= body + len + 2 else { return .incomplete }
            guard p[body + len] == 0x0d, p[body + len + 1] == 0x0a else {
                return .error("Protocol error: expected '\\r\\n' after a bulk string of \(len) bytes")
            }
            command.append(UnsafeRawBufferPointer(rebasing: p[body..<(body + len)]))
            pos = body + len + 2
        }
        return .command(consumed: pos)
    }

    /// The range of the line starting at `from` up to (not including) its `\r\n`; nil when incomplete.
    private func line(_ p: UnsafeRawBufferPointer, from: Int) -> Range<Int>? {
        var i = from
        let limit = min(p.count, from + maxInlineLength + 2)
        while i + 1 < limit {
            if p[i] == 0x0d && p[i + 1] == 0x0a { return from..<i }
            i += 1
        }
        return nil
    }

    /// A decimal integer filling `r` exactly (an optional '-', digits; no more than 18 digits).
    private func integer(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int? {
        var i = r.lowerBound
        var negative = false
        if i < r.upperBound, p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < r.upperBound, r.upperBound - i <= 18 else { return nil }
        var v = 0
        while i < r.upperBound {
            let d = Int(p[i]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            v = v * 10 + d
            i += 1
        }
        return negative ? -v : v
    }

    // MARK: Inline

    private func parseInline(_ p: UnsafeRawBufferPointer, _ command: inout RESPCommand) -> Outcome {
        var end = 0
        while end < p.count, p[end] != 0x0a { end += 1 }
        guard end < p.count else {
            return p.count > maxInlineLength ? .error("Protocol error: too big inline request") : .incomplete
        }
        guard end <= maxInlineLength else { return .error("Protocol error: too big inline request") }
        let consumed = end + 1
        var lineEnd = end
        if lineEnd > 0, p[lineEnd - 1] == 0x0d { lineEnd -= 1 }
        return splitArguments(p, 0..<lineEnd, &command) ? .command(consumed: consumed)
            : .error("Protocol error: unbalanced quotes in request")
    }

    /// Redis's `sdssplitargs`: blanks separate arguments; "..." takes \n \r \t \b \a \\ \" and \xHH
    /// escapes; '...' takes \'; a closing quote must be followed by a blank or the end.
    private func splitArguments(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, _ command: inout RESPCommand) -> Bool {
        func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d || c == 0x0b || c == 0x0c }
        func hex(_ c: UInt8) -> Int? {
            switch c {
            case 0x30...0x39: Int(c) - 0x30
            case 0x61...0x66: Int(c) - 0x61 + 10
            case 0x41...0x46: Int(c) - 0x41 + 10
            default: nil
            }
        }
        var i = r.lowerBound
        while true {
            while i < r.upperBound, isBlank(p[i]) { i += 1 }
            if i >= r.upperBound { return true }
            let start = command.bytes.count
            var inDouble = false, inSingle = false
            argument: while true {
                if inDouble {
                    guard i < r.upperBound else { return false }
                    let c = p[i]
                    if c == 0x5c, i + 3 < r.upperBound, p[i + 1] == UInt8(ascii: "x"), let h = hex(p[i + 2]), let l = hex(p[i + 3]) {
                        command.bytes.append(UInt8(h * 16 + l)); i += 4
                    } else if c == 0x5c, i + 1 < r.upperBound {
                        let e = p[i + 1]
                        switch e {
                        case UInt8(ascii: "n"): command.bytes.append(0x0a)
                        case UInt8(ascii: "r"): command.bytes.append(0x0d)
                        case UInt8(ascii: "t"): command.bytes.append(0x09)
                        case UInt8(ascii: "b"): command.bytes.append(0x08)
                        case UInt8(ascii: "a"): command.bytes.append(0x07)
                        default: command.bytes.append(e)
                        }
                        i += 2
                    } else if c == UInt8(ascii: "\"") {
                        if i + 1 < r.upperBound, !isBlank(p[i + 1]) { return false }
                        i += 1; break argument
                    } else {
                        command.bytes.append(c); i += 1
                    }
                } else if inSingle {
                    guard i < r.upperBound else { return false }
                    let c = p[i]
                    if c == 0x5c, i + 1 < r.upperBound, p[i + 1] == UInt8(ascii: "'") {
                        command.bytes.append(UInt8(ascii: "'")); i += 2
                    } else if c == UInt8(ascii: "'") {
                        if i + 1 < r.upperBound, !isBlank(p[i + 1]) { return false }
                        i += 1; break argument
                    } else {
                        command.bytes.append(c); i += 1
                    }
                } else {
                    guard i < r.upperBound else { break argument }
                    let c = p[i]
                    if isBlank(c) { break argument }
                    if c == UInt8(ascii: "\"") { inDouble = true } else if c == UInt8(ascii: "'") { inSingle = true } else { command.bytes.append(c) }
                    i += 1
                }
            }
            command.bounds.append(start..<command.bytes.count)
        }
    }
}

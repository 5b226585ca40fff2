#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every system call the file layer makes, each wrapped once here (as swift-system's
// `Internals/Syscalls.swift` does): EINTR is retried here and nowhere else, and failures come back
// as a typed `Errno`. `POSIXFileSystem` adds the context (what, path, offset) and the counting.
//
// One call per wrapper: the loops for short reads and writes live in `POSIXFile`, so the bytes each
// call moved are counted even when a later call fails.

/// Runs `body` until it does not fail with EINTR. `body` returns -1 and sets errno on failure.
@inline(__always)
private func retryingEINTR<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = errno
        if e != EINTR { throw Errno(e) }
    }
}

/// open(2), always with O_CLOEXEC.
func system_open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws(Errno) -> Int32 {
    try retryingEINTR { path.withCString { open($0, flags | O_CLOEXEC, mode) } }
}

/// pread(2): one call; may return fewer bytes than asked, 0 at end of file.
func system_pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws(Errno) -> Int {
    try retryingEINTR { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
}

/// pwrite(2): one call; may write fewer bytes than given.
func system_pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws(Errno) -> Int {
    try retryingEINTR { pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
}

/// flock(2) with LOCK_EX | LOCK_NB: throws EWOULDBLOCK when another open file description holds it.
func system_flock_exclusive(_ fd: Int32) throws(Errno) {
    _ = try retryingEINTR { flock(fd, LOCK_EX | LOCK_NB) }
}

/// flock(2) with LOCK_SH | LOCK_NB: throws EWOULDBLOCK while an exclusive holder has it.
func system_flock_shared(_ fd: Int32) throws(Errno) {
    _ = try retryingEINTR { flock(fd, LOCK_SH | LOCK_NB) }
}

/// fsync(2). On Darwin plain fsync does not flush the drive's cache; F_FULLFSYNC does.
func system_fsync(_ fd: Int32) throws(Errno) {
    #if canImport(Darwin)
    _ = try retryingEINTR { fcntl(fd, F_FULLFSYNC) }
    #else
    _ = try retryingEINTR { fsync(fd) }
    #endif
}

/// fdatasync(2): data, plus the metadata needed to read it back (the size), not timestamps.
func system_fdatasync(_ fd: Int32) throws(Errno) {
    #if canImport(Darwin)
    _ = try retryingEINTR { fcntl(fd, F_FULLFSYNC) }
    #else
    _ = try retryingEINTR { fdatasync(fd) }
    #endif
}

func system_ftruncate(_ fd: Int32, _ size: Int64) throws(Errno) {
    _ = try retryingEINTR { ftruncate(fd, off_t(size)) }
}

/// fstat(2): size and whether the descriptor is a directory.
func system_fstat(_ fd: Int32) throws(Errno) -> (size: Int64, isDirectory: Bool) {
    var st = stat()
    _ = try retryingEINTR { fstat(fd, &st) }
    return (Int64(st.st_size), (st.st_mode & S_IFMT) == S_IFDIR)
}

/// stat(2): size and whether the path is a directory (symbolic links followed).
func system_stat(_ path: String) throws(Errno) -> (size: Int64, isDirectory: Bool) {
    var st = stat()
    _ = try retryingEINTR { path.withCString { stat($0, &st) } }
    return (Int64(st.st_size), (st.st_mode & S_IFMT) == S_IFDIR)
}

/// stat(2): permission bits (and type) and whether the path is a regular file.
func system_statMode(_ path: String) throws(Errno) -> (mode: UInt32, isRegular: Bool) {
    var st = stat()
    _ = try retryingEINTR { path.withCString { stat($0, &st) } }
    return (UInt32(st.st_mode) & 0o7777, (st.st_mode & S_IFMT) == S_IFREG)
}

/// lstat(2): whether the path itself (a symbolic link not followed) is a directory; nil when nothing is there.
func system_lstatIsDirectory(_ path: String) throws(Errno) -> Bool? {
    var st = stat()
    do { _ = try retryingEINTR { path.withCString { lstat($0, &st) } } } catch where error == .noSuchFile { return nil }
    return (st.st_mode & S_IFMT) == S_IFDIR
}

/// link(2): a second name for the file `from` (same file system only: EXDEV otherwise).
func system_link(_ from: String, _ to: String) throws(Errno) {
    _ = try retryingEINTR { from.withCString { f in to.withCString { t in link(f, t) } } }
}

/// close(2). Never retried: on Linux the descriptor is released even when close reports EINTR,
/// and retrying could close a descriptor another thread has just been given.
func system_close(_ fd: Int32) throws(Errno) {
    if close(fd) == -1 {
        let e = errno
        if e != EINTR { throw Errno(e) }
    }
}

/// rename(2): atomically replaces `to` if it exists (same file system only: EXDEV otherwise).
func system_rename(_ from: String, _ to: String) throws(Errno) {
    _ = try retryingEINTR { from.withCString { f in to.withCString { t in rename(f, t) } } }
}

func system_unlink(_ path: String) throws(Errno) {
    _ = try retryingEINTR { path.withCString { unlink($0) } }
}

func system_rmdir(_ path: String) throws(Errno) {
    _ = try retryingEINTR { path.withCString { rmdir($0) } }
}

func system_mkdir(_ path: String, _ mode: mode_t = 0o755) throws(Errno) {
    _ = try retryingEINTR { path.withCString { mkdir($0, mode) } }
}

/// opendir/readdir/closedir: the names in a directory, "." and ".." left out, in readdir order.
func system_listDirectory(_ path: String) throws(Errno) -> [String] {
    guard let dir = path.withCString({ opendir($0) }) else { throw Errno.current }
    defer { closedir(dir) }
    var names: [String] = []
    while true {
        errno = 0
        guard let entry = readdir(dir) else {
            if errno != 0 { throw Errno.current }
            return names
        }
        let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
}

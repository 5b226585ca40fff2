/// Happens-before edges ThreadSanitizer cannot see, stated to it (scripts/tsan.sh builds with
/// `-DORBIT_TSAN`; in every other build these are empty and inlined away: zero cost).
///
/// The edge they state is a copy-on-write hand-off through a reference count: a reader walks an
/// object it holds a reference to, then drops the reference (an atomic release in libswiftCore,
/// which is not instrumented); the writer later finds the object uniquely referenced (an
/// uninstrumented load) and changes it in place. The ordering is real, but TSan sees neither end,
/// and reports the reader's reads and the writer's writes as a race. So: the reader calls
/// `release(_:)` on the object just before it lets go of it, and the writer calls `acquire(_:)` on
/// the same object where its uniqueness check allows the change in place.
///
/// Use them only at such a pair, on the object whose count carries the edge, and say at each call
/// why it is one; an annotation anywhere else would hide real races.
public enum TSan {
    /// The reader's end: everything this thread did so far happens before a later `acquire` of
    /// `object` (call it while still holding the reference).
    @inlinable @inline(__always)
    public static func release<T: AnyObject>(_ object: T) {
        #if ORBIT_TSAN
        _orbitTSanRelease(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
        #endif
    }

    /// The writer's end: every `release` of `object` before this happens before what follows.
    @inlinable @inline(__always)
    public static func acquire<T: AnyObject>(_ object: T) {
        #if ORBIT_TSAN
        _orbitTSanAcquire(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
        #endif
    }

    /// `release(_:)` keyed by an address (an array's storage: see `address(of:)`).
    @inlinable @inline(__always)
    public static func release(address: UnsafeRawPointer?) {
        #if ORBIT_TSAN
        if let address { _orbitTSanRelease(address) }
        #endif
    }

    /// `acquire(_:)` keyed by an address.
    @inlinable @inline(__always)
    public static func acquire(address: UnsafeRawPointer?) {
        #if ORBIT_TSAN
        if let address { _orbitTSanAcquire(address) }
        #endif
    }

    /// The address of an array's element storage: one per storage object, so it names the object
    /// whose reference count orders a copy-on-write hand-off of the array. Nil outside TSan builds.
    @inlinable @inline(__always)
    public static func address<E>(of array: [E]) -> UnsafeRawPointer? {
        #if ORBIT_TSAN
        return array.withUnsafeBufferPointer { $0.baseAddress.map(UnsafeRawPointer.init) }
        #else
        return nil
        #endif
    }
}

#if ORBIT_TSAN
// The TSan runtime's annotation entry points (compiler-rt, tsan_interface.h:
// `void __tsan_acquire(void *addr)`, `void __tsan_release(void *addr)`), linked in by
// `--sanitize=thread`. One pointer argument and no result: the Swift and C conventions agree.
@usableFromInline @_silgen_name("__tsan_acquire") func _orbitTSanAcquire(_ address: UnsafeRawPointer)
@usableFromInline @_silgen_name("__tsan_release") func _orbitTSanRelease(_ address: UnsafeRawPointer)
#endif

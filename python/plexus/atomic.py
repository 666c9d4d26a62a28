"""Sequentially consistent atomic operations on a shared mapping.

Python has no atomics of its own; libatomic (GCC's runtime, Debian package
libatomic1) exports the __atomic_* operations as functions, lock-free for 4
and 8 bytes on the platforms plexus runs on. Every access to a run-time
word of the segment (ring indices, parked and waiting flags, pool heads,
generations and next links) goes through here; plain byte copies are used
only for descriptors and payloads, which the ring's release/acquire pair
orders.

Offsets are checked against the mapping (aligned, inside) on every access,
so that no bug can read or write outside it.
"""

import ctypes
import ctypes.util

SEQ_CST = 5  # __ATOMIC_SEQ_CST

_lib = None


def _load_lib():
    global _lib
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("atomic") or "libatomic.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:  # pragma: no cover - depends on the machine
        raise ImportError(
            "plexus needs libatomic (Debian package libatomic1; run python/install-deps.sh): %s" % e
        ) from e
    vp, c_int = ctypes.c_void_p, ctypes.c_int
    for bits, ct in ((4, ctypes.c_uint32), (8, ctypes.c_uint64)):
        ld = getattr(lib, "__atomic_load_%d" % bits)
        ld.restype, ld.argtypes = ct, [vp, c_int]
        st = getattr(lib, "__atomic_store_%d" % bits)
        st.restype, st.argtypes = None, [vp, ct, c_int]
        cx = getattr(lib, "__atomic_compare_exchange_%d" % bits)
        cx.restype, cx.argtypes = ctypes.c_bool, [vp, vp, ct, c_int, c_int]
    _lib = lib
    return lib


class Atomics:
    """Atomic 32- and 64-bit words of a writable buffer (an mmap).

    Holding an Atomics keeps the buffer exported: the mmap cannot be closed
    while it lives, so no access can reach unmapped memory.
    """

    def __init__(self, buf):
        lib = _load_lib()
        self._anchor = (ctypes.c_char * len(buf)).from_buffer(buf)
        self.base = ctypes.addressof(self._anchor)
        self.size = len(buf)
        # getattr: a name with two leading underscores written in a class
        # body would be mangled.
        self._ld4, self._st4, self._cx4 = (getattr(lib, "__atomic_%s_4" % op) for op in ("load", "store", "compare_exchange"))
        self._ld8, self._st8, self._cx8 = (getattr(lib, "__atomic_%s_8" % op) for op in ("load", "store", "compare_exchange"))
        self._e4 = ctypes.c_uint32()
        self._e8 = ctypes.c_uint64()
        self._e4p = ctypes.addressof(self._e4)
        self._e8p = ctypes.addressof(self._e8)

    def addr(self, off, n):
        """The checked address of the n-byte word at off (for callers that
        access one word often through the raw functions)."""
        return self._at(off, n)

    def _at(self, off, n):
        if off < 0 or off + n > self.size or off & (n - 1):
            raise ValueError("atomic access of %d bytes at %d outside the mapping or misaligned" % (n, off))
        return self.base + off

    def load32(self, off):
        return self._ld4(self._at(off, 4), SEQ_CST)

    def store32(self, off, v):
        self._st4(self._at(off, 4), v & 0xFFFFFFFF, SEQ_CST)

    def cas32(self, off, old, new):
        """Compare-and-swap; True if the word was old and is now new."""
        # Not thread-safe through the shared expected-value cell: the link
        # is driven by one thread (the session loop).
        self._e4.value = old
        return self._cx4(self._at(off, 4), self._e4p, new & 0xFFFFFFFF, SEQ_CST, SEQ_CST)

    def load64(self, off):
        return self._ld8(self._at(off, 8), SEQ_CST)

    def store64(self, off, v):
        self._st8(self._at(off, 8), v & 0xFFFFFFFFFFFFFFFF, SEQ_CST)

    def cas64(self, off, old, new):
        self._e8.value = old
        return self._cx8(self._at(off, 8), self._e8p, new & 0xFFFFFFFFFFFFFFFF, SEQ_CST, SEQ_CST)

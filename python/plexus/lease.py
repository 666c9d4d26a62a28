"""Leases (as Go's *session.Lease, sending side): memory the host reads
without a copy, which a handler fills in place and returns or sends.

plexus.lease(n) gives a Lease whose buf is a writable memoryview of n
bytes: a slot of this side's pool when n fits its largest slot class,
else a memfd of its own, mapped read-write with every page allocated,
which is sealed (SPEC.md "One-shot blobs") and sent as a one-shot blob
when the lease is returned or sent. A unary handler returns the lease (a
stream's send takes it): the reply names that slot (offset 0, length n)
or that blob, no byte copied. A lease made inside a handler and neither
returned nor sent is freed when the handler returns; free() gives one
back earlier (and is how a lease made outside a handler is freed).

buf is the handler's until the lease is returned or sent (or freed):
after that the memory is the host's, and buf is released.
"""

import fcntl
import mmap
import os
import time

from . import status
from .blob import BlobSendError, ONE_SHOT_SEALS, F_ADD_SEALS, _close

OPEN, QUEUED, SENT, FREED = "open", "queued", "sent", "freed"
SLOT, BLOB, HEAP = "slot", "blob", "heap"
SLOT_WAIT = 5.0     # seconds a lease waits for a free slot (the general path's SEND_WAIT)


class Lease:
    """n bytes a handler fills in place (buf, a writable memoryview) and
    returns or sends: see the module's doc. kind is "slot", "blob" or
    "heap" (no slot came free in time: private memory, copied into a slot
    when sent, as a bytes result is)."""

    __slots__ = ("buf", "n", "kind", "slot", "gen", "offset", "fd", "mm", "state", "_link")

    def __init__(self, link, n, kind, buf, slot=-1, gen=0, offset=0, fd=-1, mm=None):
        self._link, self.n, self.kind, self.buf = link, n, kind, buf
        self.slot, self.gen, self.offset, self.fd, self.mm = slot, gen, offset, fd, mm
        self.state = OPEN

    def __len__(self):
        return self.n

    def __bytes__(self):
        """A copy of the bytes (while the lease is this side's)."""
        if self.state != OPEN:
            raise ValueError("lease is %s" % self.state)
        return bytes(self.buf)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()

    def __repr__(self):
        return "<plexus.Lease %s %d bytes %s>" % (self.kind, self.n, self.state)

    def _release_buf(self):
        try:
            self.buf.release()
        except (BufferError, AttributeError):
            pass  # a view made from it lives on; the memory is no longer this side's anyway

    def free(self):
        """Gives the memory back (once; nothing once it was returned or sent)."""
        if self.state != OPEN:
            return
        self.state = FREED
        self._give_back()

    def _give_back(self):
        self._release_buf()
        if self.kind == SLOT:
            link = self._link
            if link.own_pool.free(self.slot, self.gen):
                # The flag this side set waiting for a slot: wake its loop.
                link.space_in.ring()
        elif self.kind == BLOB:
            self._unmap()
            _close(self.fd)
            self.fd = -1

    def _unmap(self):
        mm, self.mm = self.mm, None
        if mm is None:
            return True
        try:
            mm.close()
            return True
        except BufferError:
            self.mm = mm  # views of buf are still exported
            return False

    def _take(self):
        """Hands the lease to the session loop (returned or sent)."""
        if self.state != OPEN:
            raise status.Status(status.FAILED_PRECONDITION, "lease of %d bytes is %s: it cannot be sent" % (self.n, self.state))
        self.state = QUEUED

    def _seal(self):
        """(the loop) Blob leases: unmaps the writable mapping and seals the
        memfd; returns the fd. False when a view of buf still maps it
        (then the bytes are copied into a fresh blob instead)."""
        self._release_buf()
        if not self._unmap():
            return False
        try:
            fcntl.fcntl(self.fd, F_ADD_SEALS, ONE_SHOT_SEALS)
        except OSError as e:
            raise BlobSendError("sealing a leased blob of %d bytes: %s" % (self.n, e)) from None
        return True

    def _drop(self):
        """(the loop) A queued lease whose frame is not sent: freed."""
        if self.state == QUEUED:
            self.state = FREED
            self._give_back()


def alloc(link, n, call=None):
    """A lease of n bytes on link (see the module's doc). Waits, as the
    general path does, up to SLOT_WAIT for a free slot (less if the call
    is cancelled or its deadline comes), then gives a heap lease."""
    if not isinstance(n, int) or n < 0:
        raise ValueError("lease size %r" % (n,))
    if n > link.max_payload:
        raise status.Status(status.RESOURCE_EXHAUSTED, "lease of %d bytes above the link's maximum payload %d"
                            % (n, link.max_payload))
    if n == 0:
        return Lease(link, 0, HEAP, memoryview(bytearray(0)))
    if n > link.largest_slot:
        return _blob(link, n)
    end = time.monotonic() + SLOT_WAIT
    pause = 50e-6
    while True:
        got = link.own_pool.alloc(n)
        if got is not None:
            slot, gen, off = got
            return Lease(link, n, SLOT, link.view[off:off + n], slot=slot, gen=gen, offset=off)
        if call is not None and getattr(call, "cancelled", False):
            raise status.Status(call.code or status.CANCELED, "call cancelled while waiting for a slot")
        now = time.monotonic()
        if now >= end or (call is not None and call.deadline is not None and now >= call.deadline):
            return Lease(link, n, HEAP, memoryview(bytearray(n)))
        time.sleep(pause)
        pause = min(pause * 2, 0.005)


def _blob(link, n):
    try:
        fd = os.memfd_create("plexus-blob", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError as e:
        raise status.Status(status.RESOURCE_EXHAUSTED, "memfd_create for a lease of %d bytes: %s" % (n, e)) from None
    try:
        os.ftruncate(fd, n)
        os.posix_fallocate(fd, 0, n)  # every page allocated (SPEC.md "One-shot blobs")
        mm = mmap.mmap(fd, n, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:
        _close(fd)
        raise status.Status(status.RESOURCE_EXHAUSTED, "lease of %d bytes: %s" % (n, e)) from None
    return Lease(link, n, BLOB, memoryview(mm), fd=fd, mm=mm)

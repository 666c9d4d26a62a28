"""Blobs (SPEC.md "Blobs", "Control messages", "One-shot blobs", "Blob
buffers", "Receiver checks for blobs"): payloads above the largest slot
class, in memfds passed on the control socket.

This side receives both kinds the host may send (one-shot blobs, type 1,
and blob buffers, types 2 and 4, freed with type 3) and sends one-shot
blobs only: a fresh memfd per payload, written, sealed against any
change, announced with type 1 before its BLOB descriptor is published.
It never sends a buffer, so a type 3 from the host is a violation.

Everything here runs on the session loop's thread.
"""

import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import time

from .errors import LinkError, ProtocolViolation

PAGE = mmap.PAGESIZE
CTL_SIZE = 16
CTL_BLOB, CTL_BUFFER, CTL_FREE, CTL_FORGET = 1, 2, 3, 4

F_SEAL_SEAL = getattr(fcntl, "F_SEAL_SEAL", 0x0001)
F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 0x0002)
F_SEAL_GROW = getattr(fcntl, "F_SEAL_GROW", 0x0004)
F_SEAL_WRITE = getattr(fcntl, "F_SEAL_WRITE", 0x0008)
F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x0010)
F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)

ONE_SHOT_REQUIRED = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
ONE_SHOT_SEALS = ONE_SHOT_REQUIRED | F_SEAL_SEAL
BUFFER_REQUIRED = F_SEAL_SHRINK | F_SEAL_GROW  # and F_SEAL_WRITE or F_SEAL_FUTURE_WRITE

# Receiver bounds (SPEC.md "Go defaults").
MAX_PENDING = 64             # one-shot blobs received, not yet claimed
MAX_BLOB_MEMORY = 4 << 30    # one-shot blob bytes mapped at once
MAX_PEER_BUFFERS = 1024      # peer buffers mapped
PEER_BUFFER_BYTES = 256 << 20  # bytes of peer buffers mapped
SEND_WAIT = 5.0


class BlobLimit(LinkError):
    """A bound of this side's (not a violation): the link ends with
    RESOURCE_EXHAUSTED."""


class BlobSendError(LinkError):
    """A blob could not be created or sent (memfd_create, write, seal);
    the frame fails, the link goes on."""


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def _unmap(mm):
    """Unmaps; a handler that kept a view of it keeps the mapping alive
    until the view goes (mmap refuses to close under exported views)."""
    try:
        mm.close()
    except BufferError:
        pass


def _seals(fd):
    try:
        return fcntl.fcntl(fd, F_GET_SEALS)
    except OSError:
        return None


def _allocated(st):
    need = (st.st_size + PAGE - 1) // PAGE * PAGE
    have = st.st_blocks * 512
    return have >= need, need - have


class PeerBuffer:
    __slots__ = ("id", "mm", "view", "size", "held")

    def __init__(self, ident, mm, size):
        self.id, self.mm, self.size, self.held = ident, mm, size, False
        self.view = memoryview(mm)


class Blobs:
    """The blob state of one link: the host's pending one-shot blobs and
    mapped buffers, and this side's blob ID counter."""

    def __init__(self, ctl, max_payload, max_blob_memory=MAX_BLOB_MEMORY, peer_buffer_bytes=PEER_BUFFER_BYTES):
        self.ctl = ctl
        self.max_payload = max_payload
        self.pending = {}          # ID -> fd of a one-shot blob not yet claimed
        self.buffers = {}          # ID -> PeerBuffer
        self.last_buffer = 0       # highest buffer ID seen
        self.buffer_bytes = 0
        self.peer_buffer_bytes = peer_buffer_bytes
        self.mapped_bytes = 0      # one-shot blob bytes mapped
        self.max_blob_memory = max_blob_memory
        self.next_id = 1           # this side's next blob ID
        self.sent = 0              # one-shot blobs sent (stats, tests)
        self.received = 0          # blob payloads received

    def close(self):
        for fd in self.pending.values():
            _close(fd)
        self.pending.clear()
        for b in self.buffers.values():
            b.view.release()
            _unmap(b.mm)
        self.buffers.clear()

    # -- control messages received --------------------------------------------

    def on_control(self, typ, ident, fds):
        """A checked control message (16 bytes, known type, reserved 0, ID
        not 0, the right number of descriptors). Keeps a one-shot blob's
        descriptor by taking it out of fds; the caller closes the rest."""
        if typ == CTL_BLOB:
            if ident in self.pending or ident in self.buffers:
                raise ProtocolViolation("blob %d announced twice" % ident)
            if len(self.pending) >= MAX_PENDING:
                raise ProtocolViolation("more than %d one-shot blobs received and not claimed" % MAX_PENDING)
            self.pending[ident] = fds.pop()
        elif typ == CTL_BUFFER:
            self._buffer(ident, fds[0])
        elif typ == CTL_FREE:
            raise ProtocolViolation("free of buffer %d, which this side never sent (it sends no buffers)" % ident)
        elif typ == CTL_FORGET:
            b = self.buffers.get(ident)
            if b is None:
                raise ProtocolViolation("forget of buffer %d, which is not known" % ident)
            if b.held:
                raise ProtocolViolation("forget of buffer %d while a frame holds it" % ident)
            del self.buffers[ident]
            self.buffer_bytes -= b.size
            b.view.release()
            _unmap(b.mm)

    def _buffer(self, ident, fd):
        if ident <= self.last_buffer:
            raise ProtocolViolation("buffer ID %d not above the last (%d)" % (ident, self.last_buffer))
        if ident in self.pending:
            raise ProtocolViolation("buffer ID %d is a pending one-shot blob" % ident)
        if len(self.buffers) >= MAX_PEER_BUFFERS:
            raise ProtocolViolation("more than %d of the host's buffers mapped" % MAX_PEER_BUFFERS)
        seals = _seals(fd)
        if seals is None or seals & BUFFER_REQUIRED != BUFFER_REQUIRED or not seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
            raise ProtocolViolation("blob buffer %d is not a memfd sealed against resizing and new writers (seals %r)"
                                    % (ident, seals))
        st = os.fstat(fd)
        size = st.st_size
        if size <= 0 or size % PAGE:
            raise ProtocolViolation("blob buffer %d of %d bytes is not a whole number of pages" % (ident, size))
        ok, missing = _allocated(st)
        if not ok:
            raise ProtocolViolation("blob buffer %d has holes: %d bytes of its pages were never written" % (ident, missing))
        if self.buffer_bytes + size > self.peer_buffer_bytes:
            raise ProtocolViolation("blob buffer %d of %d bytes takes the host's buffers over %d bytes"
                                    % (ident, size, self.peer_buffer_bytes))
        try:
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0), prot=mmap.PROT_READ)
        except OSError as e:
            raise ProtocolViolation("blob buffer %d: mmap: %s" % (ident, e)) from None
        self.last_buffer = ident
        self.buffers[ident] = PeerBuffer(ident, mm, size)
        self.buffer_bytes += size

    # -- BLOB descriptors received ----------------------------------------------

    def resolve(self, d, read_control):
        """The payload a checked BLOB descriptor names (flags, reserved,
        bytes 48..63, ID, length already checked by desc.check_shm_placement):
        returns (read-only memoryview, release token)."""
        ident = d.slot | d.gen << 32
        off, n = d.offset, d.length
        if ident not in self.buffers and ident not in self.pending:
            read_control()  # its control message may still be on the socket
        b = self.buffers.get(ident)
        if b is not None:
            if off + n > b.size:
                raise ProtocolViolation("BLOB %d: %d bytes at %d past the buffer's %d" % (ident, n, off, b.size))
            if b.held:
                raise ProtocolViolation("BLOB %d names a buffer a frame of this side still holds" % ident)
            b.held = True
            self.received += 1
            return b.view[off:off + n], ("buffer", b)
        fd = self.pending.pop(ident, None)
        if fd is None:
            raise ProtocolViolation("BLOB %d names no blob received on the control socket" % ident)
        try:
            return self._map_one_shot(fd, ident, off, n)
        finally:
            _close(fd)

    def _map_one_shot(self, fd, ident, off, n):
        seals = _seals(fd)
        if seals is None or seals & ONE_SHOT_REQUIRED != ONE_SHOT_REQUIRED:
            raise ProtocolViolation("blob %d is not a memfd sealed against writes and resizing (seals %r)" % (ident, seals))
        st = os.fstat(fd)
        if st.st_size < off + n:
            raise ProtocolViolation("blob %d has %d bytes, the descriptor needs %d" % (ident, st.st_size, off + n))
        ok, missing = _allocated(st)
        if not ok:
            raise ProtocolViolation("blob %d has holes: %d bytes of its pages were never written" % (ident, missing))
        start = off - off % PAGE
        delta = off - start
        size = delta + n
        if self.mapped_bytes + size > self.max_blob_memory:
            raise BlobLimit("blob %d of %d bytes would take the host's blobs mapped here over %d bytes"
                            % (ident, n, self.max_blob_memory))
        try:
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                           prot=mmap.PROT_READ, offset=start)
        except OSError as e:
            if e.errno == errno.ENOMEM:
                raise BlobLimit("cannot map blob %d of %d bytes: %s" % (ident, n, e)) from None
            raise ProtocolViolation("blob %d: mmap: %s" % (ident, e)) from None
        self.mapped_bytes += size
        self.received += 1
        view = memoryview(mm)
        return view[delta:delta + n], ("oneshot", (mm, view, size))

    def release(self, token):
        """Releases a received blob payload: a buffer goes back to the host
        (type 3), a one-shot blob is unmapped."""
        kind, obj = token
        if kind == "buffer":
            obj.held = False
            if self.buffers.get(obj.id) is obj:
                try:
                    self.send_control(CTL_FREE, obj.id, -1, wait=False)
                except LinkError:
                    pass  # dropped: the host never reuses that buffer
            return
        mm, view, size = obj
        self.mapped_bytes -= size
        try:
            view.release()
        except BufferError:
            pass
        _unmap(mm)

    # -- sending ------------------------------------------------------------------

    def send_control(self, typ, ident, fd, wait=True):
        msg = struct.pack("<IIQ", typ, 0, ident)
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))] if fd >= 0 else []
        deadline = time.monotonic() + SEND_WAIT
        while True:
            try:
                self.ctl.sendmsg([msg], anc, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
                return
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                raise LinkError("control socket: %s" % e) from None
            left = deadline - time.monotonic()
            if not wait or left <= 0:
                raise LinkError("control socket full for %.0f s: the host is not reading it" % SEND_WAIT)
            p = select.poll()
            p.register(self.ctl.fileno(), select.POLLOUT)
            p.poll(int(left * 1000) + 1)

    def send_sealed(self, fd):
        """Sends a memfd sealed as a one-shot blob requires (type 1) and
        returns its blob ID; the caller keeps (and closes) fd."""
        ident = self.next_id
        self.next_id += 1
        self.send_control(CTL_BLOB, ident, fd)
        self.sent += 1
        return ident

    def send_one_shot(self, payload):
        """Writes payload into a fresh sealed memfd and sends it (type 1);
        returns the blob ID for the BLOB descriptor."""
        n = len(payload)
        try:
            fd = os.memfd_create("plexus-blob", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError as e:
            raise BlobSendError("memfd_create for a blob of %d bytes: %s" % (n, e)) from None
        try:
            mv = memoryview(payload).cast("B")
            done = 0
            while done < n:  # writing allocates every page
                done += os.write(fd, mv[done:done + (8 << 20)])
            if n % PAGE:
                # The tail of the last page is allocated by the write too:
                # a memfd allocates whole pages.
                pass
            fcntl.fcntl(fd, F_ADD_SEALS, ONE_SHOT_SEALS)
        except OSError as e:
            _close(fd)
            raise BlobSendError("blob of %d bytes: %s" % (n, e)) from None
        ident = self.next_id
        self.next_id += 1
        try:
            self.send_control(CTL_BLOB, ident, fd)
        finally:
            _close(fd)
        self.sent += 1
        return ident

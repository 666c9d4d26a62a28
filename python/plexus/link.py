"""The shared-memory transport (SPEC.md "Shared-memory transport"), the
plugin's side: it receives frames from ring host->plugin with payloads in
the host's pool, sends on ring plugin->host with payloads in the plugin's
pool, rings and waits on the doorbells, and watches the control socket.

Blobs (payloads above the largest slot) are in blob.py: received blobs of
both kinds are read in place, payloads above the largest slot are sent
as one-shot blobs.
"""

import errno
import os
import select
import socket
import struct

from . import desc as D
from .atomic import Atomics
from .blob import Blobs
from .bell import Bell
from .errors import LinkError, PeerGone, ProtocolViolation
from .lease import BLOB as _LEASE_BLOB, SENT as _LEASE_SENT, Lease
from .pool import Pool
from .ring import Consumer, Producer
from .segment import PLUGIN_LINE, LINE_PID, Segment

# try_send results
SENT, NO_RING, NO_SLOT = 0, 1, 2

_EMPTY16 = b"\0" * 16
CTL_SIZE = 16


class TooLarge(LinkError):
    """A payload this transport cannot place (above the largest slot)."""


class Frame:
    """A received frame: its private descriptor, its payload (bytes, or a
    read-only memoryview of the host's slot or blob) and whether it holds a
    slot or a blob (release() gives it back)."""

    __slots__ = ("desc", "payload", "_link", "_slot", "_gen", "_blob")

    def __init__(self, d, payload, link=None, slot=-1, gen=0, blob=None):
        self.desc, self.payload, self._link, self._slot, self._gen = d, payload, link, slot, gen
        self._blob = blob

    def release(self):
        """Frees the slot or blob the payload lies in (once). Called by the
        session loop's thread only."""
        if self._slot >= 0:
            slot, self._slot = self._slot, -1
            self._link._free_peer_slot(slot, self._gen)
        elif self._blob is not None:
            blob, self._blob = self._blob, None
            self._link.blobs.release(blob)


class ShmLink:
    def __init__(self, fds, ctl, max_payload, log, check_name=True):
        """fds: the segment memfd and the four doorbells, in the order of
        SPEC.md "Descriptors a plugin inherits"; ctl: the control socket
        (a socket.socket), after the handshake."""
        self.log = log
        self.max_payload = max_payload
        self.ctl = ctl
        self.gone = False  # end of file on the control socket
        seg = Segment.open(fds[0], check_name)
        self.seg = seg
        mm, L = seg.mm, seg.layout
        self.mm = mm
        self.view = memoryview(mm)
        at = Atomics(mm)
        self.at = at
        self.peer_pool = Pool(mm, at, L.pool_host, L.pool_host_size, "host")
        self.own_pool = Pool(mm, at, L.pool_plugin, L.pool_plugin_size, "plugin")
        self.rx = Consumer(mm, at, L.ring_h2p, L.cap_h2p, "ring host->plugin")
        self.tx = Producer(mm, at, L.ring_p2h, L.cap_p2h, "ring plugin->host")
        self.data_in = Bell(fds[1], "data ready host->plugin")
        self.data_out = Bell(fds[2], "data ready plugin->host")
        self.space_out = Bell(fds[3], "space freed host->plugin")  # the host waits on it
        self.space_in = Bell(fds[4], "space freed plugin->host")   # this side waits on it
        at.store32(PLUGIN_LINE + LINE_PID, os.getpid())
        self.largest_slot = self.own_pool.largest
        self._blocked_size = 0
        self.held = set()  # the host's slots held by frames not yet released
        self._poll = select.poll()
        self._ctl_fd = ctl.fileno()
        self.blobs = Blobs(ctl, max_payload)
        # Leases sent (session.lease): by reference (a slot, a sealed memfd)
        # and copied (a blob lease a view still mapped).
        self.lease_slots = self.lease_blobs = self.lease_copied = 0

    # -- receiving -----------------------------------------------------------

    def receive(self, limit=512):
        """Takes the descriptors waiting in the ring (at most limit) and
        returns their frames, each checked as SPEC.md "Payload placement"
        requires. Raises ProtocolViolation."""
        n = self.rx.available(limit)
        if n == 0:
            return []
        raws, ring = self.rx.take(n)
        if ring:
            self.space_out.ring()
        unpack, frame = D.Desc.unpack, self._frame
        return [frame(unpack(raw)) for raw in raws]

    def _frame(self, d):
        place = D.check_shm_placement(d, self.max_payload)
        if place == 0:
            return Frame(d, b"")
        if place == D.INLINE:
            return Frame(d, d.inline_payload())
        if place == D.SLOT:
            off = self.peer_pool.resolve(d.slot, d.gen, d.offset, d.length)
            if d.slot in self.held:
                raise ProtocolViolation("slot %d named again before this side released it" % d.slot)
            if d.length == 0:
                self._free_peer_slot(d.slot, d.gen, held=False)
                return Frame(d, b"")
            self.held.add(d.slot)
            return Frame(d, self.view[off:off + d.length].toreadonly(), self, d.slot, d.gen)
        view, token = self.blobs.resolve(d, self._read_control)
        return Frame(d, view, self, blob=token)

    def _free_peer_slot(self, slot, gen, held=True):
        if held:
            self.held.discard(slot)
        if self.peer_pool.free(slot, gen):
            self.space_out.ring()

    # -- sending -------------------------------------------------------------

    def try_send(self, d, payload):
        """Places payload (bytes-like) and writes d into the ring, unpublished.
        d's session fields are set by the caller; this sets the transport's.
        Returns SENT, NO_RING or NO_SLOT; raises TooLarge."""
        n = len(payload)
        if n > self.max_payload:
            raise TooLarge("payload of %d bytes above the link's maximum %d" % (n, self.max_payload))
        if self.tx.space() < 1:
            return NO_RING
        d.flags &= D.SESSION_FLAGS
        d.reserved = 0
        if type(payload) is Lease:
            return self._send_lease(d, payload)
        if n == 0:
            d.length = d.slot = d.gen = d.offset = 0
            d.inline = _EMPTY16
        elif n <= D.INLINE_MAX:
            D.set_inline(d, payload)
        else:
            if n > self.largest_slot:
                ident = self.blobs.send_one_shot(payload)
                d.flags |= D.BLOB
                d.slot, d.gen, d.offset, d.length = ident & 0xFFFFFFFF, ident >> 32, 0, n
                d.inline = _EMPTY16
                self.tx.write(d.pack())
                return SENT
            got = self.own_pool.alloc(n)
            if got is None:
                self._blocked_size = n
                return NO_SLOT
            slot, gen, off = got
            self.mm[off:off + n] = payload
            d.flags |= D.SLOT
            d.slot, d.gen, d.offset, d.length, d.inline = slot, gen, 0, n, _EMPTY16
        tx = self.tx
        d.pack_into(self.mm, tx.slot_offset())
        tx.advance()
        return SENT

    def _send_lease(self, d, lease):
        """try_send of a lease (taken by the session): the descriptor names
        its slot or its sealed memfd, no byte copied."""
        n = lease.n
        if lease.kind == _LEASE_BLOB:
            if lease._seal():
                try:
                    ident = self.blobs.send_sealed(lease.fd)
                finally:
                    os.close(lease.fd)
                    lease.fd = -1
                self.lease_blobs += 1
            else:
                ident = self.blobs.send_one_shot(lease.mm)
                lease.mm = None
                os.close(lease.fd)
                lease.fd = -1
                self.lease_copied += 1
            lease.state = _LEASE_SENT
            d.flags |= D.BLOB
            d.slot, d.gen, d.offset, d.length = ident & 0xFFFFFFFF, ident >> 32, 0, n
            d.inline = _EMPTY16
            self.tx.write(d.pack())
            return SENT
        lease.state = _LEASE_SENT
        lease._release_buf()
        d.flags |= D.SLOT
        d.slot, d.gen, d.offset, d.length, d.inline = lease.slot, lease.gen, 0, n, _EMPTY16
        tx = self.tx
        d.pack_into(self.mm, tx.slot_offset())
        tx.advance()
        self.lease_slots += 1
        return SENT

    def pending(self):
        """Whether descriptors wait in ring host->plugin (a look, for
        polling: one stamp read)."""
        return self.rx.available(1)

    def publish(self):
        """Publishes what try_send wrote; rings the host if it parked."""
        if self.tx.publish():
            self.data_out.ring()

    # -- waiting -------------------------------------------------------------

    def wait(self, timeout, want, extra_fd=-1):
        """Parks and waits until descriptors may be waiting, space may have
        been freed (want is NO_RING or NO_SLOT: what a blocked send needs),
        the control socket has news, extra_fd is readable, or timeout
        (seconds, None for none) passes. Returns True if extra_fd was
        readable. Sets self.gone at end of file on the control socket."""
        if not self.rx.park():
            return False
        try:
            if want == NO_RING:
                self.tx.set_waiting()
                if self.tx.space() > 0:
                    return False
            elif want == NO_SLOT:
                self.own_pool.set_waiting()
                if self._slot_free():
                    return False
            p = self._poll
            fds = [self.data_in.fd, self._ctl_fd]
            if want:
                fds.append(self.space_in.fd)
            if extra_fd >= 0:
                fds.append(extra_fd)
            for fd in fds:
                p.register(fd, select.POLLIN | (select.POLLRDHUP if fd == self._ctl_fd else 0))
            try:
                ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
                events = p.poll(ms)
            finally:
                for fd in fds:
                    p.unregister(fd)
            woke = False
            for fd, ev in events:
                if fd == self.data_in.fd:
                    self.data_in.reset()
                elif fd == self.space_in.fd:
                    self.space_in.reset()
                elif fd == self._ctl_fd:
                    self._read_control()
                elif fd == extra_fd:
                    woke = True
            return woke
        finally:
            self.rx.unpark()
            if want == NO_RING:
                self.tx.withdraw_waiting()
            elif want == NO_SLOT:
                self.own_pool.withdraw_waiting()

    def _slot_free(self):
        """Whether some class has a free slot (a look at the heads only)."""
        for c in self.own_pool.classes:
            if c.size >= self._blocked_size and self.at.load64(self.own_pool._head(c)) & 0xFFFFFFFF:
                return True
        return False

    def _read_control(self):
        """Reads the control socket without blocking: end of file marks the
        peer gone; a control message is checked (SPEC.md "Receiver checks
        for blobs") and handed to the blob state."""
        while True:
            try:
                data, anc, flags, _ = self.ctl.recvmsg(CTL_SIZE + 1, socket.CMSG_SPACE(4 * 4),
                                                       socket.MSG_DONTWAIT | getattr(socket, "MSG_CMSG_CLOEXEC", 0))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE):
                    self.gone = True
                    return
                raise PeerGone("control socket: %s" % e) from None
            fds = _rights(anc)
            try:
                self._control(data, anc, flags, fds)
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if self.gone:
                return

    def _control(self, data, anc, flags, fds):
        """Checks one control message; the blob state takes the descriptors
        it keeps out of fds."""
        if not data and not anc:
            if self._hung_up():
                self.gone = True
                return
            raise ProtocolViolation("empty control message")
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(data) != CTL_SIZE:
            raise ProtocolViolation("control message of %d bytes (flags %#x), not %d" % (len(data), flags, CTL_SIZE))
        typ, res, ident = struct.unpack("<IIQ", data)
        if typ not in (1, 2, 3, 4) or res != 0 or ident == 0:
            raise ProtocolViolation("control message type %d reserved %d ID %d" % (typ, res, ident))
        if len(fds) != (1 if typ in (1, 2) else 0):
            raise ProtocolViolation("control message type %d with %d descriptors" % (typ, len(fds)))
        self.blobs.on_control(typ, ident, fds)

    def _hung_up(self):
        p = select.poll()
        p.register(self._ctl_fd, select.POLLRDHUP)
        ev = p.poll(0)
        return bool(ev and ev[0][1] & (select.POLLHUP | select.POLLRDHUP | select.POLLERR | select.POLLNVAL))

    def check_gone(self):
        """A look at the control socket without waiting (for a busy loop)."""
        p = select.poll()
        p.register(self._ctl_fd, select.POLLIN | select.POLLRDHUP)
        if p.poll(0):
            self._read_control()
        return self.gone

    def shutdown(self):
        """Shuts this side's end down for writing: the host sees end of file."""
        try:
            self.ctl.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _rights(anc):
    fds = []
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(struct.unpack("<%di" % (usable // 4), data[:usable]))
    return fds

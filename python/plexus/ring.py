"""SPSC descriptor rings (SPEC.md "Ring" and "Parking").

Each side keeps its own index privately and only stores it to the region;
the peer's index is accepted only if tail - head <= capacity.
"""

from .desc import SIZE as DESC
from .atomic import SEQ_CST
from .errors import ProtocolViolation

TAIL, HEAD, PARKED, WAITING, SLOTS = 0, 64, 128, 192, 256
U64 = (1 << 64) - 1


class Consumer:
    """The consumer of one ring (the plugin's: host->plugin)."""

    def __init__(self, mm, at, off, cap, name="ring"):
        self.mm, self.at, self.off, self.cap, self.name = mm, at, off, cap, name
        self.head = 0  # private: never taken back from the region
        # The hot path's loads go straight to libatomic with addresses
        # checked once here (Atomics.addr checks bounds and alignment).
        self._ld8 = at._ld8
        self._tail_addr = at.addr(off + TAIL, 8)
        self._st8, self._ld4 = at._st8, at._ld4
        self._head_addr = at.addr(off + HEAD, 8)
        self._waiting_addr = at.addr(off + WAITING, 4)

    def available(self):
        tail = self._ld8(self._tail_addr, SEQ_CST)
        n = (tail - self.head) & U64
        if n > self.cap:
            raise ProtocolViolation("%s tail %d is %d ahead of head %d (capacity %d)" % (self.name, tail, n, self.head, self.cap))
        return n

    def take(self, n):
        """Copies n descriptors out (private bytes), then stores the head.
        Returns (copies, ring_space): ring_space is True if the producer
        waited for space and this side cleared its flag (ring its
        space-freed doorbell)."""
        mm, base, mask = self.mm, self.off + SLOTS, self.cap - 1
        h = self.head
        if n == 1:
            p = base + (h & mask) * DESC
            out = [mm[p:p + DESC]]  # a bytes copy; never read again
        else:
            out = []
            for i in range(n):
                p = base + ((h + i) & mask) * DESC
                out.append(mm[p:p + DESC])
        self.head = (h + n) & U64
        self._st8(self._head_addr, self.head, SEQ_CST)
        return out, self._ld4(self._waiting_addr, SEQ_CST) == 1 and self.at.cas32(self.off + WAITING, 1, 0)

    def park(self):
        """Step 1 of parking: parked = 1, then look at the tail. Returns True
        if parked (nothing waiting); False if descriptors arrived meanwhile
        (the flag was withdrawn)."""
        self.at.store32(self.off + PARKED, 1)
        if self.available():
            self.unpark()
            return False
        return True

    def unpark(self):
        """Withdraws with a CAS 1 -> 0; a failure means the producer cleared
        the flag and rang: one spurious wake-up follows."""
        self.at.cas32(self.off + PARKED, 1, 0)


class Producer:
    """The producer of one ring (the plugin's: plugin->host)."""

    def __init__(self, mm, at, off, cap, name="ring"):
        self.mm, self.at, self.off, self.cap, self.name = mm, at, off, cap, name
        self.tail = 0      # private: written descriptors, published or not
        self.published = 0
        # Free positions known without a load of the head: what space()
        # found less what was written since (the head only moves on).
        self.known = 0
        self._ld8, self._st8, self._ld4 = at._ld8, at._st8, at._ld4
        self._head_addr = at.addr(off + HEAD, 8)
        self._tail_addr = at.addr(off + TAIL, 8)
        self._parked_addr = at.addr(off + PARKED, 4)

    def space(self):
        """Free positions, from a head accepted only if tail - head <= cap."""
        head = self._ld8(self._head_addr, SEQ_CST)
        used = (self.published - head) & U64
        if used > self.cap:
            raise ProtocolViolation("%s head %d is %d behind tail %d (capacity %d)" % (self.name, head, used, self.published, self.cap))
        free = self.cap - used - ((self.tail - self.published) & U64)
        self.known = free
        return free

    def write(self, raw):
        """Writes one 64-byte descriptor at the private tail; the caller has
        checked space(). Not visible until publish()."""
        p = self.off + SLOTS + (self.tail & (self.cap - 1)) * DESC
        self.mm[p:p + DESC] = raw
        self.tail = (self.tail + 1) & U64
        self.known -= 1

    def slot_offset(self):
        """Where write() would put the next descriptor (for a caller that
        packs it in place with struct.pack_into, then calls advance())."""
        return self.off + SLOTS + (self.tail & (self.cap - 1)) * DESC

    def advance(self):
        self.tail = (self.tail + 1) & U64
        self.known -= 1

    def publish(self):
        """Stores the tail once for everything written (batch publish), then
        loads parked. Returns True if the consumer was parked and this
        side cleared its flag (ring the data-ready doorbell)."""
        if self.tail == self.published:
            return False
        self._st8(self._tail_addr, self.tail, SEQ_CST)
        self.published = self.tail
        return self._ld4(self._parked_addr, SEQ_CST) == 1 and self.at.cas32(self.off + PARKED, 1, 0)

    def set_waiting(self):
        self.at.store32(self.off + WAITING, 1)

    def withdraw_waiting(self):
        self.at.cas32(self.off + WAITING, 1, 0)

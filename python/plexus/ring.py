"""SPSC descriptor rings (SPEC.md "Ring" and "Parking").

Each side keeps its own index privately and only stores it to the region.
A cell is published by its stamp: bytes 8..11 of the cell (kind, flags and
the descriptor's reserved field) are one u32 written last, atomically, with
the position's stamp in its high half. The consumer looks at the stamp of
the cell at its head, never at the tail (which the producer stores for
figures only); the producer accepts a head only if tail - head <= capacity.
"""

from .desc import SIZE as DESC
from .atomic import SEQ_CST
from .errors import ProtocolViolation

TAIL, HEAD, PARKED, WAITING, SLOTS = 0, 64, 128, 192, 256
STAMP = 8  # a cell's stamp word
U64 = (1 << 64) - 1


def stamp(pos, cap):
    """The high half of position pos's stamp word once published: twice
    its lap, plus one, modulo 2^16 (odd, so a zeroed cell never reads as
    published)."""
    return ((((pos // cap) << 1) | 1) & 0xFFFF) << 16


class Consumer:
    """The consumer of one ring (the plugin's: host->plugin)."""

    def __init__(self, mm, at, off, cap, name="ring"):
        self.mm, self.at, self.off, self.cap, self.name = mm, at, off, cap, name
        self.head = 0  # private: never taken back from the region
        # The hot path's loads go straight to libatomic with addresses
        # checked once here (Atomics.addr checks bounds and alignment).
        self._st8, self._ld4 = at._st8, at._ld4
        self._head_addr = at.addr(off + HEAD, 8)
        self._waiting_addr = at.addr(off + WAITING, 4)
        # The cells' stamp words, checked once here.
        self._stamp_addrs = [at.addr(off + SLOTS + i * DESC + STAMP, 4) for i in range(cap)]

    def _published(self, pos):
        return self._ld4(self._stamp_addrs[pos & (self.cap - 1)], SEQ_CST) & 0xFFFF0000 == stamp(pos, self.cap)

    def available(self, limit=None):
        """How many positions from the head are published in a row (at
        most limit, or the capacity)."""
        limit = self.cap if limit is None else min(limit, self.cap)
        n, h = 0, self.head
        while n < limit and self._published((h + n) & U64):
            n += 1
        return n

    def take(self, n):
        """Copies n descriptors out (private bytes, with zero where the
        stamp was), then stores the head. n must not exceed what
        available() found. Returns (copies, ring_space): ring_space is True
        if the producer waited for space and this side cleared its flag
        (ring its space-freed doorbell)."""
        mm, base, mask = self.mm, self.off + SLOTS, self.cap - 1
        h = self.head
        out = []
        for i in range(n):
            p = base + ((h + i) & mask) * DESC
            raw = bytearray(mm[p:p + DESC])  # a copy; never read again
            raw[STAMP + 2] = raw[STAMP + 3] = 0
            out.append(raw)
        self.head = (h + n) & U64
        self._st8(self._head_addr, self.head, SEQ_CST)
        return out, self._ld4(self._waiting_addr, SEQ_CST) == 1 and self.at.cas32(self.off + WAITING, 1, 0)

    def park(self):
        """Step 1 of parking: parked = 1, then look at the stamp at the head. Returns True
        if parked (nothing waiting); False if descriptors arrived meanwhile
        (the flag was withdrawn)."""
        self.at.store32(self.off + PARKED, 1)
        if self._published(self.head):
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
        self._ld8, self._st8, self._ld4, self._st4 = at._ld8, at._st8, at._ld4, at._st4
        self._head_addr = at.addr(off + HEAD, 8)
        self._tail_addr = at.addr(off + TAIL, 8)
        self._parked_addr = at.addr(off + PARKED, 4)
        self._stamp_addrs = [at.addr(off + SLOTS + i * DESC + STAMP, 4) for i in range(cap)]

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
        checked space(). Not visible until publish() stamps it: the cell's
        reserved field is written as zero, which is never a stamp."""
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
        """Stamps every cell written since the last publish, in order, then
        stores the tail once (a figure) and loads parked. Returns True if
        the consumer was parked and this side cleared its flag (ring the
        data-ready doorbell)."""
        if self.tail == self.published:
            return False
        mm, base, mask, cap = self.mm, self.off + SLOTS, self.cap - 1, self.cap
        pos = self.published
        while pos != self.tail:
            i = pos & mask
            p = base + i * DESC + STAMP
            # Kind and flags as written (bytes 8, 9), the stamp over the
            # reserved field.
            self._st4(self._stamp_addrs[i], mm[p] | mm[p + 1] << 8 | stamp(pos, cap), SEQ_CST)
            pos = (pos + 1) & U64
        self._st8(self._tail_addr, self.tail, SEQ_CST)
        self.published = self.tail
        return self._ld4(self._parked_addr, SEQ_CST) == 1 and self.at.cas32(self.off + PARKED, 1, 0)

    def set_waiting(self):
        self.at.store32(self.off + WAITING, 1)

    def withdraw_waiting(self):
        self.at.cas32(self.off + WAITING, 1, 0)

"""Slot pools (SPEC.md "Slot pool"): the layout, validated once, and the
run-time operations on a pool's shared words: allocation from the owner's
free lists, resolving and freeing references, the waiting flag."""

import struct

from .errors import ProtocolViolation

MAX_CLASSES = 16
MAX_SLOTS = 1 << 24
MIN_SLOT, MAX_SLOT = 64, 1 << 30
CAS_BOUND = 1 << 20  # failed compare-and-swaps before a loop gives up
POOL_HEADER = 128
WAITING = 64  # offset of the waiting flag
MASK32 = 0xFFFFFFFF


class SlotClass:
    __slots__ = ("index", "size", "count", "first", "data")

    def __init__(self, index, size, count, first, data):
        self.index, self.size, self.count, self.first, self.data = index, size, count, first, data

    def __contains__(self, slot):
        return self.first <= slot < self.first + self.count


def parse_layout(mem_read, start, length):
    """Validates a pool region from private copies of its header and class
    entries. mem_read(off, n) returns a copy of n bytes at off (relative to
    the pool). Returns (nslots, table_offset, [SlotClass]).
    Raises ProtocolViolation."""
    if start % 64:
        raise ProtocolViolation("pool region at %d is not 64-byte aligned" % start)
    if length < POOL_HEADER:
        raise ProtocolViolation("pool region of %d bytes cannot hold its header" % length)
    nclasses, nslots, table, size = struct.unpack("<IIQQ", mem_read(0, 24))
    if size != length:
        raise ProtocolViolation("pool size %d differs from its region's %d" % (size, length))
    if not 1 <= nclasses <= MAX_CLASSES:
        raise ProtocolViolation("pool has %d size classes (1..%d)" % (nclasses, MAX_CLASSES))
    if not 1 <= nslots <= MAX_SLOTS:
        raise ProtocolViolation("pool has %d slots (1..2^24)" % nslots)
    entries_end = POOL_HEADER + 64 * nclasses
    if entries_end > length:
        raise ProtocolViolation("pool class entries do not fit in its region")
    if table % 8 or table > length or 8 * nslots > length - table:
        raise ProtocolViolation("pool slot table at %d (%d entries) misaligned or outside the region" % (table, nslots))
    raw = mem_read(POOL_HEADER, 64 * nclasses)
    classes = []
    prev_size, next_first, left = 0, 0, nslots
    for c in range(nclasses):
        csize, count, first, reserved, data = struct.unpack_from("<IIIIQ", raw, 64 * c + 8)
        if reserved != 0:
            raise ProtocolViolation("pool class %d reserved field is %#x" % (c, reserved))
        if csize % 64 or not MIN_SLOT <= csize <= MAX_SLOT:
            raise ProtocolViolation("pool class %d slot size %d is not a multiple of 64 in 64..2^30" % (c, csize))
        if csize <= prev_size:
            raise ProtocolViolation("pool class %d slot size %d not above the previous class's %d" % (c, csize, prev_size))
        if count == 0 or count > left:
            raise ProtocolViolation("pool class %d has %d slots (%d left of %d)" % (c, count, left, nslots))
        if first != next_first:
            raise ProtocolViolation("pool class %d starts at slot %d, not %d" % (c, first, next_first))
        if data % 64 or data > length or count * csize > length - data:
            raise ProtocolViolation("pool class %d data at %d (%d x %d bytes) misaligned or outside the region"
                                    % (c, data, count, csize))
        classes.append(SlotClass(c, csize, count, first, data))
        prev_size, next_first, left = csize, first + count, left - count
    if left != 0:
        raise ProtocolViolation("pool class counts sum to %d, not %d" % (nslots - left, nslots))
    ranges = [("header", 0, entries_end), ("slot table", table, table + 8 * nslots)]
    ranges += [("class %d data" % c.index, c.data, c.data + c.count * c.size) for c in classes]
    for i in range(len(ranges)):
        for j in range(i + 1, len(ranges)):
            a, b = ranges[i], ranges[j]
            if a[1] < b[2] and b[1] < a[2]:
                raise ProtocolViolation("pool %s and %s overlap" % (a[0], b[0]))
    return nslots, table, classes


class Pool:
    """One pool of the segment. base is the pool's offset in the mapping;
    at are the mapping's atomics. Used by the session loop's thread only."""

    def __init__(self, mm, at, base, length, name):
        self.mm = mm
        self.at = at
        self.base = base
        self.name = name
        self.nslots, table, self.classes = parse_layout(
            lambda off, n: bytes(mm[base + off: base + off + n]), base, length)
        self.table = base + table
        self.largest = self.classes[-1].size

    # -- helpers -------------------------------------------------------------

    def class_of(self, slot):
        for c in self.classes:
            if slot < c.first + c.count:
                return c
        raise ProtocolViolation("slot %d outside pool %s" % (slot, self.name))

    def _head(self, c):
        return self.base + POOL_HEADER + 64 * c.index

    def _gen(self, slot):
        return self.table + 8 * slot

    def _next(self, slot):
        return self.table + 8 * slot + 4

    def slot_offset(self, slot):
        """The offset in the mapping where a slot's bytes start."""
        c = self.class_of(slot)
        return self.base + c.data + (slot - c.first) * c.size

    # -- owner: allocation ---------------------------------------------------

    def _pop(self, c):
        at = self.at
        head_off = self._head(c)
        for _ in range(CAS_BOUND):
            head = at.load64(head_off)
            idx1 = head & MASK32
            if idx1 == 0:
                return None
            slot = idx1 - 1
            if slot not in c:
                raise ProtocolViolation("pool %s class %d free list names slot %d outside the class" % (self.name, c.index, slot))
            nxt = at.load32(self._next(slot))
            if nxt != 0 and (nxt - 1) not in c:
                raise ProtocolViolation("pool %s slot %d next link %d outside its class" % (self.name, slot, nxt))
            if at.cas64(head_off, head, ((((head >> 32) + 1) & MASK32) << 32) | nxt):
                gen = at.load32(self._gen(slot))
                if gen & 1 or not at.cas32(self._gen(slot), gen, gen + 1):
                    raise ProtocolViolation("pool %s slot %d popped from the free list with generation %d"
                                            % (self.name, slot, gen))
                return slot, (gen + 1) & MASK32
        raise ProtocolViolation("pool %s free list: compare-and-swap retries exhausted" % self.name)

    def alloc(self, n):
        """Allocates a slot of at least n bytes: the smallest class that fits,
        else the next larger class with a free slot. Returns (slot, gen,
        offset in the mapping) or None when no class that fits has one."""
        for c in self.classes:
            if c.size >= n:
                got = self._pop(c)
                if got is not None:
                    slot, gen = got
                    return slot, gen, self.base + c.data + (slot - c.first) * c.size
        return None

    # -- both: freeing -------------------------------------------------------

    def _push(self, c, slot):
        at = self.at
        head_off = self._head(c)
        for _ in range(CAS_BOUND):
            head = at.load64(head_off)
            idx1 = head & MASK32
            if idx1 != 0 and (idx1 - 1) not in c:
                raise ProtocolViolation("pool %s class %d free list names slot %d outside the class" % (self.name, c.index, idx1 - 1))
            at.store32(self._next(slot), idx1)
            if at.cas64(head_off, head, ((((head >> 32) + 1) & MASK32) << 32) | (slot + 1)):
                return
        raise ProtocolViolation("pool %s free list: compare-and-swap retries exhausted" % self.name)

    def free(self, slot, gen):
        """Frees a slot referenced by (slot, gen): moves the generation on,
        pushes the slot, and returns True if the owner waits for a slot and
        this side cleared its flag (the caller then MUST ring the owner's
        space-freed doorbell)."""
        if slot >= self.nslots:
            raise ProtocolViolation("free of slot %d of pool %s, which has %d" % (slot, self.name, self.nslots))
        if not gen & 1 or not self.at.cas32(self._gen(slot), gen, gen + 1):
            raise ProtocolViolation("free of slot %d of pool %s with a stale generation %d" % (slot, self.name, gen))
        self._push(self.class_of(slot), slot)
        w = self.base + WAITING
        return self.at.load32(w) == 1 and self.at.cas32(w, 1, 0)

    # -- receiver: resolving -------------------------------------------------

    def resolve(self, slot, gen, offset, length):
        """Checks a received reference and returns the payload's offset in
        the mapping. Raises ProtocolViolation."""
        if slot >= self.nslots:
            raise ProtocolViolation("slot %d of pool %s, which has %d" % (slot, self.name, self.nslots))
        if not gen & 1:
            raise ProtocolViolation("slot %d reference with even generation %d" % (slot, gen))
        cur = self.at.load32(self._gen(slot))
        if cur != gen:
            raise ProtocolViolation("slot %d reference with generation %d, current %d (stale)" % (slot, gen, cur))
        c = self.class_of(slot)
        if offset + length > c.size:
            raise ProtocolViolation("slot %d payload [%d, %d) past its %d bytes" % (slot, offset, offset + length, c.size))
        return self.base + c.data + (slot - c.first) * c.size + offset

    # -- owner: waiting ------------------------------------------------------

    def set_waiting(self):
        self.at.store32(self.base + WAITING, 1)

    def withdraw_waiting(self):
        self.at.cas32(self.base + WAITING, 1, 0)

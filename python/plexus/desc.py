"""The 64-byte descriptor every frame starts with (SPEC.md "Descriptor")."""

import struct

from .errors import ProtocolViolation

SIZE = 64

# Flags: the low nibble is the transport's, the high nibble the session's.
INLINE = 0x01
SLOT = 0x02
BLOB = 0x04
BIT3 = 0x08  # reserved: must be 0 on every transport
END = 0x10
MD = 0x20
MSG = 0x40
PACKED = 0x80

TRANSPORT_FLAGS = 0x0F
SESSION_FLAGS = 0xF0

INLINE_MAX = 28  # bytes 36..63

# Frame kinds (SPEC.md "Session frames").
OPEN, DATA, STATUS, RESET, CREDIT, NOTIFY, PING, PONG, GOAWAY = range(1, 10)
KIND_NAMES = {OPEN: "OPEN", DATA: "DATA", STATUS: "STATUS", RESET: "RESET", CREDIT: "CREDIT",
              NOTIFY: "NOTIFY", PING: "PING", PONG: "PONG", GOAWAY: "GOAWAY"}

# channel, kind, flags, reserved, credit, method, aux, length, slot, gen, offset, inline
_S = struct.Struct("<QBBHIQQIIII16s")
assert _S.size == SIZE
_III = struct.Struct("<III")
_new = object.__new__


class Desc:
    """One descriptor, a private copy: parsing never reads shared memory."""

    __slots__ = ("channel", "kind", "flags", "reserved", "credit", "method", "aux",
                 "length", "slot", "gen", "offset", "inline")

    def __init__(self, channel=0, kind=0, flags=0, credit=0, method=0, aux=0, length=0,
                 slot=0, gen=0, offset=0, inline=b"\0" * 16, reserved=0):
        self.channel = channel
        self.kind = kind
        self.flags = flags
        self.reserved = reserved
        self.credit = credit
        self.method = method
        self.aux = aux
        self.length = length
        self.slot = slot
        self.gen = gen
        self.offset = offset
        self.inline = inline

    @classmethod
    def unpack(cls, b):
        """Parses 64 bytes (bytes, not a view of shared memory)."""
        if len(b) != SIZE:
            raise ValueError("a descriptor is 64 bytes, not %d" % len(b))
        d = _new(cls)
        (d.channel, d.kind, d.flags, d.reserved, d.credit, d.method, d.aux,
         d.length, d.slot, d.gen, d.offset, d.inline) = _S.unpack(b)
        return d

    def pack_into(self, buf, off):
        _S.pack_into(buf, off, self.channel, self.kind, self.flags, self.reserved, self.credit,
                     self.method, self.aux, self.length, self.slot, self.gen,
                     self.offset, self.inline)

    def pack(self):
        return _S.pack(self.channel, self.kind, self.flags, self.reserved, self.credit,
                       self.method, self.aux, self.length, self.slot, self.gen,
                       self.offset, self.inline)

    def placement(self):
        """Bytes 36..63, the placement area."""
        return struct.pack("<III", self.slot, self.gen, self.offset) + self.inline

    def inline_payload(self):
        """The payload of an INLINE descriptor (length already checked)."""
        return (_III.pack(self.slot, self.gen, self.offset) + self.inline)[: self.length]

    def __repr__(self):
        return ("Desc(ch=%d kind=%s flags=%#x credit=%d method=%#x aux=%d len=%d slot=%d gen=%d off=%d)"
                % (self.channel, KIND_NAMES.get(self.kind, self.kind), self.flags, self.credit,
                   self.method, self.aux, self.length, self.slot, self.gen, self.offset))


_ZEROS = [b"\0" * (INLINE_MAX - i) for i in range(INLINE_MAX + 1)]


def set_inline(d, payload):
    """Places a payload of at most 28 bytes in bytes 36..63 (rest zero)."""
    n = len(payload)
    if n > INLINE_MAX:
        raise ValueError("inline payload of %d bytes" % n)
    area = bytes(payload) + _ZEROS[n]
    d.slot, d.gen, d.offset = _III.unpack_from(area)
    d.inline = area[12:]
    d.flags = (d.flags & ~TRANSPORT_FLAGS) | INLINE
    d.length = n


def check_shm_placement(d, max_payload):
    """The receiver's checks of SPEC.md "Payload placement" that need no
    pool: reserved field, bit 3, one placement at most, lengths.

    Returns the placement flag (0, INLINE, SLOT or BLOB). Raises
    ProtocolViolation. The SLOT reference itself is resolved by the pool.
    """
    if d.reserved != 0:
        raise ProtocolViolation("descriptor reserved field is %#x" % d.reserved)
    f = d.flags
    if f & BIT3:
        raise ProtocolViolation("descriptor flag bit 3 is set (flags %#x)" % f)
    place = f & (INLINE | SLOT | BLOB)
    if place not in (0, INLINE, SLOT, BLOB):
        raise ProtocolViolation("descriptor has more than one placement (flags %#x)" % f)
    if d.length > max_payload:
        raise ProtocolViolation("payload of %d bytes above the maximum %d" % (d.length, max_payload))
    if place == INLINE:
        if d.length > INLINE_MAX:
            raise ProtocolViolation("inline payload of %d bytes (at most %d)" % (d.length, INLINE_MAX))
    elif place == 0:
        if d.length != 0:
            raise ProtocolViolation("payload of %d bytes without a placement" % d.length)
    elif place == BLOB:
        if d.inline != b"\0" * 16:
            raise ProtocolViolation("BLOB descriptor with non-zero bytes 48..63")
        if d.slot == 0 and d.gen == 0:
            raise ProtocolViolation("BLOB descriptor with blob ID 0")
        if d.length == 0:
            raise ProtocolViolation("BLOB descriptor with length 0")
    return place

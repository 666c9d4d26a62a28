"""The segment (SPEC.md "Segment"): the memfd both sides map, its header
and the layout of its two rings and two pools."""

import fcntl
import mmap
import os
import struct

from .errors import ProtocolViolation

MAGIC = 0x4D48535355584C50  # "PLXUSSHM"
VERSION = 2
HEADER_SIZE = 4096
PAGE = 4096
MAX_FILE = 1 << 40  # the Go implementation's bound, kept for the same reason
MEMFD_NAME = "plexus-segment"
RING_HEADER = 256
MAX_RING = 1 << 24

# The per-side lines (diagnostics and the life word).
HOST_LINE = 128
PLUGIN_LINE = 192
LINE_PID = 0
LINE_LIFE = 16

REQUIRED_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL

_HDR = struct.Struct("<QIIQII" + "QII" * 2 + "QQ" * 2)


class Layout:
    """The validated geometry, a private copy taken once."""

    __slots__ = ("total", "ring_h2p", "cap_h2p", "ring_p2h", "cap_p2h",
                 "pool_host", "pool_host_size", "pool_plugin", "pool_plugin_size")

    def ring_size(self, cap):
        return RING_HEADER + 64 * cap


def parse_header(hdr, file_size):
    """Validates a private copy of the header (at least 128 bytes) against
    the file's size and returns the Layout; raises ProtocolViolation."""
    hdr = bytes(hdr)
    if len(hdr) < _HDR.size:
        raise ProtocolViolation("segment header truncated")
    (magic, version, hsize, total, flags, _res,
     r0off, r0cap, r0res, r1off, r1cap, r1res,
     p0off, p0size, p1off, p1size) = _HDR.unpack_from(hdr)
    if magic != MAGIC:
        raise ProtocolViolation("not a plexus segment")
    if version != VERSION:
        raise ProtocolViolation("segment version %d, this build speaks version %d" % (version, VERSION))
    if hsize != HEADER_SIZE:
        raise ProtocolViolation("segment header size %d, not %d" % (hsize, HEADER_SIZE))
    if total != file_size:
        raise ProtocolViolation("segment header says %d bytes, the file has %d" % (total, file_size))
    if flags != 0:
        raise ProtocolViolation("segment flags %#x (none is defined)" % flags)
    for name, cap in (("host->plugin", r0cap), ("plugin->host", r1cap)):
        if not (1 <= cap <= MAX_RING and cap & (cap - 1) == 0):
            raise ProtocolViolation("ring %s capacity %d is not a power of two in 1..2^24" % (name, cap))
    for name, size in (("host", p0size), ("plugin", p1size)):
        if size > file_size:
            raise ProtocolViolation("pool %s of %d bytes is larger than the segment" % (name, size))
    ranges = [("ring host->plugin", r0off, RING_HEADER + 64 * r0cap),
              ("ring plugin->host", r1off, RING_HEADER + 64 * r1cap),
              ("pool host", p0off, p0size), ("pool plugin", p1off, p1size)]
    for name, off, size in ranges:
        # Python integers do not overflow; the bounds below are those a
        # 64-bit implementation checks, so the verdicts agree.
        if off % PAGE or off < HEADER_SIZE or off + size > file_size:
            raise ProtocolViolation("%s [%d, %d) is not page-aligned inside the segment after its header"
                                    % (name, off, off + size))
    for i in range(len(ranges)):
        for j in range(i + 1, len(ranges)):
            a, b = ranges[i], ranges[j]
            if a[1] < b[1] + b[2] and b[1] < a[1] + a[2]:
                raise ProtocolViolation("%s and %s overlap" % (a[0], b[0]))
    l = Layout()
    l.total = file_size
    l.ring_h2p, l.cap_h2p, l.ring_p2h, l.cap_p2h = r0off, r0cap, r1off, r1cap
    l.pool_host, l.pool_host_size, l.pool_plugin, l.pool_plugin_size = p0off, p0size, p1off, p1size
    return l


def check_memfd(fd, check_name=True):
    """The descriptor must be a memfd sealed against resizing; returns its
    size. Raises ProtocolViolation."""
    if check_name:
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError as e:
            raise ProtocolViolation("segment fd %d: %s" % (fd, e)) from None
        if not target.startswith("/memfd:" + MEMFD_NAME):
            raise ProtocolViolation("segment fd %d is %r, not a memfd named %s" % (fd, target, MEMFD_NAME))
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError as e:
        raise ProtocolViolation("segment fd %d is not a sealable memfd: %s" % (fd, e)) from None
    if seals & REQUIRED_SEALS != REQUIRED_SEALS:
        raise ProtocolViolation("segment fd %d is not sealed against resizing (seals %#x)" % (fd, seals))
    size = os.fstat(fd).st_size
    if size < HEADER_SIZE or size > MAX_FILE:
        raise ProtocolViolation("a file of %d bytes cannot hold a segment" % size)
    return size


class Segment:
    """The plugin's mapping of the host's segment, validated."""

    def __init__(self, mm, layout):
        self.mm = mm
        self.layout = layout

    @classmethod
    def open(cls, fd, check_name=True):
        """Maps the memfd and validates its header (the pools are validated
        by pool.Pool). The mapping lives as long as the process (SPEC.md
        "End of the link": it stays mapped while frames point into it)."""
        size = check_memfd(fd, check_name)
        try:
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError) as e:
            raise ProtocolViolation("mapping the segment (%d bytes): %s" % (size, e)) from None
        layout = parse_header(mm[:HEADER_SIZE], size)  # a copy, parsed once
        return cls(mm, layout)

"""Test helpers: a segment laid out as a host creates it (SPEC.md
"Segment", "Ring", "Slot pool"), in a sealed memfd, with doorbells and a
control socket pair: what a plugin inherits."""

import fcntl
import mmap
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from plexus import segment as S  # noqa: E402

PAGE = 4096
DEFAULT_CLASSES = [(256, 8), (4096, 4), (65536, 2)]


def _up(n, a=PAGE):
    return (n + a - 1) // a * a


def pool_bytes(classes):
    """A pool region laid out as the Go creator does: header, class
    entries, the table right after them, each class's data on the next
    page boundary. Returns (bytes, size)."""
    nclasses, nslots = len(classes), sum(c for _, c in classes)
    table = 128 + 64 * nclasses
    off = _up(table + 8 * nslots)
    entries = []
    first = 0
    for size, count in classes:
        entries.append((size, count, first, off))
        first += count
        off = _up(off + size * count)
    total = off
    b = bytearray(total)
    struct.pack_into("<IIQQ", b, 0, nclasses, nslots, table, total)
    for i, (size, count, first, data) in enumerate(entries):
        e = 128 + 64 * i
        struct.pack_into("<QIIIIQ", b, e, first + 1, size, count, first, 0, data)
        for k in range(count):
            slot = first + k
            nxt = slot + 2 if k + 1 < count else 0
            struct.pack_into("<II", b, table + 8 * slot, 0, nxt)
    return bytes(b), total


def header_bytes(total, r0, r1, p0, p1):
    h = bytearray(S.HEADER_SIZE)
    struct.pack_into("<QIIQII", h, 0, S.MAGIC, S.VERSION, S.HEADER_SIZE, total, 0, 0)
    struct.pack_into("<QII", h, 32, r0[0], r0[1], 0)
    struct.pack_into("<QII", h, 48, r1[0], r1[1], 0)
    struct.pack_into("<QQ", h, 64, p0[0], p0[1])
    struct.pack_into("<QQ", h, 80, p1[0], p1[1])
    return h


def build(cap=8, host_classes=DEFAULT_CLASSES, plugin_classes=DEFAULT_CLASSES, seal=True, name=S.MEMFD_NAME):
    """Returns (memfd, layout dict) for a fresh segment."""
    r0 = (S.HEADER_SIZE, cap)
    rsize = _up(256 + 64 * cap)
    r1 = (r0[0] + rsize, cap)
    hp, hsize = pool_bytes(host_classes)
    pp, psize = pool_bytes(plugin_classes)
    p0 = (r1[0] + rsize, hsize)
    p1 = (p0[0] + hsize, psize)
    total = p1[0] + psize
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, total)
    mm = mmap.mmap(fd, total)
    mm[0:S.HEADER_SIZE] = bytes(header_bytes(total, r0, r1, p0, p1))
    mm[p0[0]:p0[0] + hsize] = hp
    mm[p1[0]:p1[0] + psize] = pp
    mm.close()
    if seal:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd, {"total": total, "r0": r0, "r1": r1, "p0": p0, "p1": p1}


def link_fds(**kw):
    """The five descriptors of ShmLink (memfd, four doorbells) and the two
    ends of the control socket (plugin's, host's)."""
    fd, lay = build(**kw)
    bells = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC) for _ in range(4)]
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return [fd] + bells, a, b, lay

"""The pyfilter demo's plugin: Filter (filter/filter_plexus.py, generated
by plexus gen -python from filter/filter.go) in Python, with numpy when
it is installed (python/install-deps.sh installs python3-numpy), reading
the pixels in place: a []byte argument is a memoryview of the link's
shared memory, which np.frombuffer wraps without a copy."""

import struct
import sys
import time

import plexus
import filter_plexus as F

try:
    import numpy as np
except ImportError:  # pure Python: the same results, slower
    np = None

log = plexus.Logger("pyfilter")


def checksum(b):
    """Sum mod 2^64 of the little-endian u64 words, then of the tail bytes."""
    b = memoryview(b).cast("B")
    n8 = len(b) - len(b) % 8
    if np is not None:
        s = int(np.frombuffer(b[:n8], dtype="<u8").sum(dtype=np.uint64)) if n8 else 0
    else:
        s = sum(w for (w,) in struct.iter_unpack("<Q", b[:n8]))
    return (s + sum(b[n8:])) & 0xFFFFFFFFFFFFFFFF


def apply(op, width, height, pixels):
    if width <= 0 or height <= 0 or len(pixels) != width * height * 4:
        raise plexus.Status(plexus.codes.INVALID_ARGUMENT,
                            "%d bytes are not a %dx%d RGBA image" % (len(pixels), width, height))
    if op not in ("invert", "grayscale", "blur"):
        raise plexus.Status(plexus.codes.INVALID_ARGUMENT, "unknown operation %r" % op)
    if np is None:
        return _apply_py(op, width, height, bytes(pixels))
    a = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 4)  # in place, no copy
    if op == "invert":
        out = a.copy()
        np.subtract(255, a[..., :3], out=out[..., :3])
    elif op == "grayscale":
        rgb = a[..., :3].astype(np.uint32)
        y = ((299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2]) // 1000).astype(np.uint8)
        out = np.empty_like(a)
        out[..., 0] = out[..., 1] = out[..., 2] = y
        out[..., 3] = a[..., 3]
    else:
        p = np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge").astype(np.uint16)
        s = sum(p[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
        out = (s // 9).astype(np.uint8)
    return memoryview(out).cast("B")


def _apply_py(op, w, h, src):
    out = bytearray(src)
    if op == "invert":
        for i in range(0, len(src), 4):
            out[i], out[i + 1], out[i + 2] = 255 - src[i], 255 - src[i + 1], 255 - src[i + 2]
    elif op == "grayscale":
        for i in range(0, len(src), 4):
            y = (299 * src[i] + 587 * src[i + 1] + 114 * src[i + 2]) // 1000
            out[i] = out[i + 1] = out[i + 2] = y
    else:
        for y in range(h):
            for x in range(w):
                for c in range(4):
                    s = sum(src[(min(max(y + dy, 0), h - 1) * w + min(max(x + dx, 0), w - 1)) * 4 + c]
                            for dy in (-1, 0, 1) for dx in (-1, 0, 1))
                    out[(y * w + x) * 4 + c] = s // 9
    return out


def filter_tile(op, width, tile):
    if len(tile) < 4 or (len(tile) - 4) % (width * 4):
        raise plexus.Status(plexus.codes.INVALID_ARGUMENT, "a tile of %d bytes is not whole rows" % len(tile))
    px = tile[4:]
    return bytes(tile[:4]) + bytes(apply(op, width, len(px) // (width * 4), px))


class Filter(F.FilterBase):
    stream_views = True  # tiles are read in place, until the next recv

    def Apply(self, op, width, height, pixels):
        return apply(op, width, height, pixels)

    def Progress(self, op, width, height, pixels, send):
        out = apply(op, width, height, pixels)
        for p in range(10, 101, 10):
            send(p)
        send(checksum(out))

    def Tiles(self, op, width, recv):
        n = total = 0
        for tile in recv:
            total += checksum(filter_tile(op, width, tile)[4:])
            n += 1
        return n, total & 0xFFFFFFFFFFFFFFFF

    def Stream(self, op, width, recv, send):
        for tile in recv:
            send(filter_tile(op, width, tile))

    def Checksum(self, data):
        return checksum(data)

    def Touch(self, data):
        # data is a read-only memoryview of the host's lease, in place.
        n = len(data)
        return n + data[0] + data[n - 1] if n else 0

    def Add(self, a, b):
        return a + b

    def Note(self, text):
        log.info("note from the host", text=text, numpy=np is not None)


if __name__ == "__main__":
    sys.exit(plexus.serve("plexus-pyfilter", versions={1: [Filter().plexus_service()]}))

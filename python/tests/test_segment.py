import fcntl
import os
import struct
import tempfile
import unittest

import segbuild
from plexus import segment as S
from plexus.errors import ProtocolViolation


class TestHeader(unittest.TestCase):
    def setUp(self):
        self.fd, self.lay = segbuild.build()
        self.total = self.lay["total"]
        self.hdr = bytes(os.pread(self.fd, S.HEADER_SIZE, 0))

    def tearDown(self):
        os.close(self.fd)

    def test_valid(self):
        l = S.parse_header(self.hdr, self.total)
        self.assertEqual((l.ring_h2p, l.cap_h2p), self.lay["r0"])
        self.assertEqual((l.pool_plugin, l.pool_plugin_size), self.lay["p1"])

    def mutate(self, fmt, off, val):
        h = bytearray(self.hdr)
        struct.pack_into(fmt, h, off, val)
        return bytes(h)

    def test_corrupt_headers_refused(self):
        r0, r1, p0, p1 = (self.lay[k] for k in ("r0", "r1", "p0", "p1"))
        bad = {
            "magic": ("<Q", 0, 0x1234),
            "version": ("<I", 8, 1),  # rings published by the tail
            "header size": ("<I", 12, 8192),
            "total size": ("<Q", 16, self.total + 4096),
            "flags": ("<I", 24, 1),
            "ring capacity 0": ("<I", 40, 0),
            "ring capacity not a power of two": ("<I", 40, 6),
            "ring capacity 2^25": ("<I", 56, 1 << 25),
            "ring capacity 2^32-1": ("<I", 40, 0xFFFFFFFF),
            "ring misaligned": ("<Q", 32, r0[0] + 64),
            "ring inside the header": ("<Q", 32, 0),
            "ring past the end": ("<Q", 48, self.total),
            "ring offset 2^64-4096": ("<Q", 48, (1 << 64) - 4096),
            "rings overlap": ("<Q", 48, r0[0]),
            "pool overlaps a ring": ("<Q", 64, r1[0]),
            "pools overlap": ("<Q", 80, p0[0]),
            "pool larger than the file": ("<Q", 72, self.total + 1),
            "pool size 2^64-1": ("<Q", 88, (1 << 64) - 1),
            "pool past the end": ("<Q", 88, p1[1] + 4096),
        }
        for name, (fmt, off, val) in bad.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    S.parse_header(self.mutate(fmt, off, val), self.total)
        with self.assertRaises(ProtocolViolation):
            S.parse_header(self.hdr[:90], self.total)

    def test_reserved_fields_not_checked(self):
        S.parse_header(self.mutate("<I", 28, 7), self.total)
        S.parse_header(self.mutate("<Q", 128, 99), self.total)


class TestMemfd(unittest.TestCase):
    def test_valid(self):
        fd, lay = segbuild.build()
        seg = S.Segment.open(fd)
        self.assertEqual(seg.layout.total, lay["total"])

    def test_unsealed_refused(self):
        fd, _ = segbuild.build(seal=False)
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(fd)

    def test_partly_sealed_refused(self):
        fd, _ = segbuild.build(seal=False)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(fd)

    def test_wrong_name_refused(self):
        fd, _ = segbuild.build(name="something-else")
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(fd)

    def test_not_a_memfd_refused(self):
        with tempfile.TemporaryFile() as f:
            f.write(bytes(8192))
            f.flush()
            with self.assertRaises(ProtocolViolation):
                S.Segment.open(f.fileno())
            with self.assertRaises(ProtocolViolation):
                S.Segment.open(f.fileno(), check_name=False)
        r, w = os.pipe()
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(r)
        os.close(r)
        os.close(w)

    def test_too_small_refused(self):
        fd = os.memfd_create(S.MEMFD_NAME, os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, 4095)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(fd)

    def test_header_size_mismatch_refused(self):
        # A valid header for a different file size.
        fd, lay = segbuild.build(seal=False)
        os.ftruncate(fd, lay["total"] + 4096)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        with self.assertRaises(ProtocolViolation):
            S.Segment.open(fd)


if __name__ == "__main__":
    unittest.main()

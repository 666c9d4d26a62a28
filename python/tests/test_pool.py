import mmap
import struct
import unittest

import segbuild
from plexus.atomic import Atomics
from plexus.errors import ProtocolViolation
from plexus.pool import Pool, parse_layout

CLASSES = [(256, 4), (4096, 2), (65536, 1)]


class Region:
    """A pool region in private memory."""

    def __init__(self, classes=CLASSES):
        b, self.size = segbuild.pool_bytes(classes)
        self.mm = mmap.mmap(-1, self.size)
        self.mm[:] = b
        self.at = Atomics(self.mm)

    def pool(self):
        return Pool(self.mm, self.at, 0, self.size, "test")

    def put(self, fmt, off, val):
        struct.pack_into(fmt, self.mm, off, val)


class TestLayout(unittest.TestCase):
    def check_refused(self, fmt, off, val, start=0, length=None):
        r = Region()
        r.put(fmt, off, val)
        with self.assertRaises(ProtocolViolation):
            parse_layout(lambda o, n: bytes(r.mm[o:o + n]), start, r.size if length is None else length)

    def test_valid(self):
        r = Region()
        n, table, classes = parse_layout(lambda o, n: bytes(r.mm[o:o + n]), 0, r.size)
        self.assertEqual(n, 7)
        self.assertEqual([(c.size, c.count, c.first) for c in classes], [(256, 4, 0), (4096, 2, 4), (65536, 1, 6)])

    def test_corrupt_layouts_refused(self):
        r = Region()
        table = struct.unpack_from("<Q", r.mm, 8)[0]
        data1 = struct.unpack_from("<Q", r.mm, 128 + 64 + 24)[0]
        cases = {
            "nclasses 0": ("<I", 0, 0),
            "nclasses 17": ("<I", 0, 17),
            "nclasses 2^32-1": ("<I", 0, 0xFFFFFFFF),
            "nslots 0": ("<I", 4, 0),
            "nslots 2^24+1": ("<I", 4, (1 << 24) + 1),
            "nslots more than the classes hold": ("<I", 4, 8),
            "table misaligned": ("<Q", 8, table + 4),
            "table outside": ("<Q", 8, (1 << 64) - 8),
            "table overlaps the header": ("<Q", 8, 64),
            "table overlaps data": ("<Q", 8, data1),
            "pool size differs": ("<Q", 16, r.size + 64),
            "class reserved": ("<I", 128 + 20, 1),
            "class size not a multiple of 64": ("<I", 128 + 8, 300),
            "class size 0": ("<I", 128 + 8, 0),
            "class size 2^30+64": ("<I", 128 + 64 * 2 + 8, (1 << 30) + 64),
            "class size not increasing": ("<I", 128 + 64 + 8, 256),
            "class count 0": ("<I", 128 + 12, 0),
            "class count above what is left": ("<I", 128 + 64 * 2 + 12, 2),
            "class count 2^32-1": ("<I", 128 + 12, 0xFFFFFFFF),
            "class 0 not at slot 0": ("<I", 128 + 16, 1),
            "class not where the previous ends": ("<I", 128 + 64 + 16, 5),
            "data misaligned": ("<Q", 128 + 64 + 24, data1 + 8),
            "data outside": ("<Q", 128 + 64 * 2 + 24, r.size - 4096),
            "data offset 2^64-64": ("<Q", 128 + 24, (1 << 64) - 64),
            "data overlaps data": ("<Q", 128 + 64 + 24, struct.unpack_from("<Q", r.mm, 128 + 24)[0]),
            "data overlaps the table": ("<Q", 128 + 24, table // 64 * 64),
        }
        for name, (fmt, off, val) in cases.items():
            with self.subTest(name):
                self.check_refused(fmt, off, val)
        with self.subTest("region misaligned"):
            self.check_refused("<I", 24, 0, start=32)
        with self.subTest("region shorter than the pool size"):
            self.check_refused("<I", 24, 0, length=r.size - 64)
        with self.subTest("region too small for entries"):
            r2 = Region()
            r2.put("<Q", 16, 100)
            with self.assertRaises(ProtocolViolation):
                parse_layout(lambda o, n: bytes(r2.mm[o:o + n]), 0, 100)


class TestRuntime(unittest.TestCase):
    def test_alloc_free_generations(self):
        p = Region().pool()
        slot, gen, off = p.alloc(100)
        self.assertEqual((slot, gen), (0, 1))
        self.assertEqual(p.resolve(slot, gen, 0, 256), off)
        self.assertFalse(p.free(slot, gen))
        with self.assertRaises(ProtocolViolation):
            p.free(slot, gen)  # double free
        with self.assertRaises(ProtocolViolation):
            p.resolve(slot, gen, 0, 1)  # stale: freed
        slot2, gen2, _ = p.alloc(1)
        self.assertEqual((slot2, gen2), (0, 3))  # LIFO: the slot came back with a new generation
        with self.assertRaises(ProtocolViolation):
            p.free(slot2, 1)  # stale generation
        with self.assertRaises(ProtocolViolation):
            p.free(slot2, 2)  # even generation

    def test_classes_and_exhaustion(self):
        p = Region().pool()
        got = [p.alloc(4000) for _ in range(3)]
        self.assertEqual([g[0] for g in got], [4, 5, 6])  # 4 KiB, then the next larger class
        self.assertIsNone(p.alloc(4000))
        self.assertIsNotNone(p.alloc(10))
        self.assertIsNone(p.alloc(70000))

    def test_waiting_flag(self):
        r = Region()
        p = r.pool()
        slot, gen, _ = p.alloc(1)
        p.set_waiting()
        self.assertTrue(p.free(slot, gen), "the freer clears a waiting owner's flag and must ring")
        self.assertEqual(r.at.load32(64), 0)

    def test_bad_references_refused(self):
        p = Region().pool()
        slot, gen, _ = p.alloc(100)
        bad = {
            "slot out of range": (7, gen, 0, 1),
            "slot 2^32-1": (0xFFFFFFFF, gen, 0, 1),
            "even generation": (slot, gen + 1, 0, 1),
            "wrong generation": (slot, gen + 2, 0, 1),
            "free slot": (1, 1, 0, 1),
            "past the slot": (slot, gen, 200, 57),
            "offset 2^32-1": (slot, gen, 0xFFFFFFFF, 1),
            "length 2^32-1": (slot, gen, 0, 0xFFFFFFFF),
        }
        for name, ref in bad.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    p.resolve(*ref)
        p.resolve(slot, gen, 200, 56)
        with self.assertRaises(ProtocolViolation):
            p.free(99, 1)

    def test_corrupt_free_lists_refused(self):
        r = Region()
        r.put("<Q", 128, (5 << 32) | 6)  # class 0's head names slot 5, of class 1
        with self.assertRaises(ProtocolViolation):
            r.pool().alloc(1)
        r = Region()
        table = struct.unpack_from("<Q", r.mm, 8)[0]
        r.put("<I", table + 4, 6)  # slot 0's next names slot 5, of class 1
        with self.assertRaises(ProtocolViolation):
            r.pool().alloc(1)
        r = Region()
        r.put("<I", table, 1)  # slot 0 on the free list with an odd generation
        with self.assertRaises(ProtocolViolation):
            r.pool().alloc(1)
        r = Region()
        r.put("<Q", 128 + 64, 0xFFFFFFFF)  # head index 2^32-2
        with self.assertRaises(ProtocolViolation):
            r.pool().alloc(4096)
        # A freer that finds the owner's head corrupt refuses too.
        r = Region()
        p = r.pool()
        slot, gen, _ = p.alloc(1)
        r.put("<Q", 128, 100)
        with self.assertRaises(ProtocolViolation):
            p.free(slot, gen)


if __name__ == "__main__":
    unittest.main()

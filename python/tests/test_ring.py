import mmap
import unittest

import segbuild  # noqa: F401
from plexus.atomic import Atomics
from plexus.errors import ProtocolViolation
from plexus.ring import HEAD, PARKED, TAIL, WAITING, Consumer, Producer

CAP = 4


class TestRing(unittest.TestCase):
    def setUp(self):
        self.mm = mmap.mmap(-1, 4096)
        self.at = Atomics(self.mm)
        self.c = Consumer(self.mm, self.at, 0, CAP)
        self.p = Producer(self.mm, self.at, 0, CAP)

    def test_roundtrip_and_parking(self):
        self.assertTrue(self.c.park())
        for i in range(3):
            self.p.write(bytes([i]) * 64)
        self.assertTrue(self.p.publish(), "the producer clears the parked flag and must ring")
        self.assertEqual(self.at.load32(PARKED), 0)
        self.c.unpark()  # the CAS fails: a spurious wake-up, no harm
        self.assertEqual(self.c.available(), 3)
        got, ring = self.c.take(3)
        self.assertEqual(got, [bytes([i]) * 64 for i in range(3)])
        self.assertFalse(ring)
        self.assertEqual(self.at.load64(HEAD), 3)
        self.assertFalse(self.p.publish(), "nothing new: no store, no ring")

    def test_wraps_and_space(self):
        for round_ in range(5):
            self.assertEqual(self.p.space(), CAP)
            for i in range(CAP):
                self.p.write(bytes([round_ * 10 + i]) * 64)
            self.assertEqual(self.p.space(), 0)
            self.p.publish()
            got, _ = self.c.take(self.c.available())
            self.assertEqual([g[0] for g in got], [round_ * 10 + i for i in range(CAP)])

    def test_waiting_flag(self):
        self.p.set_waiting()
        self.p.write(bytes(64))
        self.p.publish()
        _, ring = self.c.take(1)
        self.assertTrue(ring, "the consumer clears a waiting producer's flag and must ring")
        self.assertEqual(self.at.load32(WAITING), 0)

    def test_park_sees_waiting_data(self):
        self.p.write(bytes(64))
        self.p.publish()
        self.assertFalse(self.c.park())
        self.assertEqual(self.at.load32(PARKED), 0)

    def test_corrupt_tail_refused(self):
        for tail in (CAP + 1, (1 << 64) - 1, 1 << 63):
            with self.subTest(tail=tail):
                self.at.store64(TAIL, tail)
                with self.assertRaises(ProtocolViolation):
                    self.c.available()

    def test_corrupt_head_refused(self):
        for head in (1, (1 << 64) - CAP - 1, 1 << 63):
            with self.subTest(head=head):
                self.at.store64(HEAD, head)
                with self.assertRaises(ProtocolViolation):
                    self.p.space()

    def test_own_index_never_read_back(self):
        self.p.write(bytes(64))
        self.p.publish()
        self.c.take(1)
        self.at.store64(HEAD, 0)  # the peer rewrites the consumer's head
        self.assertEqual(self.c.available(), 0, "the consumer compares the tail with its private head")


if __name__ == "__main__":
    unittest.main()

import mmap
import unittest

import segbuild  # noqa: F401
from plexus.atomic import Atomics
from plexus.errors import ProtocolViolation
from plexus.ring import HEAD, PARKED, SLOTS, STAMP, TAIL, WAITING, Consumer, Producer, stamp

CAP = 4


def cell(i):
    """A 64-byte cell of byte i, with the reserved field (where the ring
    stamps) zero, as the consumer hands it out."""
    b = bytearray([i]) * 64
    b[STAMP + 2] = b[STAMP + 3] = 0
    return bytes(b)


class TestRing(unittest.TestCase):
    def setUp(self):
        self.mm = mmap.mmap(-1, 4096)
        self.at = Atomics(self.mm)
        self.c = Consumer(self.mm, self.at, 0, CAP)
        self.p = Producer(self.mm, self.at, 0, CAP)

    def test_roundtrip_and_parking(self):
        self.assertTrue(self.c.park())
        for i in range(3):
            self.p.write(bytes([i]) * 64)  # a reserved field the ring overwrites
        self.assertTrue(self.p.publish(), "the producer clears the parked flag and must ring")
        self.assertEqual(self.at.load32(PARKED), 0)
        self.c.unpark()  # the CAS fails: a spurious wake-up, no harm
        self.assertEqual(self.c.available(), 3)
        got, ring = self.c.take(3)
        self.assertEqual(got, [cell(i) for i in range(3)])
        self.assertFalse(ring)
        self.assertEqual(self.at.load64(HEAD), 3)
        self.assertFalse(self.p.publish(), "nothing new: no store, no ring")

    def test_wraps_and_space(self):
        for round_ in range(5):
            self.assertEqual(self.p.space(), CAP)
            for i in range(CAP):
                self.p.write(cell(round_ * 10 + i))
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

    def test_tail_is_not_read(self):
        """A tail the peer writes shows nothing that was not stamped."""
        for tail in (1, CAP + 1, (1 << 64) - 1, 1 << 63):
            with self.subTest(tail=tail):
                self.at.store64(TAIL, tail)
                self.assertEqual(self.c.available(), 0)
                self.assertTrue(self.c.park())
                self.c.unpark()
        self.p.write(cell(5))
        self.p.publish()
        self.assertEqual(self.at.load64(TAIL), 1, "the producer stores its own tail again")
        self.assertEqual(self.c.take(self.c.available())[0], [cell(5)])

    def test_stamps(self):
        """Only the stamp the consumer's head should carry publishes a
        cell: one of another lap, or none, does not."""
        self.assertEqual(stamp(0, CAP), 1 << 16)
        self.assertEqual(stamp(CAP, CAP), 3 << 16)
        self.assertEqual(stamp((1 << 64) - 1, CAP) & (1 << 16), 1 << 16, "odd at every lap")
        for v in (stamp(CAP, CAP), stamp((1 << 64) - 1, CAP), 0):
            with self.subTest(stamp=v):
                self.at.store32(SLOTS + STAMP, v)
                self.assertEqual(self.c.available(), 0)
        self.at.store32(SLOTS + STAMP, stamp(0, CAP) | 7)
        self.assertEqual(self.c.available(), 1)
        got, _ = self.c.take(1)
        self.assertEqual(got[0][STAMP], 7, "the kind")
        self.assertEqual(got[0][STAMP + 2:STAMP + 4], b"\0\0", "the stamp is not handed out")

    def test_interoperates_with_go_layout(self):
        """Stamps as the Go ring writes them: position 5 of a ring of 4 is
        in lap 1, stamp 3."""
        for i in range(5):
            self.p.write(cell(i))
            self.p.publish()
            self.c.take(self.c.available())
        self.assertEqual(self.at.load32(SLOTS + STAMP) >> 16, 3)
        self.assertEqual(self.at.load32(SLOTS + 64 + STAMP) >> 16, 1, "position 1: lap 0, not yet rewritten")

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
        self.assertEqual(self.c.available(), 0, "the consumer looks at its private head's stamp")


if __name__ == "__main__":
    unittest.main()

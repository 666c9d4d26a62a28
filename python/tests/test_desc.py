import unittest

import segbuild  # noqa: F401  (puts the package on the path)
from plexus import desc as D
from plexus.errors import ProtocolViolation

MAXP = 1 << 20


def d(**kw):
    x = D.Desc(channel=1, kind=D.OPEN)
    for k, v in kw.items():
        setattr(x, k, v)
    return x


class TestDescriptor(unittest.TestCase):
    def test_roundtrip(self):
        x = D.Desc(channel=7, kind=D.STATUS, flags=D.END | D.MSG, credit=5, method=1 << 63, aux=3, length=9)
        D.set_inline(x, b"123456789")
        y = D.Desc.unpack(x.pack())
        self.assertEqual(y.pack(), x.pack())
        self.assertEqual(y.inline_payload(), b"123456789")
        self.assertEqual(D.check_shm_placement(y, MAXP), D.INLINE)

    def test_inline_28(self):
        x = d()
        D.set_inline(x, bytes(range(28)))
        self.assertEqual(D.Desc.unpack(x.pack()).inline_payload(), bytes(range(28)))
        with self.assertRaises(ValueError):
            D.set_inline(x, bytes(29))

    def test_wrong_size(self):
        for n in (0, 63, 65):
            with self.assertRaises(ValueError):
                D.Desc.unpack(bytes(n))

    def test_corrupt_descriptors_refused(self):
        bad = {
            "reserved field": d(reserved=1),
            "flag bit 3": d(flags=D.BIT3),
            "inline and slot": d(flags=D.INLINE | D.SLOT, length=1),
            "inline and blob": d(flags=D.INLINE | D.BLOB, length=1, slot=1),
            "slot and blob": d(flags=D.SLOT | D.BLOB, length=1, slot=1),
            "all three": d(flags=0x07, length=1),
            "inline of 29": d(flags=D.INLINE, length=29),
            "inline of 2^32-1": d(flags=D.INLINE, length=0xFFFFFFFF),
            "no placement, length 1": d(length=1),
            "above max payload": d(flags=D.SLOT, length=MAXP + 1),
            "blob with bytes 48..63": d(flags=D.BLOB, length=5, slot=1, inline=b"\x01" + bytes(15)),
            "blob ID 0": d(flags=D.BLOB, length=5),
            "blob of length 0": d(flags=D.BLOB, slot=1),
        }
        for name, x in bad.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    D.check_shm_placement(D.Desc.unpack(x.pack()), MAXP)

    def test_random_garbage_never_crashes(self):
        import random
        rnd = random.Random(1)
        for _ in range(5000):
            raw = bytes(rnd.getrandbits(8) for _ in range(64))
            x = D.Desc.unpack(raw)
            try:
                D.check_shm_placement(x, MAXP)
            except ProtocolViolation:
                pass


if __name__ == "__main__":
    unittest.main()

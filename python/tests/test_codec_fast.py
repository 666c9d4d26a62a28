import unittest

import segbuild  # noqa: F401  (puts plexus on the path)
import msgpack
from plexus import codec as C


def slow(types, data):
    """decode_tuple without the msgpack fast path."""
    d = C.Decoder(data)
    at = d.off
    n = d.array_header()
    if n != len(types):
        d.fail("array of %d elements where %d were expected" % (n, len(types)), at)
    d.depth = 1
    vals = [t.dec(d) for t in types]
    if d.off != d.end:
        d.fail("%d trailing bytes" % (d.end - d.off))
    return vals


class TestFastPath(unittest.TestCase):
    """The msgpack fast path returns what Decoder returns, and leaves every
    error (with its offset) to Decoder."""

    def same(self, types, data):
        try:
            want = slow(types, data)
        except C.CodecError as e:
            with self.assertRaises(C.CodecError) as got:
                C.decode_tuple(types, memoryview(data))
            self.assertEqual(str(got.exception), str(e))
            return
        got = C.decode_tuple(types, memoryview(data))
        self.assertEqual(got, want)
        self.assertEqual([type(v) for v in got], [type(v) for v in want])

    def test_agree(self):
        I, U, B, S = C.INT64, C.UINT64, C.BOOL, C.STRING
        cases = [
            ((I, I), C.encode_tuple((I, I), (1234, -1))),
            ((I, I), msgpack.packb([1234, 2 ** 63 - 1])),          # uint forms for int64
            ((I,), msgpack.packb([2 ** 63])),                     # out of range
            ((C.INT8,), msgpack.packb([200])),
            ((U,), msgpack.packb([-1])),
            ((U,), msgpack.packb([2 ** 64 - 1])),
            ((B, S), msgpack.packb([True, "héllo"])),
            ((S,), b"\x91\xa2\xff\xfe"),                          # not UTF-8: kept
            ((I,), msgpack.packb([True])),
            ((B,), msgpack.packb([1])),
            ((I, I), msgpack.packb([1])),
            ((I,), msgpack.packb([1]) + b"\x00"),                 # trailing byte
            ((I,), b"\x91\xc1"),
            ((I,), b"\x91"),
            ((I,), b"\x91\x91\x01"),
            ((S,), msgpack.packb([b"x"])),
            ((I,), b""),
        ]
        for types, data in cases:
            with self.subTest(data=bytes(data).hex()):
                self.same(types, bytes(data))


if __name__ == "__main__":
    unittest.main()

import struct
import unittest

import segbuild  # noqa: F401
from plexus import frames as F
from plexus.errors import ProtocolViolation


def entry(k, v):
    return struct.pack("<H", len(k)) + k + struct.pack("<I", len(v)) + v


class TestMetadata(unittest.TestCase):
    def test_roundtrip(self):
        b = F.encode_metadata({"trace-id": b"abc", "k": b""}) + b"rest"
        md, n = F.parse_metadata(b)
        self.assertEqual(md, {"trace-id": b"abc", "k": b""})
        self.assertEqual(b[n:], b"rest")
        md, n = F.parse_metadata(memoryview(struct.pack("<H", 0)))
        self.assertEqual((md, n), ({}, 2))

    def test_repeated_key_keeps_last(self):
        md, _ = F.parse_metadata(struct.pack("<H", 2) + entry(b"a", b"1") + entry(b"a", b"2"))
        self.assertEqual(md, {"a": b"2"})

    def test_malformed_refused(self):
        bad = {
            "empty": b"",
            "one byte": b"\x01",
            "count 65": struct.pack("<H", 65) + entry(b"a", b"") * 65,
            "count lies": struct.pack("<H", 2) + entry(b"a", b"1"),
            "key length past the end": struct.pack("<H", 1) + struct.pack("<H", 10) + b"abc",
            "value length past the end": struct.pack("<H", 1) + struct.pack("<H", 1) + b"a" + struct.pack("<I", 0xFFFFFFFF),
            "truncated value length": struct.pack("<H", 1) + struct.pack("<H", 1) + b"a" + b"\x00\x00",
            "empty key": struct.pack("<H", 1) + entry(b"", b"v"),
            "key with a space": struct.pack("<H", 1) + entry(b"a b", b"v"),
            "key with a control byte": struct.pack("<H", 1) + entry(b"a\x00", b"v"),
            "key 256 bytes": struct.pack("<H", 1) + entry(b"k" * 256, b"v"),
            "block above 16 KiB": struct.pack("<H", 1) + entry(b"k", b"v" * 16400),
        }
        for name, b in bad.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    F.parse_metadata(b)


class TestStatusBody(unittest.TestCase):
    def test_roundtrip(self):
        self.assertEqual(F.parse_status_body(F.encode_status_body("boom", b"\x92\xa1x\xc0")), ("boom", b"\x92\xa1x\xc0"))

    def test_malformed_refused(self):
        for b in (b"", b"\x01\x00\x00", struct.pack("<I", 5) + b"1234", struct.pack("<I", 0xFFFFFFFF)):
            with self.subTest(b=b):
                with self.assertRaises(ProtocolViolation):
                    F.parse_status_body(b)


class TestPacked(unittest.TestCase):
    def test_records(self):
        b = struct.pack("<H", 3) + b"abc" + struct.pack("<H", 0)
        self.assertEqual(F.check_packed(b), [(2, 3), (7, 0)])

    def test_malformed_refused(self):
        for b in (b"", b"\x01", struct.pack("<H", 4) + b"abc", struct.pack("<H", 1) + b"a" + b"\x05"):
            with self.subTest(b=b):
                with self.assertRaises(ProtocolViolation):
                    F.check_packed(b)


if __name__ == "__main__":
    unittest.main()

import unittest

import segbuild  # noqa: F401
import msgpack
from plexus import status
from plexus.service import SHUTDOWN_ID, Method, Service, check_services, method_id, signature_hash, valid_name


class TestIDs(unittest.TestCase):
    def test_method_ids_match_go(self):
        # plexus.MethodID in Go, for the same names.
        self.assertEqual(method_id("hosttest.Echo", "Echo"), 0x8ABD3AB64B1F8AE9)
        self.assertEqual(SHUTDOWN_ID, 0x8392D9D20367815E)

    def test_signature_hash_matches_go(self):
        # internal/gen's pinned example (the text of SPEC.md "Signature hash").
        p = "github.com/plexus-ipc/plexus/internal/gen/testdata/sigbase"
        text = "plexus.sig.v1 Unary args(%s.ID=int32,[]string) results(map[string]*%s.ID=int32)" % (p, p)
        self.assertEqual(signature_hash(text), 0x9517A349E7245EDE)


class TestServices(unittest.TestCase):
    def test_names(self):
        self.assertTrue(valid_name("a.B"))
        for bad in ("", "a b", "é", "x" * 256, "a\x7f"):
            self.assertFalse(valid_name(bad), bad)
        with self.assertRaises(ValueError):
            Service("plexus.Link", [])
        with self.assertRaises(ValueError):
            Service("s.S", [Method("M", 1), Method("M", 2)])
        with self.assertRaises(ValueError):
            Method("bad name", 1)
        with self.assertRaises(ValueError):
            Method("M", 1 << 64)

    def test_duplicates_refused(self):
        s = Service("s.S", [Method("M", 1)])
        with self.assertRaises(ValueError):
            check_services([s, Service("s.S", [])])
        check_services([s, Service("s.T", [Method("M", 1)])])


class TestStatus(unittest.TestCase):
    def test_codes(self):
        with self.assertRaises(ValueError):
            status.Status(0, "ok is not an error")
        with self.assertRaises(ValueError):
            status.Status(1 << 32, "too large")
        self.assertEqual(str(status.Status(status.NOT_FOUND, "x")), "NOT_FOUND: x")
        self.assertEqual(status.code_name(99), "CODE(99)")

    def test_application_error_details(self):
        e = status.ApplicationError("kv.NotFound", "no key k", {"key": "k"})
        self.assertEqual(e.code, status.APPLICATION_ERROR)
        self.assertEqual(msgpack.unpackb(e.details, raw=False), ["kv.NotFound", {"key": "k"}])


if __name__ == "__main__":
    unittest.main()

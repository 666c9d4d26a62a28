import unittest

import segbuild  # noqa: F401
from plexus import env as E


class TestEnv(unittest.TestCase):
    def test_good(self):
        e = E.parse("fds=3-8;proto=2-3;versions=1,2;host=4242")
        self.assertEqual((e.first_fd, e.last_fd, e.min_proto, e.max_proto, e.versions, e.host_pid, e.link),
                         (3, 8, 2, 3, [1, 2], 4242, ""))
        self.assertEqual(e.fd_count, 6)
        e = E.parse("fds=3-3;proto=2-3;versions=1;host=4242;link=socket")
        self.assertEqual(e.link, "socket")
        e = E.parse("dial=unix:/tmp/p/s;nonce=" + "0f" * 16 + ";proto=2-3;versions=1;host=4242;link=socket")
        self.assertEqual(e.dial, "unix:/tmp/p/s")

    def test_garbage_refused(self):
        bad = [
            "", ";", "fds=3-8", "fds=3-8;proto=2-3;versions=1;host=4242;",
            "fds=3-8;proto=2-3;versions=1;host=4242;fds=3-8",
            "fds=2-7;proto=2-3;versions=1;host=4242",
            "fds=8-3;proto=2-3;versions=1;host=4242",
            "fds=3-1048577;proto=2-3;versions=1;host=4242",
            "fds=+3-8;proto=2-3;versions=1;host=4242",
            "fds= 3-8;proto=2-3;versions=1;host=4242",
            "fds=3_0-40;proto=2-3;versions=1;host=4242",
            "fds=3-8;proto=0-3;versions=1;host=4242",
            "fds=3-8;proto=2-65536;versions=1;host=4242",
            "fds=3-8;proto=3;versions=1;host=4242",
            "fds=3-8;proto=2-3;versions=2,1;host=4242",
            "fds=3-8;proto=2-3;versions=0;host=4242",
            "fds=3-8;proto=2-3;versions=1,1;host=4242",
            "fds=3-8;proto=2-3;versions=4294967296;host=4242",
            "fds=3-8;proto=2-3;versions=" + ",".join(str(i) for i in range(1, 66)) + ";host=4242",
            "fds=3-8;proto=2-3;versions=1;host=1",
            "fds=3-8;proto=2-3;versions=1;host=2147483648",
            "fds=3-8;proto=2-3;versions=1;host=-5",
            "fds=3-8;proto=2-3;versions=1;host=4242;link=tcp",
            "fds=3-8;proto=2-3;versions=1;host=4242;colour=blue",
            "fds=3-8;proto=2-3;versions=1;host=4242;dial=unix:/x;nonce=" + "0" * 32 + ";link=socket",
            "dial=unix:/x;proto=2-3;versions=1;host=4242;link=socket",
            "dial=unix:/x;nonce=" + "A" * 32 + ";proto=2-3;versions=1;host=4242;link=socket",
            "dial=ftp:/x;nonce=" + "0" * 32 + ";proto=2-3;versions=1;host=4242;link=socket",
            "dial=unix:/x;nonce=" + "0" * 32 + ";proto=2-3;versions=1;host=4242",
            "fds=3-8;proto=2-3;versions=1;host=4242;" + "x" * 4096,
            "fds=3-8;proto=2-3;versions=١;host=4242",  # a non-ASCII digit
        ]
        for s in bad:
            with self.subTest(s[:80]):
                with self.assertRaises(E.EnvError):
                    E.parse(s)


if __name__ == "__main__":
    unittest.main()

import os
import socket
import struct
import threading
import time
import unittest

import segbuild  # noqa: F401
from plexus import handshake as H
from plexus import status
from plexus.errors import HandshakeError, PeerGone, ProtocolViolation
from plexus.service import method_id

LIM = H.Limits(1 << 30, 65536, 1 << 20)


def hello(**kw):
    h = H.Hello(2, 3, b"cookie", [1, 2], LIM)
    for k, v in kw.items():
        setattr(h, k, v)
    return H.encode(h)


def reply_bytes(services, proto=3, host=()):
    return H.encode(H.Reply(proto, 1, LIM, services, host))


ECHO = ("hosttest.Echo", [("Echo", method_id("hosttest.Echo", "Echo"), 0x1111)])


class TestMessages(unittest.TestCase):
    def test_roundtrips(self):
        h = H.decode(hello())
        self.assertEqual((h.min_proto, h.max_proto, h.cookie, h.versions), (2, 3, b"cookie", [1, 2]))
        self.assertEqual(h.limits, LIM)
        r = H.decode(reply_bytes([ECHO]))
        self.assertEqual(r.services, [ECHO])
        r2 = H.decode(reply_bytes([ECHO], proto=2))
        self.assertEqual(r2.host_services, [])
        self.assertIsInstance(H.decode(H.encode(H.Accept())), H.Accept)
        rj = H.decode(H.encode(H.Reject(16, "no")))
        self.assertEqual((rj.code, rj.reason), (16, "no"))
        self.assertEqual(len(H.encode(H.Reject(2, "é" * 5000))) - 12, 4096, "cut at a character boundary")

    def test_garbage_refused(self):
        good = hello()
        bad = {
            "empty": b"",
            "short header": b"PXH",
            "wrong magic": b"PXHT" + good[4:],
            "reserved byte": good[:5] + b"\x01" + good[6:],
            "unknown type 0": b"PXHS\x00\x00",
            "unknown type 5": b"PXHS\x05\x00",
            "truncated HELLO": good[:-1],
            "trailing bytes": good + b"\x00",
            "ACCEPT with a byte": H.encode(H.Accept()) + b"\x00",
            "protocol range reversed": hello(min_proto=3, max_proto=2),
            "protocol 0": hello(min_proto=0),
            "cookie too long": hello(cookie=b"c" * 1025),
            "no versions": hello(versions=[]),
            "65 versions": hello(versions=list(range(1, 66))),
            "versions not increasing": hello(versions=[2, 1]),
            "version repeated": hello(versions=[1, 1]),
            "version 0": hello(versions=[0, 1]),
            "max payload below 4096": hello(limits=H.Limits(4095, 65536, 1 << 20)),
            "channel window too small": hello(limits=H.Limits(4096, 65535, 1 << 20)),
            "channel window too large": hello(limits=H.Limits(4096, (1 << 30) + 1, 1 << 20)),
            "link window too small": hello(limits=H.Limits(4096, 65536, (1 << 20) - 1)),
            "version count lies": b"PXHS\x01\x00" + struct.pack("<HH", 2, 3) + struct.pack("<H", 0) + struct.pack("<H", 64),
            "cookie length lies": b"PXHS\x01\x00" + struct.pack("<HH", 2, 3) + struct.pack("<H", 60000) + b"x",
            "REPLY protocol 0": reply_bytes([ECHO])[:6] + b"\x00\x00" + reply_bytes([ECHO])[8:],
            "REPLY wrong method ID": reply_bytes([("hosttest.Echo", [("Echo", 1, 2)])]),
            "REPLY service twice": reply_bytes([ECHO, ECHO]),
            "REPLY method twice": reply_bytes([("s.S", [("M", method_id("s.S", "M"), 0)] * 2)]),
            "REPLY name with a space": reply_bytes([("a b", [])]),
            "REPLY empty name": reply_bytes([("", [])]),
            "REPLY 1025 services": b"PXHS\x02\x00" + struct.pack("<HIIII", 2, 1, 1 << 30, 65536, 1 << 20) + struct.pack("<H", 1025),
            "REPLY 4097 methods": b"PXHS\x02\x00" + struct.pack("<HIIII", 2, 1, 1 << 30, 65536, 1 << 20)
            + struct.pack("<H", 1) + b"\x03a.b" + struct.pack("<H", 4097),
            "REPLY host services under protocol 3 missing": reply_bytes([ECHO])[:-2],
            "REJECT code 0": b"PXHS\x04\x00" + struct.pack("<I", 0) + struct.pack("<H", 0),
            "REJECT reason too long": b"PXHS\x04\x00" + struct.pack("<I", 2) + struct.pack("<H", 4097) + b"r" * 4097,
            "too long": b"PXHS\x03\x00" + bytes(65536),
        }
        for name, msg in bad.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    H.decode(msg)

    def test_random_garbage_never_crashes(self):
        import random
        rnd = random.Random(7)
        seeds = [hello(), reply_bytes([ECHO]), H.encode(H.Reject(3, "x")), H.encode(H.Accept())]
        for _ in range(3000):
            b = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 4)):
                i = rnd.randrange(len(b))
                b[i] = rnd.getrandbits(8)
            if rnd.random() < 0.3:
                b = b[:rnd.randrange(len(b) + 1)]
            try:
                H.decode(bytes(b))
            except ProtocolViolation:
                pass

    def test_negotiation(self):
        self.assertEqual(H.negotiate_protocol(2, 3), 3)
        self.assertEqual(H.negotiate_protocol(1, 2), 2)
        with self.assertRaises(status.Status) as cm:
            H.negotiate_protocol(4, 9)
        self.assertEqual(cm.exception.code, status.VERSION_MISMATCH)
        self.assertEqual(H.negotiate_version([1, 2, 5], [2, 5, 7]), 5)
        with self.assertRaises(status.Status) as cm:
            H.negotiate_version([1, 2], [3, 4])
        self.assertIn("host supports [1 2], plugin supports [3 4]", cm.exception.message)


class TestConversation(unittest.TestCase):
    def setUp(self):
        self.plugin, self.host = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(self.plugin.close)
        self.addCleanup(self.host.close)

    def answer(self, h):
        H.check_cookie(h, "cookie")
        return H.Reply(H.negotiate_protocol(h.min_proto, h.max_proto), H.negotiate_version(h.versions, [1]), h.limits, [ECHO])

    def run_plugin(self, timeout=2.0):
        out = {}

        def go():
            try:
                out["ok"] = H.plugin_side(self.plugin, self.answer, time.monotonic() + timeout)
            except Exception as e:  # noqa: BLE001
                out["err"] = e
        t = threading.Thread(target=go)
        t.start()
        return t, out

    def recv(self):
        self.host.settimeout(3)
        return H.decode(self.host.recv(70000))

    def test_accepted(self):
        t, out = self.run_plugin()
        self.host.send(hello())
        r = self.recv()
        self.assertIsInstance(r, H.Reply)
        self.assertEqual((r.protocol, r.version, r.services), (3, 1, [ECHO]))
        self.host.send(H.encode(H.Accept()))
        t.join()
        self.assertIn("ok", out)

    def test_cookie_mismatch_rejected(self):
        t, out = self.run_plugin()
        self.host.send(hello(cookie=b"other"))
        r = self.recv()
        self.assertIsInstance(r, H.Reject)
        self.assertEqual(r.code, status.UNAUTHENTICATED)
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)

    def test_host_reject(self):
        t, out = self.run_plugin()
        self.host.send(hello())
        self.recv()
        self.host.send(H.encode(H.Reject(status.VERSION_MISMATCH, "signature hash differs")))
        t.join()
        self.assertIn("host refused the link: VERSION_MISMATCH: signature hash differs", str(out["err"]))

    def test_unexpected_type_in_place_of_hello(self):
        t, out = self.run_plugin()
        self.host.send(H.encode(H.Accept()))
        r = self.recv()
        self.assertEqual(r.code, status.PROTOCOL_VIOLATION)
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)

    def test_garbage_hello_ends_without_reject(self):
        t, out = self.run_plugin()
        self.host.send(b"PXHS\x01\x00garbage")
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)
        self.host.setblocking(False)
        with self.assertRaises(BlockingIOError):
            self.host.recv(100)

    def test_descriptors_refused_and_closed(self):
        t, out = self.run_plugin()
        r, w = os.pipe()
        self.host.sendmsg([hello()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
        os.close(r)
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)
        with self.assertRaises(BrokenPipeError):
            os.write(w, b"x")
        os.close(w)

    def test_truncated_datagram_refused(self):
        t, out = self.run_plugin()
        self.host.send(hello() + bytes(70000))
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)

    def test_host_closes(self):
        t, out = self.run_plugin()
        self.host.shutdown(socket.SHUT_WR)
        t.join()
        self.assertIsInstance(out["err"], PeerGone)

    def test_timeout(self):
        t, out = self.run_plugin(timeout=0.2)
        t.join()
        self.assertIsInstance(out["err"], HandshakeError)
        self.assertEqual(out["err"].code, status.DEADLINE_EXCEEDED)


if __name__ == "__main__":
    unittest.main()


class TestCountsCheckedFirst(unittest.TestCase):
    def test_counts_refused_before_reading(self):
        hdr = b"PXHS\x02\x00" + struct.pack("<HIIII", 2, 1, 1 << 30, 65536, 1 << 20)
        with self.assertRaisesRegex(ProtocolViolation, "1025 services"):
            H.decode(hdr + struct.pack("<H", 1025))
        with self.assertRaisesRegex(ProtocolViolation, "4097 methods"):
            H.decode(hdr + struct.pack("<H", 1) + b"\x03a.b" + struct.pack("<H", 4097))
        with self.assertRaisesRegex(ProtocolViolation, "65 versions"):
            H.decode(b"PXHS\x01\x00" + struct.pack("<HH", 2, 3) + struct.pack("<H", 0) + struct.pack("<H", 65))

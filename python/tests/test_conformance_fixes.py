"""What the session conformance suite (host/python_conformance_linux_test.go)
found missing or different in the session, driven through a fake link: a
handler's trailer, cancellation callbacks, Send held by the channel window
(not by a local buffer), the Go session's UNIMPLEMENTED reasons, and the
plugin closing the link itself."""

import io
import struct
import threading
import time
import unittest

import segbuild  # noqa: F401
from plexus import desc as D
from plexus import frames as F
from plexus import status
from plexus.handshake import Limits
from plexus.log import Logger
from plexus.service import BIDI_STREAM, SERVER_STREAM, Method, Service, method_id
from plexus.session import CHANNEL_WINDOW0, End, Session, current_call, host
from test_session import FakeLink, frame

SVC = "test.Conf"
MD, COUNT, WAIT, BLOCK = (method_id(SVC, m) for m in ("Md", "Count", "Wait", "Block"))


class Base(unittest.TestCase):
    def setUp(self):
        self.sends = []            # how many sends returned, per Count call
        self.cancelled = threading.Event()
        self.release = threading.Event()

        def md(req):
            call = current_call()
            call.set_trailer({"echo-" + k: v for k, v in call.metadata.items()} | {"body": bytes(req)})
            if req == b"fail":
                raise status.Status(status.NOT_FOUND, "nope")
            return b"ok"

        def count(req, st):
            n, size = struct.unpack("<II", bytes(req))
            for i in range(n):
                st.send(b"x" * size)
                self.sends.append(i + 1)
            st.set_trailer({"sent": str(n)})

        def wait(req):
            current_call().on_cancel(self.cancelled.set)
            self.cancelled.wait(5)
            return b"never"

        def block(req):
            self.release.wait(5)
            return b"late"

        s = Service(SVC, [
            Method("Md", 1, md),
            Method("Count", 2, count, kind=SERVER_STREAM),
            Method("Wait", 3, wait),
            Method("Block", 4, block),
            Method("Bidi", 5, lambda req, st: None, kind=BIDI_STREAM),
        ])
        methods = {method_id(SVC, m.name): (SVC, m) for m in s.methods}
        self.link = FakeLink()
        self.s = Session(self.link, methods, Limits(1 << 20, 65536, 1 << 20), Logger("test", out=io.StringIO()))

    def tearDown(self):
        self.release.set()
        self.cancelled.set()

    def feed(self, *fs):
        self.link.inbox.extend(fs)
        self.s._step()

    def pump(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.s._step()
            if pred():
                return
        self.fail("condition not reached; sent: %r" % self.link.sent[-5:])

    def sent(self, kind, channel=None):
        return [(d, p) for d, p in self.link.sent if d.kind == kind and (channel is None or d.channel == channel)]


class TestTrailer(Base):
    def test_unary_trailer_with_response_and_error(self):
        md = F.encode_metadata({"trace": b"t-1", "empty": b""})
        self.feed(frame(D.OPEN, 1, D.MSG | D.END | D.MD, md + b"body", method=MD))
        self.feed(frame(D.OPEN, 3, D.MSG | D.END, b"fail", method=MD))
        self.pump(lambda: len(self.sent(D.STATUS)) == 2)
        st = {d.channel: (d, p) for d, p in self.sent(D.STATUS)}
        d, p = st[1]
        self.assertEqual((d.aux, d.flags & (D.MSG | D.MD | D.END)), (0, D.MSG | D.MD | D.END))
        trailer, n = F.parse_metadata(p)
        self.assertEqual(trailer, {"echo-trace": b"t-1", "echo-empty": b"", "body": b"body"})
        self.assertEqual(p[n:], b"ok")
        d, p = st[3]
        self.assertEqual((d.aux, d.flags & D.MD), (status.NOT_FOUND, D.MD))
        trailer, n = F.parse_metadata(p)
        self.assertEqual(trailer, {"body": b"fail"})
        self.assertEqual(F.parse_status_body(p[n:]), ("nope", b""))

    def test_stream_trailer(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, struct.pack("<II", 3, 10), method=COUNT))
        self.pump(lambda: self.sent(D.STATUS, 1))
        [(d, p)] = self.sent(D.STATUS, 1)
        self.assertEqual((d.aux, d.flags & (D.MSG | D.MD)), (0, D.MD))
        self.assertEqual(F.parse_metadata(p), ({"sent": b"3"}, len(p)))

    def test_bad_trailer_refused(self):
        from plexus.session import Call
        c = Call(1, MD, SVC, "Md", None, {})
        with self.assertRaises(ValueError):
            c.set_trailer({"bad key": b"x"})


class TestOnCancel(Base):
    def test_runs_once_on_reset_and_at_once_after(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, b"", method=WAIT))
        self.pump(lambda: self.s.calls[1]._cancel_fns)
        call = self.s.calls[1]
        self.feed(frame(D.RESET, 1, aux=status.CANCELED))
        self.assertTrue(self.cancelled.wait(5))
        later = []
        call.on_cancel(lambda: later.append(1))
        self.assertEqual(later, [1])


class TestSendWindow(Base):
    def test_send_returns_only_within_the_window(self):
        size = 4096 - 64
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, struct.pack("<II", 100, size), method=COUNT))
        self.pump(lambda: self.s.calls[1]._send_window <= 0)
        for _ in range(50):
            self.s._step()
        # As Go's Send: at most one frame past the window.
        self.assertLessEqual(len(self.sends), CHANNEL_WINDOW0 // 4096 + 1)
        self.assertEqual(len(self.sent(D.DATA, 1)), len(self.sends))
        self.feed(frame(D.CREDIT, 1, credit=1 << 20))
        self.pump(lambda: self.sent(D.STATUS, 1))
        self.assertEqual(len(self.sends), 100)


class TestUnknown(Base):
    def test_go_reasons(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, b"x", method=method_id(SVC, "Missing")),
                  frame(D.OPEN, 3, D.MSG | D.END, b"x", method=method_id("no.Such", "M")))
        resets = {d.channel: (d.aux, p.decode()) for d, p in self.sent(D.RESET)}
        self.assertEqual(resets[1][0], status.UNIMPLEMENTED)
        self.assertTrue(resets[1][1].startswith("unknown method %#x of service %s (it has " % (method_id(SVC, "Missing"), SVC)),
                        resets[1][1])
        self.assertIn("Md", resets[1][1])
        self.assertEqual(resets[3][0], status.UNIMPLEMENTED)
        self.assertTrue(resets[3][1].startswith("unknown service"), resets[3][1])
        self.assertIn(SVC, resets[3][1])


class TestClose(Base):
    def test_close_sends_nothing_and_ends(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, b"", method=BLOCK))
        self.pump(lambda: self.s.running == 1)
        before = len(self.link.sent)
        host().close()
        with self.assertRaises(End) as e:
            for _ in range(1000):
                self.s._step()
        self.assertEqual(e.exception.kind, "closed")
        self.assertTrue(self.link.down)
        self.assertEqual(self.link.sent[before:], [])

    def test_run_cancels_handlers_without_a_status(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, b"", method=WAIT))
        self.pump(lambda: self.s.calls[1]._cancel_fns)
        host().close()
        end = self.s.run()
        self.assertEqual(end.kind, "closed")
        self.assertTrue(self.cancelled.wait(5))
        self.assertEqual(self.sent(D.STATUS), [])

    def test_close_fails_own_calls_not_sent(self):
        got = []
        ready = threading.Event()

        def call():
            ready.set()
            try:
                host().invoke(method_id("test.Host", "M"), b"x")
            except status.Status as e:
                got.append(e.code)

        t = threading.Thread(target=call, daemon=True)
        t.start()
        ready.wait(5)
        self.pump(lambda: any(o.desc.kind == D.OPEN for o in self.s.out) or self.sent(D.OPEN))
        host().close()
        end = self.s.run()
        self.assertEqual(end.kind, "closed")
        t.join(5)
        self.assertEqual(len(got), 1)
        self.assertNotEqual(got[0], status.OK)


if __name__ == "__main__":
    unittest.main()

"""Streams, notifications, calls to the host and flow control in the
session (SPEC.md "Calls", "Channel states", "Flow control"), driven
through a fake link."""

import io
import struct
import threading
import time
import unittest

import segbuild  # noqa: F401
from plexus import desc as D
from plexus import frames as F
from plexus import status
from plexus.errors import ProtocolViolation
from plexus.handshake import Limits
from plexus.log import Logger
from plexus.service import BIDI_STREAM, CLIENT_STREAM, NOTIFICATION, SERVER_STREAM, Method, Service, method_id
from plexus.session import CHANNEL_WINDOW0, Session, current_call, host
from test_session import FakeLink, frame

SVC = "test.Streams"
COUNT, SUM, ECHO, NOTE, GATED, UNARY = (method_id(SVC, m) for m in ("Count", "Sum", "Echo", "Note", "Gated", "Unary"))
HOST_M = method_id("test.Host", "M")


class Base(unittest.TestCase):
    def setUp(self):
        self.notes = []
        self.gate = threading.Event()
        self.got = []

        def count(req, st):
            n, size = struct.unpack("<II", bytes(req))
            for i in range(n):
                st.send(bytes([i % 256]) * size)

        def sum_(req, st):
            total = 0
            for m in st:
                total += len(m)
            return struct.pack("<Q", total)

        def echo(req, st):
            for m in st:
                st.send(m)

        def gated(req, st):
            self.gate.wait(5)
            for m in st:
                self.got.append(bytes(m))

        def note(msg):
            self.notes.append((bytes(msg), dict(current_call().metadata)))

        s = Service(SVC, [
            Method("Count", 1, count, kind=SERVER_STREAM),
            Method("Sum", 2, sum_, kind=CLIENT_STREAM),
            Method("Echo", 3, echo, kind=BIDI_STREAM),
            Method("Note", 4, note, kind=NOTIFICATION),
            Method("Gated", 5, gated, kind=CLIENT_STREAM),
            Method("Unary", 6, lambda req: b"u"),
        ])
        methods = {method_id(SVC, m.name): (SVC, m) for m in s.methods}
        self.link = FakeLink()
        self.s = Session(self.link, methods, Limits(1 << 30, 65536, 1 << 20), Logger("test", out=io.StringIO()))

    def tearDown(self):
        self.gate.set()

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

    def cost(self, kind, channel):
        return sum(len(p) + 64 for d, p in self.sent(kind, channel))


class TestStreams(Base):
    def test_server_stream_respects_the_window(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, struct.pack("<II", 200, 1000), method=COUNT))
        self.pump(lambda: self.s.calls[1]._send_window <= 0)
        for _ in range(20):
            self.s._step()
        sent = self.cost(D.DATA, 1)
        self.assertLessEqual(sent, CHANNEL_WINDOW0 + 1064, "no frame once the window is spent")
        self.assertGreater(sent, CHANNEL_WINDOW0 - 1064)
        self.assertEqual(self.sent(D.STATUS, 1), [])
        grants = 0
        while not self.sent(D.STATUS, 1):
            self.feed(frame(D.CREDIT, 1, credit=32768))
            grants += 32768
            self.pump(lambda: self.s.calls.get(1) is None or self.s.calls[1]._send_window <= 0)
            self.assertLessEqual(self.cost(D.DATA, 1) + self.cost(D.STATUS, 1), CHANNEL_WINDOW0 + grants + 1064)
            self.assertLess(grants, 1 << 20)
        data = self.sent(D.DATA, 1)
        self.assertEqual(len(data), 200)
        self.assertEqual([p[0] for _, p in data], [i % 256 for i in range(200)])
        [(d, p)] = self.sent(D.STATUS, 1)
        self.assertEqual((d.aux, d.flags & D.MSG, p), (0, 0, b""))

    def test_client_stream_credit_follows_consumption(self):
        self.feed(frame(D.OPEN, 1, D.MSG, b"args", method=GATED))
        for i in range(40):
            self.feed(frame(D.DATA, 1, D.MSG, bytes([i]) * 1000))
        self.assertEqual(self.sent(D.CREDIT, 1), [], "nothing consumed, no credit")
        self.gate.set()
        self.pump(lambda: len(self.got) == 40 and self.sent(D.CREDIT, 1))
        granted = sum(d.credit for d, _ in self.sent(D.CREDIT, 1))
        self.assertGreaterEqual(granted, 32768)
        self.assertLessEqual(granted, 40 * 1064)
        self.feed(frame(D.DATA, 1, D.END))
        self.pump(lambda: self.sent(D.STATUS, 1))
        self.assertEqual(self.got, [bytes([i]) * 1000 for i in range(40)])

    def test_client_stream_result_before_status(self):
        self.feed(frame(D.OPEN, 1, D.MSG, b"args", method=SUM))
        self.feed(frame(D.DATA, 1, D.MSG, b"abc"), frame(D.DATA, 1, D.MSG | D.END, b"defg"))
        self.pump(lambda: self.sent(D.STATUS, 1))
        kinds = [(d.kind, p) for d, p in self.link.sent if d.channel == 1 and d.kind in (D.DATA, D.STATUS)]
        self.assertEqual(kinds, [(D.DATA, struct.pack("<Q", 7)), (D.STATUS, b"")])

    def test_bidi_packed_records(self):
        self.feed(frame(D.OPEN, 1, D.MSG, b"args", method=ECHO))
        recs = [b"", b"a", b"bc" * 100]
        packed = b"".join(struct.pack("<H", len(r)) + r for r in recs)
        self.feed(frame(D.DATA, 1, D.MSG | D.PACKED, packed), frame(D.DATA, 1, D.END))
        self.pump(lambda: self.sent(D.STATUS, 1))
        self.assertEqual([p for _, p in self.sent(D.DATA, 1)], recs)

    def test_data_beyond_the_window_is_a_violation(self):
        self.feed(frame(D.OPEN, 1, D.MSG, b"args", method=GATED))
        with self.assertRaises(ProtocolViolation):
            for i in range(70):
                self.feed(frame(D.DATA, 1, D.MSG, b"x" * 1000))

    def test_frames_after_end(self):
        for fs in ([frame(D.OPEN, 1, D.MSG, b"a", method=ECHO), frame(D.DATA, 1, D.END), frame(D.DATA, 1, D.MSG, b"x")],
                   [frame(D.OPEN, 1, D.MSG | D.END, b"a", method=GATED), frame(D.DATA, 1, D.END)],
                   [frame(D.OPEN, 1, D.MSG, b"a", method=ECHO), frame(D.STATUS, 1)]):
            with self.subTest(fs):
                self.setUp()
                with self.assertRaises(ProtocolViolation):
                    self.feed(*fs)

    def test_credit_overflow_is_harmless(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, struct.pack("<II", 10, 10), method=COUNT))
        for _ in range(1000):
            self.link.inbox.append(frame(D.CREDIT, 1, credit=0xFFFFFFFF))
            self.link.inbox.append(frame(D.CREDIT, 0, credit=0xFFFFFFFF))
        self.s._step()
        self.pump(lambda: self.sent(D.STATUS, 1))
        self.assertEqual(len(self.sent(D.DATA, 1)), 10)
        self.feed(frame(D.OPEN, 3, D.MSG | D.END, b"x", method=UNARY))
        self.pump(lambda: self.sent(D.STATUS, 3))

    def test_reset_cancels_a_stream_and_drops_its_frames(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, struct.pack("<II", 1000, 1000), method=COUNT))
        self.pump(lambda: self.s.calls[1]._send_window <= 0)
        self.feed(frame(D.RESET, 1, aux=status.CANCELED))
        self.pump(lambda: self.s.running == 0)
        n = len(self.sent(D.DATA, 1))
        self.feed(frame(D.CREDIT, 1, credit=1 << 20))
        for _ in range(5):
            self.s._step()
        self.assertEqual(len(self.sent(D.DATA, 1)), n, "nothing after the RESET")
        self.assertEqual(self.sent(D.STATUS, 1), [])
        self.assertEqual(self.s.out, [])

    def test_stream_deadline(self):
        self.feed(frame(D.OPEN, 1, D.MSG, b"a", method=GATED, aux=50_000_000))
        self.pump(lambda: self.sent(D.STATUS, 1))
        [(d, _)] = self.sent(D.STATUS, 1)
        self.assertEqual(d.aux, status.DEADLINE_EXCEEDED)


class TestNotifications(Base):
    def test_in_order_with_metadata(self):
        md = F.encode_metadata({"k": b"v"})
        for i in range(50):
            self.link.inbox.append(frame(D.NOTIFY, 0, D.MSG | D.MD, md + bytes([i]), method=NOTE))
        self.s._step()
        self.pump(lambda: len(self.notes) == 50 and self.s.notes_queued == 0)
        self.assertEqual(self.notes, [(bytes([i]), {"k": b"v"}) for i in range(50)])

    def test_dropped(self):
        self.feed(frame(D.NOTIFY, 0, D.MSG, b"x", method=UNARY), frame(D.NOTIFY, 0, D.MSG, b"x", method=12345))
        self.assertEqual(self.notes, [])
        self.assertEqual(self.s.notes_queued, 0)

    def test_notification_method_refuses_calls(self):
        self.feed(frame(D.OPEN, 1, D.MSG | D.END, b"x", method=NOTE))
        [(d, _)] = self.sent(D.RESET, 1)
        self.assertEqual(d.aux, status.UNIMPLEMENTED)

    def test_send(self):
        host().notify(HOST_M, b"hi", {"a": b"b"})
        self.s._step()
        [(d, p)] = self.sent(D.NOTIFY)
        self.assertEqual((d.channel, d.method, d.flags & 0xF0), (0, HOST_M, D.MSG | D.MD))
        md, n = F.parse_metadata(p)
        self.assertEqual((md, p[n:]), ({"a": b"b"}, b"hi"))


class TestCallsToHost(Base):
    def invoke(self, *args, **kw):
        box = {}

        def run():
            try:
                box["r"] = host().invoke(*args, **kw)
            except status.Status as e:
                box["e"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return box, t

    def test_unary(self):
        box, t = self.invoke(HOST_M, b"req")
        self.pump(lambda: self.sent(D.OPEN))
        [(d, p)] = self.sent(D.OPEN)
        self.assertEqual((d.channel, d.method, d.flags & 0xF0, p), (2, HOST_M, D.MSG | D.END, b"req"))
        self.feed(frame(D.STATUS, 2, D.MSG | D.END, b"resp"))
        t.join(5)
        self.assertEqual(box, {"r": b"resp"})
        box, t = self.invoke(HOST_M, b"again")
        self.pump(lambda: len(self.sent(D.OPEN)) == 2)
        self.assertEqual(self.sent(D.OPEN)[1][0].channel, 4, "own channels go up by 2")
        self.feed(frame(D.STATUS, 4, D.END, F.encode_status_body("nope", b"det"), aux=status.NOT_FOUND))
        t.join(5)
        e = box["e"]
        self.assertEqual((e.code, e.message, e.details), (status.NOT_FOUND, "nope", b"det"))
        # Frames for the finished channel are ignored; one never opened is not.
        self.feed(frame(D.DATA, 4, D.MSG, b"late"))
        with self.assertRaises(ProtocolViolation):
            self.feed(frame(D.DATA, 6, D.MSG, b"x"))

    def test_deadline(self):
        box, t = self.invoke(HOST_M, b"req", timeout=0.05)
        self.pump(lambda: self.sent(D.OPEN))
        self.assertGreater(self.sent(D.OPEN)[0][0].aux, 0)
        self.pump(lambda: self.sent(D.RESET, 2))
        t.join(5)
        self.assertEqual(box["e"].code, status.DEADLINE_EXCEEDED)

    def test_server_stream_credit(self):
        st = host().stream(HOST_M, b"args", close_send=True)
        self.pump(lambda: self.sent(D.OPEN))
        for i in range(60):
            self.feed(frame(D.DATA, 2, D.MSG, bytes([i]) * 1000))
        self.feed(frame(D.STATUS, 2, D.END))
        got = []
        end = time.monotonic() + 5

        def read():
            for m in st:
                got.append(bytes(m))
        t = threading.Thread(target=read, daemon=True)
        t.start()
        while t.is_alive() and time.monotonic() < end:
            self.s._step()
        self.assertEqual(got, [bytes([i]) * 1000 for i in range(60)])
        self.assertEqual(st.code, status.OK)
        # Credit went back while the host's STATUS had not been read yet
        # at most: none after the call ended.
        self.assertLessEqual(sum(d.credit for d, _ in self.sent(D.CREDIT, 2)), 60 * 1064)


if __name__ == "__main__":
    unittest.main()

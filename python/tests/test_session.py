import io
import time
import unittest

import segbuild  # noqa: F401
from plexus import desc as D
from plexus import frames as F
from plexus import status
from plexus.errors import ProtocolViolation
from plexus.handshake import Limits
from plexus.link import SENT, Frame
from plexus.log import Logger
from plexus.service import SHUTDOWN_ID, Method, Service, method_id
from plexus.session import End, Session, current_call

SVC = "test.Svc"
ECHO, FAIL, BOOM, SLOW, NOPE = (method_id(SVC, m) for m in ("Echo", "Fail", "Boom", "Slow", "Nope"))


class FakeLink:
    """Records what the session sends; hands it the frames a test queues."""

    def __init__(self):
        self.inbox = []
        self.sent = []
        self.gone = False
        self.max_payload = 1 << 20
        self.down = False

    def receive(self):
        got, self.inbox = self.inbox, []
        return got

    def try_send(self, d, payload):
        self.sent.append((D.Desc.unpack(d.pack()), bytes(payload)))
        d.length = len(payload)
        return SENT

    def publish(self):
        pass

    def wait(self, timeout, want, extra_fd=-1):
        time.sleep(0.001)
        return False

    def shutdown(self):
        self.down = True


def slow(req):
    call = current_call()
    call.wait_cancelled(5)
    return b"late"


def services():
    s = Service(SVC, [
        Method("Echo", 1, lambda req: bytes(req)),
        Method("Fail", 2, lambda req: (_ for _ in ()).throw(status.Status(status.NOT_FOUND, "no such key", b"\x01"))),
        Method("Boom", 3, lambda req: 1 / 0),
        Method("Slow", 4, slow),
        Method("Nope", 5),
    ])
    return {method_id(SVC, m.name): (SVC, m) for m in s.methods}


def frame(kind, channel=0, flags=0, payload=b"", **kw):
    d = D.Desc(channel=channel, kind=kind, flags=flags, length=len(payload), **kw)
    return Frame(d, payload)


class Base(unittest.TestCase):
    def setUp(self, limits=Limits(1 << 20, 65536, 1 << 20)):
        self.link = FakeLink()
        self.s = Session(self.link, services(), limits, Logger("test", out=io.StringIO()))

    def feed(self, *frames_):
        self.link.inbox.extend(frames_)
        self.s._step()

    def pump(self, pred, timeout=3.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.s._step()
            if pred():
                return
        self.fail("condition not reached; sent: %r" % self.link.sent)

    def sent(self, kind):
        return [(d, p) for d, p in self.link.sent if d.kind == kind]

    def call(self, ch, mid, payload=b"req", flags=D.MSG | D.END, **kw):
        return frame(D.OPEN, ch, flags, payload, method=mid, **kw)


class TestCalls(Base):
    def test_unary_echo(self):
        self.feed(self.call(1, ECHO, b"hello"))
        self.pump(lambda: self.sent(D.STATUS))
        [(d, p)] = self.sent(D.STATUS)
        self.assertEqual((d.channel, d.aux, d.flags & 0xF0), (1, 0, D.MSG | D.END))
        self.assertEqual(p, b"hello")
        self.assertNotIn(1, self.s.calls)

    def test_statuses(self):
        self.feed(self.call(1, FAIL), self.call(3, BOOM), self.call(5, NOPE), self.call(7, ECHO, b"", flags=D.END),
                  self.call(9, method_id(SVC, "Missing")), self.call(11, method_id("other.Svc", "X")))
        self.pump(lambda: len(self.sent(D.STATUS)) == 4)
        st = {d.channel: (d.aux, F.parse_status_body(p)) for d, p in self.sent(D.STATUS)}
        self.assertEqual(st[1], (status.NOT_FOUND, ("no such key", b"\x01")))
        self.assertEqual(st[3][0], status.UNKNOWN)
        self.assertIn("ZeroDivisionError", st[3][1][0])
        self.assertEqual(st[5][0], status.UNIMPLEMENTED)
        self.assertEqual(st[7][0], status.INVALID_ARGUMENT)
        resets = {d.channel: d.aux for d, _ in self.sent(D.RESET)}
        self.assertEqual(resets, {9: status.UNIMPLEMENTED, 11: status.UNIMPLEMENTED})

    def test_shutdown(self):
        self.feed(self.call(1, SHUTDOWN_ID, b""))
        [(d, p)] = self.sent(D.STATUS)
        self.assertEqual((d.aux, d.flags & D.MSG, p), (0, D.MSG, b""))
        self.assertTrue(self.s.closing)
        self.link.gone = True
        with self.assertRaises(End) as cm:
            self.s._step()
        self.assertEqual(cm.exception.kind, "closed")

    def test_end_of_file_without_notice(self):
        self.link.gone = True
        with self.assertRaises(End) as cm:
            self.s._step()
        self.assertEqual(cm.exception.kind, "peer_died")

    def test_ping(self):
        self.feed(frame(D.PING, aux=0xDEADBEEF))
        [(d, _)] = self.sent(D.PONG)
        self.assertEqual(d.aux, 0xDEADBEEF)

    def test_deadline(self):
        self.feed(self.call(1, SLOW, aux=50_000_000))
        t0 = time.monotonic()
        self.pump(lambda: self.sent(D.STATUS))
        self.assertLess(time.monotonic() - t0, 2)
        [(d, _)] = self.sent(D.STATUS)
        self.assertEqual(d.aux, status.DEADLINE_EXCEEDED)
        self.pump(lambda: self.s.running == 0)  # the handler saw the cancellation
        self.assertEqual(len(self.sent(D.STATUS)), 1, "its late answer goes nowhere")

    def test_reset_cancels(self):
        self.feed(self.call(1, SLOW))
        self.feed(frame(D.RESET, 1, aux=status.CANCELED))
        self.pump(lambda: self.s.running == 0)
        self.assertEqual(self.sent(D.STATUS), [])

    def test_reset_of_link(self):
        with self.assertRaises(End) as cm:
            self.feed(frame(D.RESET, 0, payload=b"bye", aux=status.PROTOCOL_VIOLATION))
        self.assertEqual(cm.exception.kind, "reset")
        self.assertIn("PROTOCOL_VIOLATION: bye", cm.exception.message)

    def test_finished_channels_ignored(self):
        self.feed(self.call(1, ECHO, b"x"))
        self.pump(lambda: self.sent(D.STATUS))
        self.feed(frame(D.DATA, 1, D.MSG, b"late"), frame(D.CREDIT, 1, credit=5), frame(D.RESET, 1, aux=1),
                  frame(D.STATUS, 1, aux=0))

    def test_link_credit_given_back(self):
        big = b"x" * 60000
        for i in range(9):
            self.feed(self.call(2 * i + 1, ECHO, big))
        credits = [d for d, _ in self.sent(D.CREDIT) if d.channel == 0]
        self.assertEqual(len(credits), 1)
        self.assertGreaterEqual(credits[0].credit, 1 << 19)
        self.pump(lambda: len(self.sent(D.STATUS)) == 9)

    def test_send_waits_for_link_window(self):
        self.s.link_send = 0
        self.feed(self.call(1, ECHO, b"x"))
        time.sleep(0.05)
        self.s._step()
        self.s._step()
        self.assertEqual(self.sent(D.STATUS), [])
        self.feed(frame(D.CREDIT, 0, credit=100))
        self.pump(lambda: self.sent(D.STATUS))

    def test_notify_dropped(self):
        self.feed(frame(D.NOTIFY, 0, D.MSG, b"n", method=ECHO))
        self.assertEqual(self.link.sent, [])


class TestWindows(Base):
    def setUp(self):
        super().setUp(Limits(1 << 20, 256 << 10, 4 << 20))

    def test_initial_grants(self):
        self.s.start()
        [(d, _)] = self.sent(D.CREDIT)
        self.assertEqual((d.channel, d.credit), (0, 3 << 20))
        self.feed(self.call(1, SLOW, flags=D.MSG))  # a channel left open: its window is granted
        grants = [(d.channel, d.credit) for d, _ in self.sent(D.CREDIT)]
        self.assertIn((1, (256 << 10) - 65536), grants)
        self.feed(frame(D.RESET, 1, aux=status.CANCELED))
        self.pump(lambda: self.s.running == 0)


class TestViolations(Base):
    def refused(self, *frames_, prep=None):
        if prep:
            prep()
        with self.assertRaises(ProtocolViolation):
            self.feed(*frames_)

    def test_violations(self):
        cases = {
            "kind 0": [frame(0)],
            "kind 10": [frame(10)],
            "kind 255": [frame(255)],
            "PACKED on OPEN": [self.call(1, ECHO, flags=D.MSG | D.PACKED)],
            "PACKED without MSG": [self.call(1, ECHO, flags=D.MSG), frame(D.DATA, 1, D.PACKED | D.END, b"\x00\x00")],
            "PACKED with MD": [self.call(1, ECHO, flags=D.MSG), frame(D.DATA, 1, D.PACKED | D.MSG | D.MD, b"\x00\x00\x00\x00")],
            "NOTIFY on a channel": [frame(D.NOTIFY, 3, D.MSG, b"x")],
            "PING on a channel": [frame(D.PING, 1)],
            "PONG on a channel": [frame(D.PONG, 1)],
            "GOAWAY on a channel": [frame(D.GOAWAY, 1)],
            "OPEN on channel 0": [self.call(0, ECHO)],
            "DATA on channel 0": [frame(D.DATA, 0, D.MSG, b"x")],
            "STATUS on channel 0": [frame(D.STATUS, 0)],
            "OPEN of the acceptor's parity": [self.call(2, ECHO)],
            "OPEN not above the last": [self.call(5, ECHO), self.call(3, ECHO)],
            "OPEN repeated": [self.call(1, ECHO), self.call(1, ECHO)],
            "DATA above the highest opened": [frame(D.DATA, 5, D.MSG, b"x")],
            "CREDIT above the highest opened": [frame(D.CREDIT, 7, credit=1)],
            "RESET above the highest opened": [frame(D.RESET, 9, aux=1)],
            "DATA on a channel this side never opened": [frame(D.DATA, 2, D.MSG, b"x")],
            "STATUS on a channel this side never opened": [frame(D.STATUS, 4)],
            "DATA without MSG or END": [self.call(1, SLOW, flags=D.MSG), frame(D.DATA, 1, 0)],
            "DATA after END": [self.call(1, SLOW), frame(D.DATA, 1, D.MSG, b"x")],
            "DATA after END on DATA": [self.call(1, SLOW, flags=D.MSG), frame(D.DATA, 1, D.END), frame(D.DATA, 1, D.END)],
            "STATUS on an open channel the host opened": [self.call(1, SLOW), frame(D.STATUS, 1)],
            "malformed metadata on OPEN": [self.call(1, ECHO, b"\x41\x00", flags=D.MSG | D.END | D.MD)],
            "malformed metadata on NOTIFY": [frame(D.NOTIFY, 0, D.MSG | D.MD, b"\x01\x00\x05\x00ab")],
            "malformed packed": [self.call(1, SLOW, flags=D.MSG), frame(D.DATA, 1, D.MSG | D.PACKED, b"\x05\x00ab")],
            "malformed status body": [self.call(1, ECHO, b"x"), frame(D.STATUS, 1, aux=3, payload=b"\x09\x00\x00\x00ab")],
        }
        for name, fs in cases.items():
            with self.subTest(name):
                self.setUp()
                if name == "malformed status body":
                    self.feed(fs[0])
                    self.pump(lambda: self.sent(D.STATUS))
                    fs = fs[1:]
                self.refused(*fs)

    def test_channel_window_exhausted(self):
        self.feed(self.call(1, SLOW, flags=D.MSG))
        self.s.calls[1]._recv_view = 0
        self.refused(frame(D.DATA, 1, D.MSG, b"x"))
        self.s.calls[1]._cancel_with(1)

    def test_link_window_exhausted(self):
        self.s.link_recv = 0
        self.refused(self.call(1, ECHO))

    def test_violation_resets_link(self):
        self.link.inbox.append(frame(0))
        end = self.s.run()
        self.assertEqual(end.kind, "violation")
        resets = self.sent(D.RESET)
        self.assertEqual(resets[-1][0].channel, 0)
        self.assertEqual(resets[-1][0].aux, status.PROTOCOL_VIOLATION)
        self.assertTrue(self.link.down, "end of file for the host")


if __name__ == "__main__":
    unittest.main()

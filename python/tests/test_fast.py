"""The unary fast path (Session._fast): a plain OPEN taken straight from the
ring, its OK STATUS packed straight into the producer ring, with the
general path's checks and accounting; anything else left to the general
path; hostile descriptors of the fast shape fail the link through it."""

import io
import os
import struct
import threading
import time
import unittest

import segbuild  # noqa: F401
from test_link import Case, MAXP

from plexus import desc as D
from plexus import session as S
from plexus import status
from plexus.errors import ProtocolViolation
from plexus.handshake import Limits
from plexus.log import Logger
from plexus.pool import Pool
from plexus.service import Method, Service, method_id

SVC = "test.Fast"


def _fail(req):
    raise status.Status(status.NOT_FOUND, "no such key")


SERVICE = Service(SVC, [
    Method("Echo", 1, lambda req: bytes(req)),
    Method("View", 2, lambda req: memoryview(req)),  # a view of the request
    Method("Fail", 3, _fail),
    Method("Who", 4, lambda req: S.current_call().method.encode()),
])
METHODS = {method_id(SVC, m.name): (SVC, m) for m in SERVICE.methods}
ECHO, VIEW, FAIL, WHO = (method_id(SVC, n) for n in ("Echo", "View", "Fail", "Who"))


class FastCase(Case):
    def session(self, f):
        """A session over f's link, set up as run() sets it up on the loop's
        thread (the loop lock held, a standby counted ready), not running."""
        s = S.Session(f.link, METHODS, Limits(MAXP, 65536, 1 << 20), Logger("test", out=io.StringIO()))
        s._inline_ok = True
        s._fast_ok = True
        s._fast_methods = {mid: e for mid, e in METHODS.items()}
        s._standby_ready = True
        s._gate_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.addCleanup(os.close, s._gate_fd)
        self.addCleanup(os.close, s.wake_fd)
        s._loop_lock.acquire()
        return s

    def inline_open(self, ch, mid, payload, **kw):
        d = D.Desc(channel=ch, kind=D.OPEN, flags=D.MSG | D.END, method=mid)
        D.set_inline(d, payload)
        for k, v in kw.items():
            setattr(d, k, v)
        return d

    def replies(self, f):
        n = f.rx.available()
        if not n:
            return []
        raws, _ = f.rx.take(n)
        return [D.Desc.unpack(r) for r in raws]

    def plugin_pool(self, f):
        L = f.link.seg.layout
        return Pool(f.mm, f.link.at, L.pool_plugin, L.pool_plugin_size, "plugin")


class TestFastPath(FastCase):
    def test_inline_call_inline_reply(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, ECHO, b"abc"))
        self.assertIs(s._fast(), True)
        self.assertEqual(f.link.pending(), 0)
        [d] = self.replies(f)
        self.assertEqual((d.channel, d.kind, d.flags, d.aux, d.reserved), (1, D.STATUS, D.END | D.MSG | D.INLINE, 0, 0))
        self.assertEqual(d.inline_payload(), b"abc")
        self.assertEqual((s.calls, s.running, s.highest_peer), ({}, 0, 1))

    def test_empty_response(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, ECHO, b""))
        self.assertIs(s._fast(), True)
        [d] = self.replies(f)
        self.assertEqual((d.flags, d.length, d.placement()), (D.END | D.MSG, 0, bytes(28)))

    def test_current_call_is_set(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, WHO, b"x"))
        self.assertIs(s._fast(), True)
        [d] = self.replies(f)
        self.assertEqual(d.inline_payload(), b"Who")

    def test_slot_call_slot_reply_frees_the_request_slot(self):
        f = self.fixture()
        s = self.session(f)
        payload = bytes(range(200))
        d = f.slot_frame(payload, method=VIEW)  # the response is a view of the request
        f.send(d)
        self.assertIs(s._fast(), True)
        # The request's slot is free again (generation moved on to even).
        self.assertEqual(f.link.at.load32(f.pool._gen(d.slot)), (d.gen + 1) & 0xFFFFFFFF)
        self.assertEqual(f.link.held, set())
        [r] = self.replies(f)
        self.assertEqual((r.kind, r.flags, r.length, r.offset, r.inline), (D.STATUS, D.END | D.MSG | D.SLOT, 200, 0, bytes(16)))
        pp = self.plugin_pool(f)
        off = pp.resolve(r.slot, r.gen, 0, r.length)
        self.assertEqual(bytes(f.mm[off:off + r.length]), payload)

    def test_accounting_matches_the_general_path(self):
        """The same calls through the fast path and through the general path
        leave the same windows and channel state."""
        got = []
        for fast in (True, False):
            f = self.fixture()
            s = self.session(f)
            s._fast_ok = fast
            for i, ch in enumerate(range(1, 40, 2)):
                f.send(self.inline_open(ch, ECHO, b"%d" % i) if i % 2 else f.slot_frame(b"y" * (40 + i), method=ECHO, channel=ch))
                s._step()
                for d in self.replies(f):
                    self.assertEqual((d.channel, d.kind, d.aux), (ch, D.STATUS, 0))
            got.append((s.link_recv, s.link_send, s.link_pending, s.highest_peer, s.running, s.calls,
                        f.link.held, f.link.tx.tail, len(s.ctl_out), len(s.out)))
        self.assertEqual(got[0], got[1])

    def test_link_credit_is_granted_as_in_the_general_path(self):
        f = self.fixture()
        s = self.session(f)
        s.link_window = 4 * 1024  # a grant every 2 KiB consumed
        big = b"z" * 1000
        ds = []
        for ch in range(1, 12, 2):
            f.send(f.slot_frame(big, method=ECHO, channel=ch))
            self.assertIs(s._fast(), True)
            ds += self.replies(f)
        credits = [d for d in ds if d.kind == D.CREDIT]
        self.assertTrue(credits, "no link CREDIT was sent")
        self.assertTrue(all(d.channel == 0 for d in credits))
        self.assertEqual(len([d for d in ds if d.kind == D.STATUS]), 6)

    def test_failure_takes_the_general_path(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, FAIL, b"x"))
        self.assertIs(s._fast(), True)
        [d] = self.replies(f)
        self.assertEqual((d.kind, d.aux), (D.STATUS, status.NOT_FOUND))
        self.assertEqual(s.running, 0)

    def test_not_plain_is_left_to_the_general_path(self):
        cases = {
            "metadata": dict(flags=D.MSG | D.END | D.MD | D.INLINE),
            "deadline": dict(aux=1_000_000_000),
            "not END": dict(flags=D.MSG | D.INLINE),
            "no MSG": dict(flags=D.END | D.INLINE),
            "unknown method": dict(method=12345),
            "bit 3": dict(flags=D.MSG | D.END | D.INLINE | D.BIT3),
            "even channel": dict(channel=2),
        }
        for name, kw in cases.items():
            with self.subTest(name):
                f = self.fixture()
                s = self.session(f)
                f.send(self.inline_open(1, ECHO, b"q", **kw))
                self.assertIsNone(s._fast())
                self.assertEqual(f.link.rx.head, 0, "the fast path took a descriptor it left")
                self.assertEqual(s.highest_peer, 0)

    def test_two_waiting_is_left_to_the_general_path(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, ECHO, b"a"))
        f.send(self.inline_open(3, ECHO, b"b"))
        self.assertIsNone(s._fast())
        self.assertEqual(f.link.rx.head, 0)

    def test_channel_not_above_the_last_fails_through_the_general_path(self):
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(3, ECHO, b"a"))
        self.assertIs(s._fast(), True)
        self.replies(f)
        f.send(self.inline_open(1, ECHO, b"b"))
        self.assertIsNone(s._fast())
        with self.assertRaises(ProtocolViolation):
            s._step()


class TestFastHostile(FastCase):
    """Descriptors of the fast shape with bad fields: a ProtocolViolation
    from the fast path itself."""

    def check_violation(self, f, s, d, needle):
        f.send(d)
        with self.assertRaises(ProtocolViolation) as cm:
            s._fast()
        self.assertIn(needle, str(cm.exception))
        self.assertEqual(s.running, 0)
        self.assertEqual(s.calls, {})

    def test_reserved_is_the_rings(self):
        """Over shared memory the reserved field is where the ring stamps
        (SPEC.md "Ring"): what the host writes there never arrives, and the
        call is answered."""
        f = self.fixture()
        s = self.session(f)
        f.send(self.inline_open(1, ECHO, b"a", reserved=7))
        self.assertIs(s._fast(), True)
        [d] = self.replies(f)
        self.assertEqual((d.channel, d.reserved, d.inline_payload()), (1, 0, b"a"))

    def test_inline_too_long(self):
        f = self.fixture()
        self.check_violation(f, self.session(f), self.inline_open(1, ECHO, b"a", length=29), "inline payload of 29")

    def test_above_max_payload(self):
        f = self.fixture()
        d = f.slot_frame(b"x" * 100, method=ECHO)
        d.length = MAXP + 1
        self.check_violation(f, self.session(f), d, "above the maximum")

    def test_stale_generation(self):
        f = self.fixture()
        d = f.slot_frame(b"x" * 100, method=ECHO)
        d.gen += 2
        self.check_violation(f, self.session(f), d, "stale")

    def test_even_generation(self):
        f = self.fixture()
        d = f.slot_frame(b"x" * 100, method=ECHO)
        d.gen += 1
        self.check_violation(f, self.session(f), d, "even generation")

    def test_slot_out_of_range(self):
        f = self.fixture()
        d = f.slot_frame(b"x" * 100, method=ECHO)
        d.slot = 1 << 30
        self.check_violation(f, self.session(f), d, "slot")

    def test_past_the_slot(self):
        f = self.fixture()
        d = f.slot_frame(b"x" * 100, method=ECHO)
        d.offset = 1 << 20
        self.check_violation(f, self.session(f), d, "past its")

    def test_slot_named_while_held(self):
        f = self.fixture()
        s = self.session(f)
        d = f.slot_frame(b"x" * 100, method=ECHO)
        f.link.held.add(d.slot)  # as if a frame still held it
        self.check_violation(f, s, d, "named again")

    def test_hostile_tail(self):
        """The tail is a figure: one far past the capacity shows nothing."""
        f = self.fixture()
        s = self.session(f)
        f.link.at.store64(f.link.rx.off, 1 << 40)
        self.assertIsNone(s._fast())
        self.assertEqual(f.link.receive(), [])


class TestFastRunning(FastCase):
    """The fast path in a running session: calls answered; a hostile
    descriptor ends the link with a RESET PROTOCOL_VIOLATION."""

    def start(self, f):
        s = S.Session(f.link, METHODS, Limits(MAXP, 65536, 1 << 20), Logger("test", out=io.StringIO()))
        ended = []
        t = threading.Thread(target=lambda: ended.append(s.run()), daemon=True)
        t.start()
        end = time.monotonic() + 5
        while not s._standby_ready and time.monotonic() < end:
            time.sleep(0.001)  # bounded: until the standby is up
        self.assertTrue(s._fast_ok)
        return s, t, ended

    def send(self, f, d):
        f.tx.write(d.pack())
        if f.tx.publish():
            os.eventfd_write(f.fds[1], 1)  # the host rings a parked plugin

    def wait_replies(self, f, n, timeout=5.0):
        out = []
        end = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < end:
            out += self.replies(f)
            time.sleep(0.0005)  # bounded poll of the host's ring
        return out

    def test_calls_then_hostile(self):
        f = self.fixture()
        s, t, ended = self.start(f)
        for ch in (1, 3, 5):
            self.send(f, self.inline_open(ch, ECHO, b"n%d" % ch))
            [d] = self.wait_replies(f, 1)
            self.assertEqual((d.channel, d.kind, d.inline_payload()), (ch, D.STATUS, b"n%d" % ch))
        d = f.slot_frame(b"x" * 100, method=ECHO, channel=7)
        d.gen += 2  # stale
        self.send(f, d)
        t.join(5)
        self.assertFalse(t.is_alive(), "the session did not end")
        self.assertEqual(ended[0].kind, "violation")
        resets = [r for r in self.replies(f) if r.kind == D.RESET]
        self.assertEqual([(r.channel, r.aux) for r in resets], [(0, status.PROTOCOL_VIOLATION)])
        self.assertEqual(s.calls, {})
        # The control socket was shut down for writing: the host sees EOF.
        f.host_ctl.settimeout(5)
        self.assertEqual(f.host_ctl.recv(16), b"")


if __name__ == "__main__":
    unittest.main()

"""Leases (plexus.lease): a handler fills a slot of the plugin's pool or a
memfd in place and returns it; the reply names that slot or that memfd
(sealed, as a one-shot blob), no byte copied; a lease not returned goes
back to the pool."""

import ctypes
import importlib.util
import os
import socket
import struct
import unittest

import segbuild  # noqa: F401
from test_fast import FastCase

import plexus
from plexus import desc as D
from plexus import status
from plexus.blob import ONE_SHOT_REQUIRED, F_GET_SEALS
from plexus.service import Method, Service, method_id

import fcntl
import sys

L = sys.modules["plexus.lease"]
SVC = "test.Lease"
SLOT_N = 4000        # a slot of the 4096 class
BLOB_N = 100000      # above the largest slot class (65536), below MAXP
seen = {}


def _addr(view):
    c = ctypes.c_char.from_buffer(view)
    a = ctypes.addressof(c)
    del c
    return a


def fill(n):
    le = plexus.lease(n)
    for i in range(0, n, 997):
        le.buf[i] = i % 251
    le.buf[n - 1] = 0x5A
    seen["lease"] = le
    seen["addr"] = _addr(le.buf)
    if le.kind == L.BLOB:
        seen["ino"] = os.fstat(le.fd).st_ino
    return le


def expected(n):
    b = bytearray(n)
    for i in range(0, n, 997):
        b[i] = i % 251
    b[n - 1] = 0x5A
    return bytes(b)


def unreturned(req):
    seen["lease"] = plexus.lease(SLOT_N)
    plexus.lease(BLOB_N)
    return b"ok"


def failing(req):
    seen["lease"] = plexus.lease(200)
    raise status.Status(status.NOT_FOUND, "gone")


def pour(req, call):
    for n in (SLOT_N, BLOB_N):
        le = plexus.lease(n)
        le.buf[:] = expected(n)
        call.send(le)


SERVICE = Service(SVC, [
    Method("Slot", 1, lambda req: fill(SLOT_N)),
    Method("Blob", 2, lambda req: fill(BLOB_N)),
    Method("Unreturned", 3, unreturned),
    Method("Failing", 4, failing),
    Method("Pour", 5, pour, kind=plexus.SERVER_STREAM),
])
IDS = {m.name: method_id(SVC, m.name) for m in SERVICE.methods}
METHODS = {method_id(SVC, m.name): (SVC, m) for m in SERVICE.methods}


def free_slots(pool):
    """Slots of the pool whose generation is even (free)."""
    return sum(1 for s in range(pool.nslots) if not pool.at.load32(pool._gen(s)) & 1)


def recv_blob(f):
    """The host's side of one type 1 control message: (ID, fd)."""
    f.host_ctl.settimeout(5)
    data, anc, _, _ = f.host_ctl.recvmsg(16, socket.CMSG_SPACE(4))
    typ, _, ident = struct.unpack("<IIQ", data)
    assert typ == 1
    [(_, _, raw)] = anc
    return ident, struct.unpack("i", raw[:4])[0]


class LeaseCase(FastCase):
    methods = METHODS

    def setUp(self):
        seen.clear()

    def run_call(self, f, s, mid, fast):
        s._fast_ok = fast
        s._fast_methods = dict(self.methods)
        s.methods = dict(self.methods)
        f.send(self.inline_open(1, mid, b"x"))
        if fast:
            self.assertIs(s._fast(), True)
        else:
            s._step()
        return self.replies(f)

    def sess(self, f):
        import test_fast
        old = test_fast.METHODS
        test_fast.METHODS = self.methods
        try:
            return self.session(f)
        finally:
            test_fast.METHODS = old


class TestLease(LeaseCase):
    def test_slot_lease_is_named_in_place(self):
        for fast in (True, False):
            f = self.fixture()
            s = self.sess(f)
            pool = self.plugin_pool(f)
            before = free_slots(pool)
            [r] = self.run_call(f, s, IDS["Slot"], fast)
            le = seen["lease"]
            self.assertEqual(le.kind, L.SLOT)
            self.assertEqual(le.state, L.SENT)
            self.assertEqual((r.kind, r.flags, r.aux), (D.STATUS, D.END | D.MSG | D.SLOT, 0))
            self.assertEqual((r.slot, r.gen, r.offset, r.length), (le.slot, le.gen, 0, SLOT_N))
            # The host's view of the response is the very memory the handler filled.
            off = pool.resolve(r.slot, r.gen, 0, r.length)
            host_view = memoryview(f.mm)[off:off + r.length]
            self.assertEqual(_addr(host_view), seen["addr"])
            self.assertEqual(bytes(host_view), expected(SLOT_N))
            host_view.release()
            self.assertEqual((f.link.lease_slots, f.link.lease_copied), (1, 0))
            self.assertEqual(free_slots(pool), before - 1)  # the host's to free
            self.assertEqual((s.calls, s.running), ({}, 0))

    def test_blob_lease_is_sealed_and_sent_as_a_one_shot_blob(self):
        for fast in (True, False):
            f = self.fixture()
            s = self.sess(f)
            [r] = self.run_call(f, s, IDS["Blob"], fast)
            le = seen["lease"]
            self.assertEqual((le.kind, le.state), (L.BLOB, L.SENT))
            self.assertEqual((r.kind, r.flags & (D.BLOB | D.SLOT | D.INLINE), r.length, r.offset), (D.STATUS, D.BLOB, BLOB_N, 0))
            ident, fd = recv_blob(f)
            try:
                self.assertEqual(ident, r.slot | r.gen << 32)
                seals = fcntl.fcntl(fd, F_GET_SEALS)
                self.assertEqual(seals & ONE_SHOT_REQUIRED, ONE_SHOT_REQUIRED)
                st = os.fstat(fd)
                self.assertEqual(st.st_ino, seen["ino"])  # the handler's memfd, not a copy
                self.assertGreaterEqual(st.st_blocks * 512, (BLOB_N + 4095) // 4096 * 4096)
                self.assertEqual(os.pread(fd, BLOB_N, 0), expected(BLOB_N))
            finally:
                os.close(fd)
            self.assertEqual((f.link.lease_blobs, f.link.lease_copied, le.fd, le.mm), (1, 0, -1, None))

    def test_unreturned_leases_are_freed(self):
        for name in ("Unreturned", "Failing"):
            for fast in (True, False):
                f = self.fixture()
                s = self.sess(f)
                pool = self.plugin_pool(f)
                before = free_slots(pool)
                [r] = self.run_call(f, s, IDS[name], fast)
                self.assertEqual(r.aux, status.OK if name == "Unreturned" else status.NOT_FOUND)
                self.assertEqual(seen["lease"].state, L.FREED)
                self.assertEqual(free_slots(pool), before, name)
                self.assertEqual(f.link.lease_slots + f.link.lease_blobs, 0)

    def test_stream_send_of_leases(self):
        f = self.fixture()
        s = self.sess(f)
        pool = self.plugin_pool(f)
        before = free_slots(pool)
        s._fast_ok = False
        s.methods = dict(self.methods)
        f.send(self.inline_open(1, IDS["Pour"], b"x", credit=1 << 20))  # room for both messages
        got = []
        for _ in range(200):
            s._step()
            got += self.replies(f)
            if any(d.kind == D.STATUS for d in got):
                break
        self.assertEqual([d.kind for d in got], [D.DATA, D.DATA, D.STATUS])
        a, b = got[0], got[1]
        self.assertEqual((a.flags & D.SLOT, a.length), (D.SLOT, SLOT_N))
        off = pool.resolve(a.slot, a.gen, 0, a.length)
        self.assertEqual(bytes(f.mm[off:off + SLOT_N]), expected(SLOT_N))
        self.assertEqual((b.flags & D.BLOB, b.length), (D.BLOB, BLOB_N))
        _, fd = recv_blob(f)
        self.assertEqual(os.pread(fd, BLOB_N, 0), expected(BLOB_N))
        os.close(fd)
        self.assertEqual((f.link.lease_slots, f.link.lease_blobs, f.link.lease_copied), (1, 1, 0))
        self.assertEqual(free_slots(pool), before - 1)

    def test_free_and_errors(self):
        f = self.fixture()
        pool = self.plugin_pool(f)
        before = free_slots(pool)
        le = L.alloc(f.link, 300)
        self.assertEqual(free_slots(pool), before - 1)
        le.free()
        le.free()
        self.assertEqual(free_slots(pool), before)
        with self.assertRaises(ValueError):
            le.buf[0]
        with L.alloc(f.link, BLOB_N) as b:
            fd = b.fd
            b.buf[0] = 1
        with self.assertRaises(OSError):
            os.fstat(fd)  # closed
        with self.assertRaises(status.Status):
            L.alloc(f.link, (1 << 20) + 1)


class TestGenerated(LeaseCase):
    """Generated code (internal/gen/leasetest): a method returning
    *session.Lease may return a plexus Lease (bytes still work)."""

    @classmethod
    def setUpClass(cls):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "gen",
                            "leasetest", "leasetest_plexus.py")
        if not os.path.exists(path):
            raise unittest.SkipTest("no internal/gen/leasetest")
        spec = importlib.util.spec_from_file_location("leasetest_plexus", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)

        class Impl(mod.BlobsBase):
            def Fill(self, n, seed):
                if seed == 1:
                    return bytes(n)
                return fill(n)

        svc = Impl().plexus_service()
        cls.methods = {method_id(svc.name, m.name): (svc.name, m) for m in svc.methods}
        cls.fill_id = method_id(svc.name, "Fill")

    def test_fill_returns_a_lease(self):
        from plexus import codec
        for seed, n in ((0, SLOT_N), (1, 100), (0, BLOB_N)):
            f = self.fixture()
            s = self.sess(f)
            req = codec.encode_tuple((codec.INT, codec.UINT64), (n, seed))
            d = D.Desc(channel=1, kind=D.OPEN, flags=D.MSG | D.END, method=self.fill_id)
            D.set_inline(d, req)
            s._fast_ok = False
            s.methods = dict(self.methods)
            f.send(d)
            s._step()
            [r] = self.replies(f)
            self.assertEqual((r.kind, r.aux, r.length), (D.STATUS, 0, n))
            if seed == 1:
                continue
            if n == SLOT_N:
                self.assertEqual((r.flags & D.SLOT, r.slot), (D.SLOT, seen["lease"].slot))
            else:
                self.assertEqual(r.flags & D.BLOB, D.BLOB)
                _, fd = recv_blob(f)
                self.assertEqual(os.fstat(fd).st_ino, seen["ino"])
                os.close(fd)


if __name__ == "__main__":
    unittest.main()

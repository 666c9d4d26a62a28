import fcntl
import io
import os
import socket
import struct
import unittest
import zlib

import segbuild
from plexus import desc as D
from plexus.bell import Bell
from plexus.errors import LinkError, ProtocolViolation
from plexus.link import ShmLink, SENT
from plexus.log import Logger
from plexus.pool import Pool
from plexus.ring import Consumer, Producer

MAXP = 1 << 20


class Fixture:
    """A ShmLink over a segment built here, and the host's side of it: a
    producer of ring host->plugin and the host's pool."""

    def __init__(self, **kw):
        fds, self.ctl, self.host_ctl, lay = segbuild.link_fds(**kw)
        self.fds = fds
        self.link = ShmLink(fds, self.ctl, MAXP, Logger("test", out=io.StringIO()))
        L, mm, at = self.link.seg.layout, self.link.mm, self.link.at
        self.tx = Producer(mm, at, L.ring_h2p, L.cap_h2p)
        self.rx = Consumer(mm, at, L.ring_p2h, L.cap_p2h)
        self.pool = Pool(mm, at, L.pool_host, L.pool_host_size, "host")
        self.mm = mm

    def close(self):
        self.ctl.close()
        self.host_ctl.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, d):
        self.tx.write(d.pack())
        self.tx.publish()

    def slot_frame(self, payload, **kw):
        slot, gen, off = self.pool.alloc(len(payload))
        self.mm[off:off + len(payload)] = payload
        d = D.Desc(channel=1, kind=D.OPEN, flags=D.SLOT | D.MSG | D.END, slot=slot, gen=gen, length=len(payload))
        for k, v in kw.items():
            setattr(d, k, v)
        return d


class Case(unittest.TestCase):
    def fixture(self, **kw):
        f = Fixture(**kw)
        self.addCleanup(f.close)
        return f


class TestReceive(Case):
    def test_slot_payload_zero_copy_and_release(self):
        f = self.fixture()
        d = f.slot_frame(b"hello, plugin" * 10)
        f.send(d)
        [fr] = f.link.receive()
        self.assertIsInstance(fr.payload, memoryview)
        self.assertTrue(fr.payload.readonly)
        self.assertEqual(bytes(fr.payload), b"hello, plugin" * 10)
        with self.assertRaises(TypeError):
            fr.payload[0] = 1
        fr.release()
        fr.release()  # once only
        with self.assertRaises(ProtocolViolation):
            f.pool.resolve(d.slot, d.gen, 0, 1)  # freed: the generation moved on

    def test_inline_and_empty(self):
        f = self.fixture()
        d = D.Desc(channel=1, kind=D.OPEN, flags=D.MSG)
        D.set_inline(d, b"abc")
        f.send(d)
        f.send(D.Desc(channel=0, kind=D.PING, aux=5))
        a, b = f.link.receive()
        self.assertEqual(a.payload, b"abc")
        self.assertEqual(b.payload, b"")

    def test_zero_length_slot_freed_at_once(self):
        f = self.fixture()
        d = f.slot_frame(b"x", length=0)
        f.send(d)
        [fr] = f.link.receive()
        self.assertEqual(fr.payload, b"")
        self.assertNotIn(d.slot, f.link.held)
        with self.assertRaises(ProtocolViolation):
            f.pool.resolve(d.slot, d.gen, 0, 0)

    def refused(self, mutate):
        f = self.fixture()
        d = f.slot_frame(b"y" * 100)
        mutate(f, d)
        f.send(d)
        with self.assertRaises(ProtocolViolation):
            f.link.receive()

    def test_bad_references_refused(self):
        cases = {
            "stale generation": lambda f, d: setattr(d, "gen", d.gen + 2),
            "even generation": lambda f, d: setattr(d, "gen", d.gen + 1),
            "slot out of range": lambda f, d: setattr(d, "slot", 1000),
            "slot 2^32-1": lambda f, d: setattr(d, "slot", 0xFFFFFFFF),
            "offset past the slot": lambda f, d: setattr(d, "offset", 200),
            "offset 2^32-1": lambda f, d: setattr(d, "offset", 0xFFFFFFFF),
            "length past the slot": lambda f, d: setattr(d, "length", 257),
            "length above max payload": lambda f, d: setattr(d, "length", MAXP + 1),
            "bit 3": lambda f, d: setattr(d, "flags", d.flags | D.BIT3),
            "slot and inline": lambda f, d: setattr(d, "flags", d.flags | D.INLINE),
            "no placement with a length": lambda f, d: setattr(d, "flags", d.flags & ~D.SLOT),
        }
        for name, m in cases.items():
            with self.subTest(name):
                self.refused(m)

    def test_slot_named_twice_refused(self):
        f = self.fixture()
        d = f.slot_frame(b"z" * 64)
        f.send(d)
        f.send(d)
        with self.assertRaises(ProtocolViolation):
            f.link.receive()

    def test_tail_is_a_figure(self):
        """Cells are published by their stamps: a tail far past the
        capacity delivers nothing, and what comes next arrives."""
        f = self.fixture()
        f.link.at.store64(f.link.seg.layout.ring_h2p, 1 << 40)
        self.assertEqual(f.link.receive(), [])
        d = D.Desc(channel=2, kind=D.DATA, reserved=0xBEEF)  # the ring's field: stamped over
        D.set_inline(d, b"ok")
        f.send(d)
        got = f.link.receive()
        self.assertEqual([(fr.desc.channel, fr.desc.reserved, bytes(fr.payload)) for fr in got], [(2, 0, b"ok")])

    def test_blob_never_announced_refused(self):
        f = self.fixture()
        f.send(D.Desc(channel=1, kind=D.OPEN, flags=D.BLOB | D.MSG, slot=1, length=5 << 20))
        with self.assertRaises(ProtocolViolation):
            f.link.receive()


class TestSend(Case):
    def test_placements(self):
        f = self.fixture()
        for n in (0, 1, 28, 29, 256, 257, 4096, 60000):
            d = D.Desc(channel=2, kind=D.STATUS, flags=D.MSG | D.END)
            self.assertEqual(f.link.try_send(d, bytes([n % 251]) * n), SENT)
        f.link.publish()
        got = []
        while f.rx.available():
            raws, _ = f.rx.take(1)
            d = D.Desc.unpack(raws[0])
            place = D.check_shm_placement(d, MAXP)
            if place == D.INLINE:
                got.append((place, d.inline_payload()))
            elif place == D.SLOT:
                own = f.link.own_pool
                off = own.resolve(d.slot, d.gen, d.offset, d.length)
                got.append((place, bytes(f.mm[off:off + d.length])))
                own.free(d.slot, d.gen)
            else:
                got.append((place, b""))
        self.assertEqual([len(p) for _, p in got], [0, 1, 28, 29, 256, 257, 4096, 60000])
        self.assertEqual([pl for pl, _ in got], [0, D.INLINE, D.INLINE, D.SLOT, D.SLOT, D.SLOT, D.SLOT, D.SLOT])
        self.assertEqual(got[-1][1], bytes([60000 % 251]) * 60000)


class TestDoorbells(unittest.TestCase):
    def test_blocking_eventfd_refused(self):
        fd = os.eventfd(0)
        with self.assertRaises(ProtocolViolation):
            Bell(fd, "test")
        os.close(fd)

    def test_not_an_eventfd_refused(self):
        r, w = os.pipe2(os.O_NONBLOCK)
        with self.assertRaises(ProtocolViolation):
            Bell(r, "test")
        os.close(r)
        os.close(w)

    def test_made_blocking_later_refused(self):
        import fcntl
        fd = os.eventfd(0, os.EFD_NONBLOCK)
        b = Bell(fd, "test")
        b.ring()
        self.assertTrue(b.reset())
        self.assertFalse(b.reset(), "a spurious wake-up")
        fcntl.fcntl(fd, fcntl.F_SETFL, 0)
        with self.assertRaises(ProtocolViolation):
            b.ring()
        self.assertFalse(b.reset(), "RWF_NOWAIT: never blocks, whatever the flags say")
        os.close(fd)

    def test_full_counter_refused(self):
        fd = os.eventfd(0, os.EFD_NONBLOCK)
        b = Bell(fd, "test")
        os.write(fd, struct.pack("<Q", (1 << 64) - 2))
        with self.assertRaises(ProtocolViolation):
            b.ring()
        os.close(fd)


class TestControlSocket(Case):
    def test_end_of_file(self):
        f = self.fixture()
        f.host_ctl.shutdown(socket.SHUT_WR)
        f.link._read_control()
        self.assertTrue(f.link.gone)

    def test_garbage_refused(self):
        cases = {
            "empty datagram": b"",
            "short": b"\x01\x00\x00\x00",
            "long": bytes(17),
            "type 0": struct.pack("<IIQ", 0, 0, 1),
            "type 5": struct.pack("<IIQ", 5, 0, 1),
            "reserved": struct.pack("<IIQ", 3, 1, 1),
            "ID 0": struct.pack("<IIQ", 3, 0, 0),
            "free of an unknown buffer": struct.pack("<IIQ", 3, 0, 7),
            "forget of an unknown buffer": struct.pack("<IIQ", 4, 0, 7),
            "blob without a descriptor": struct.pack("<IIQ", 1, 0, 1),
        }
        for name, msg in cases.items():
            with self.subTest(name):
                f = self.fixture()
                f.host_ctl.send(msg)
                with self.assertRaises(ProtocolViolation):
                    f.link._read_control()
                self.assertFalse(f.link.gone)

    def test_descriptor_on_a_free_refused_and_closed(self):
        f = self.fixture()
        r, w = os.pipe()
        f.host_ctl.sendmsg([struct.pack("<IIQ", 3, 0, 1)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
        os.close(r)
        with self.assertRaises(ProtocolViolation):
            f.link._read_control()
        # The passed descriptor was closed: the pipe has no reader left.
        with self.assertRaises(BrokenPipeError):
            os.write(w, b"x")
        os.close(w)


SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
FUTURE_WRITE = 0x10


def memfd(data=b"", size=None, seals=SEALS, write=True):
    fd = os.memfd_create("plexus-blob", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    if write and data:
        os.write(fd, data)
    if size is not None:
        os.ftruncate(fd, size)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


class TestBlobs(Case):
    """SPEC.md "Blobs" .. "Receiver checks for blobs": what the host may
    send, and what must end the link (a ProtocolViolation, never a crash)."""

    def announce(self, f, typ, ident, fd=-1):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))] if fd >= 0 else []
        f.host_ctl.sendmsg([struct.pack("<IIQ", typ, 0, ident)], anc)
        if fd >= 0:
            os.close(fd)

    def blob_desc(self, ident, length, offset=0):
        return D.Desc(channel=1, kind=D.OPEN, flags=D.BLOB | D.MSG | D.END, slot=ident & 0xFFFFFFFF,
                      gen=ident >> 32, offset=offset, length=length)

    def test_one_shot_read_in_place(self):
        f = self.fixture()
        data = bytes(range(256)) * 2048 + b"tail"
        self.announce(f, 1, 1, memfd(data))
        f.send(self.blob_desc(1, len(data) - 100, offset=100))
        [fr] = f.link.receive()
        self.assertIsInstance(fr.payload, memoryview)
        self.assertTrue(fr.payload.readonly)
        self.assertEqual(zlib.crc32(fr.payload), zlib.crc32(data[100:]))
        self.assertGreater(f.link.blobs.mapped_bytes, 0)
        fr.release()
        self.assertEqual(f.link.blobs.mapped_bytes, 0)

    def test_buffer_read_in_place_and_freed(self):
        f = self.fixture()
        data = b"b" * 8192
        self.announce(f, 2, 5, memfd(data, seals=fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | FUTURE_WRITE))
        for _ in range(3):
            f.send(self.blob_desc(5, 5000, offset=10))
            [fr] = f.link.receive()
            self.assertEqual(bytes(fr.payload), data[10:5010])
            fr.release()
            msg = f.host_ctl.recv(64)
            self.assertEqual(struct.unpack("<IIQ", msg), (3, 0, 5), "the buffer goes back to the host")
        self.announce(f, 4, 5)
        f.link._read_control()
        self.assertEqual(f.link.blobs.buffers, {})

    def refused(self, f, *descs):
        with self.assertRaises(ProtocolViolation):
            f.link._read_control()
            for d in descs:
                f.send(d)
            f.link.receive()

    def test_hostile_blobs(self):
        page = os.sysconf("SC_PAGE_SIZE")
        r, w = os.pipe()
        os.close(w)
        cases = {
            "one-shot not sealed": (1, memfd(b"x" * 5000, seals=0), [self.blob_desc(1, 5000)]),
            "one-shot sealed without F_SEAL_WRITE": (1, memfd(b"x" * 5000, seals=fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW),
                                                      [self.blob_desc(1, 5000)]),
            "one-shot too small": (1, memfd(b"x" * 5000), [self.blob_desc(1, 5000, offset=1)]),
            "one-shot with holes": (1, memfd(size=1 << 20), [self.blob_desc(1, 1 << 20)]),
            "one-shot not a memfd": (1, r, [self.blob_desc(1, 10)]),
            "buffer not a memfd": (2, os.dup(r), []),
            "buffer not sealed": (2, memfd(b"x" * page, seals=0), []),
            "buffer not whole pages": (2, memfd(b"x" * 5000), []),
            "buffer with holes": (2, memfd(size=4 * page, seals=fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | FUTURE_WRITE), []),
            "buffer too short for the descriptor": (2, memfd(b"x" * page), [self.blob_desc(1, page, offset=1)]),
            "BLOB length 0": (1, memfd(b"x" * 10), [self.blob_desc(1, 0)]),
            "BLOB ID 0": (1, memfd(b"x" * 10), [self.blob_desc(0, 10)]),
            "BLOB bytes 48..63": (1, memfd(b"x" * 10), [self._inline(self.blob_desc(1, 10))]),
            "BLOB with SLOT": (1, memfd(b"x" * 10), [self._flags(self.blob_desc(1, 10), D.SLOT)]),
            "BLOB of another ID": (1, memfd(b"x" * 10), [self.blob_desc(2, 10)]),
            "BLOB above the maximum payload": (1, memfd(b"x" * 10), [self.blob_desc(1, MAXP + 1)]),
        }
        for name, (typ, fd, descs) in cases.items():
            with self.subTest(name):
                f = self.fixture()
                self.announce(f, typ, 1, fd)
                self.refused(f, *descs)

    @staticmethod
    def _inline(d):
        d.inline = b"\x01" + bytes(15)
        return d

    @staticmethod
    def _flags(d, fl):
        d.flags |= fl
        return d

    def test_buffer_rules(self):
        page = os.sysconf("SC_PAGE_SIZE")
        bseals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | FUTURE_WRITE
        f = self.fixture()
        self.announce(f, 2, 3, memfd(b"x" * page, seals=bseals))
        f.send(self.blob_desc(3, 10))
        [fr] = f.link.receive()
        # Named again while held, forgotten while held, an ID not above the last.
        for msgs, d in (([], self.blob_desc(3, 10)), ([(4, 3, -1)], None), ([(2, 3, memfd(b"y" * page, seals=bseals))], None),
                        ([(1, 3, memfd(b"z"))], None), ([(3, 1, -1)], None)):
            with self.subTest(msgs=msgs, d=d):
                for typ, ident, fd in msgs:
                    self.announce(f, typ, ident, fd)
                with self.assertRaises(ProtocolViolation):
                    f.link._read_control()
                    if d is not None:
                        f.send(d)
                        f.link.receive()
        fr.release()

    def test_too_many_pending(self):
        f = self.fixture()
        for i in range(64):
            self.announce(f, 1, i + 1, memfd(b"x"))
        f.link._read_control()
        self.announce(f, 1, 65, memfd(b"x"))
        with self.assertRaises(ProtocolViolation):
            f.link._read_control()

    def test_send_one_shot(self):
        f = self.fixture()
        payload = bytes(range(256)) * 1024 + b"!"  # above the largest slot (64 KiB here)
        d = D.Desc(channel=2, kind=D.STATUS, flags=D.MSG | D.END)
        self.assertEqual(f.link.try_send(d, payload), SENT)
        f.link.publish()
        msg, anc, _, _ = f.host_ctl.recvmsg(64, socket.CMSG_SPACE(4))
        typ, _, ident = struct.unpack("<IIQ", msg)
        fd = struct.unpack("i", anc[0][2][:4])[0]
        self.assertEqual((typ, ident), (1, 1))
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        self.assertEqual(seals & SEALS, SEALS)
        self.assertEqual(os.pread(fd, len(payload) + 10, 0), payload)
        os.close(fd)
        raws, _ = f.rx.take(1)
        got = D.Desc.unpack(raws[0])
        self.assertEqual(D.check_shm_placement(got, MAXP), D.BLOB)
        self.assertEqual((got.slot | got.gen << 32, got.offset, got.length), (1, 0, len(payload)))
        d2 = D.Desc(channel=2, kind=D.STATUS, flags=D.MSG | D.END)
        f.link.try_send(d2, payload)
        self.assertEqual(d2.slot, 2, "IDs go up")


if __name__ == "__main__":
    unittest.main()

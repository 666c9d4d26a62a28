"""Shapes and Other served from Python through the generated module
(shapetest_plexus.py), as impl_test.go serves them in Go; Other.Uptime
also calls the host's Shapes through the generated ShapesClient, every
shape, and fails with the first mismatch. Started by python_linux_test.go."""

import threading
import time

import plexus
from plexus import codec
import shapetest_plexus as S

logs = []
logged = threading.Condition()


class Shapes(S.ShapesBase):
    def Add(self, a, b):
        return a + b

    def Basics(self, *vals):
        return tuple(vals)

    def Composite(self, bs, blob, lvl, xs, names, m, idx, p, pp, t, d, e, pe, ps, nested):
        # []byte arguments are views of the request: the results are
        # encoded before the handler's return releases it.
        return bs, blob, lvl, xs, names, m, idx, p, pp, t, d, e, pe, ps, nested

    def Count(self, from_, to, send):
        if from_ < 0:
            raise S.kvtest_NotFoundError(Key="negative")
        for i in range(from_, to):
            send(S.Point(X=i, Y=i / 2))
            if to - from_ > 1000:
                if plexus.current_call().wait_cancelled(0.001):
                    raise plexus.Status(plexus.codes.CANCELED, "cancelled")

    def Sum(self, scale, recv):
        total = n = 0
        for v in recv:
            if v < 0:
                raise S.kvtest_NotFoundError(Key="negative")
            total += v * scale
            n += 1
        return total, n

    def Drain(self, recv):
        n = 0
        for b in recv:
            n += 0 if b is None else len(b)

    def Echo(self, prefix, recv, send):
        for i, s in enumerate(recv):
            if s == "fail":
                raise S.kvtest_NotFoundError(Key=s)
            send(S.Point(X=i, Tags=[prefix, s]))

    def Log(self, line, at):
        # Echoed to the host as a notification of its own Shapes.Log.
        S.ShapesClient().Log("py:" + line, at)

    def Fail(self, kind):
        if kind == "conflict":
            raise S.ConflictError('conflict on "k" at version 9', Key="k", Version=9)
        if kind == "notfound":
            raise S.kvtest_NotFoundError('key "nf" not found', Key="nf")
        if kind == "status":
            raise plexus.Status(plexus.codes.FAILED_PRECONDITION, "not now")
        raise RuntimeError("plain failure")


def check(what, got, want):
    if got != want:
        raise plexus.Status(plexus.codes.INTERNAL, "%s: got %r, want %r" % (what, got, want))


class Other(S.OtherBase):
    def Uptime(self):
        """Calls the host's Shapes (the Go implementation) with every shape."""
        h = S.ShapesClient()
        check("Add", h.Add(40, 2), 42)
        vals = (True, -(1 << 63), -128, 32767, -(1 << 31), (1 << 63) - 1, (1 << 64) - 1, 255, 65535,
                (1 << 32) - 1, (1 << 64) - 1, 0.5, -1.7976931348623157e308, "héllo")
        check("Basics", h.Basics(*vals), vals)
        at = codec.Timestamp(1904112489, 123456789)
        comp = (b"bytes", b"blob", 7, [-1, 0, 1 << 30], ["a", "b"], {"k": ["v1", "v2"], "empty": []},
                {1: S.Point(X=1, Tags=["t"]), 2: None}, 2.5, "deep", at, -90 * 60 * 10**9,
                S.kvtest_Entry(Key="e", Value=b"v", Tags=["x"]), S.Point(X=-3, Y=0.25, Tags=[]),
                [S.Point(X=1, Tags=[]), S.Point(Y=2.0, Tags=["y"])], [b"n1", b"n2"])
        check("Composite", h.Composite(*comp), comp)
        check("Count", list(h.Count(3, 7)), [S.Point(X=i, Y=i / 2, Tags=[]) for i in range(3, 7)])
        try:
            list(h.Count(-1, 5))
            raise plexus.Status(plexus.codes.INTERNAL, "Count(-1) did not fail")
        except S.kvtest_NotFoundError as e:
            check("Count error", e.Key, "negative")
        with h.Sum(3) as st:
            for i in range(1, 101):
                st.send(i)
            check("Sum", st.close_and_recv(), (3 * 5050, 100))
        with h.Drain() as st:
            st.send(b"x" * 5000)
            st.send(None)
            check("Drain", st.close_and_recv(), None)
        with h.Echo("p") as st:
            for i, w in enumerate(["a", "bb"]):
                st.send(w)
                check("Echo", st.recv(), S.Point(X=i, Tags=["p", w]))
            st.close_send()
            check("Echo end", st.recv(), None)
        try:
            h.Fail("conflict")
            raise plexus.Status(plexus.codes.INTERNAL, "Fail did not fail")
        except S.ConflictError as e:
            check("Fail", (e.Key, e.Version, str(e)), ("k", 9, 'conflict on "k" at version 9'))
        try:
            h.Fail("status")
        except plexus.Status as e:
            check("Fail status", (e.code, e.message), (plexus.codes.FAILED_PRECONDITION, "not now"))
        h.Log("from python", at)
        return 42 * 10**9


if __name__ == "__main__":
    plexus.serve("shapetest-python", versions={1: [Shapes().plexus_service(), Other().plexus_service()]})

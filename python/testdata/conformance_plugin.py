#!/usr/bin/python3
"""The callee of the session conformance suite (package conformance), in
Python: the suite's Test and Control services as conformance/services.go
defines them, for host/python_conformance_linux_test.go, which runs the
suite's scenarios against this process over shared memory.

Method names and IDs are those of conformance.RegisterServices; a Go Mux
registered by hand describes its methods with signature 0, and so does
this plugin, listing the services and methods in the Mux's order (by
name). It also lists the host's Test service as the host services it
calls (CallBack, call, spawn).

PLEXUS_CONFORMANCE_OPTS carries the scenario's conformance.LinkOptions
(JSON). With Raw set the plugin is the raw peer of the protocol-violation
scenario instead: on the host's first OPEN it sends DATA on a channel of
its own parity that it never opened.
"""

import base64
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import plexus  # noqa: E402
from plexus import desc as D  # noqa: E402
from plexus.link import SENT  # noqa: E402

COOKIE = "plexus-conformance"
TEST = "conformance.Test"
CONTROL = "conformance.Control"
DEFAULT_TIMEOUT = 20.0  # conformance.defaultTimeout
ITEM_HEADER = 8
S = plexus.codes

log = plexus.Logger("conformance")

# -- the items of streams (conformance appendItem, transporttest.Fill) -----------

M64 = (1 << 64) - 1
_fills = {}
_fills_bytes = 0
_fills_lock = threading.Lock()
MAX_CACHED = 4096           # fills of at most this size are kept ...
MAX_CACHE_BYTES = 64 << 20  # ... up to this much in all


def fill(n, seed):
    """transporttest.Fill: n bytes of xorshift64 from seed."""
    key = (n, seed)
    got = _fills.get(key)
    if got is not None:
        return got
    x = (seed * 0x9E3779B97F4A7C15 + 1) & M64
    out = bytearray(n)
    for i in range(n):
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        out[i] = x & 0xFF
    b = bytes(out)
    global _fills_bytes
    if n <= MAX_CACHED:
        with _fills_lock:
            if _fills_bytes + n <= MAX_CACHE_BYTES:
                _fills[key] = b
                _fills_bytes += n
    return b


def item(i, size):
    size = max(size, ITEM_HEADER)
    return struct.pack("<Q", i) + fill(size - ITEM_HEADER, i)


def check_item(i, b):
    """None if b is item i, else what is wrong."""
    if len(b) < ITEM_HEADER:
        return "item %d: %d bytes" % (i, len(b))
    got = struct.unpack_from("<Q", b, 0)[0]
    if got != i:
        return "item %d: got index %d" % (i, got)
    if bytes(b[ITEM_HEADER:]) != fill(len(b) - ITEM_HEADER, i):
        return "item %d: payload corrupted" % i
    return None


# -- state (conformance.Services) -------------------------------------------------

class State:
    def __init__(self):
        self.cv = threading.Condition()
        self.counters = {}
        self.gates = {}
        self.deadlines = {}   # key -> (has deadline, remaining ns)
        self.notes = {}
        self.spawned = {}     # key -> [done Event, reply]

    def add(self, key, n=1):
        with self.cv:
            self.counters[key] = self.counters.get(key, 0) + n
            self.cv.notify_all()

    def counter(self, key):
        with self.cv:
            return self.counters.get(key, 0)

    def wait_counter(self, key, least, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                v = self.counters.get(key, 0)
                if v >= least:
                    return v, None
                left = end - time.monotonic()
                if left <= 0:
                    return v, "counter %r is %d, want >= %d: context deadline exceeded" % (key, v, least)
                self.cv.wait(left)

    def gate(self, key):
        with self.cv:
            g = self.gates.get(key)
            if g is None:
                g = self.gates[key] = threading.Event()
            return g

    def record_deadline(self, key):
        call = plexus.current_call()
        left = call.remaining() if call is not None else None
        with self.cv:
            self.deadlines[key] = (left is not None, int(left * 1e9) if left is not None else 0)


state = State()


def text(b):
    return bytes(b).decode("utf-8", "replace")


# -- Test -------------------------------------------------------------------------

def echo(req):
    return req  # a view of the request, copied into the response


def metadata(req):
    call = plexus.current_call()
    md = {k: text(v) for k, v in call.metadata.items()}
    trailer = {"echo-" + k: v for k, v in md.items()}
    trailer["body"] = text(req)
    call.set_trailer(trailer)
    return json.dumps(md).encode()


def decode_int(req):
    if len(req) != 8:
        raise plexus.Status(S.INVALID_ARGUMENT, "DecodeInt: want 8 bytes, got %d" % len(req))
    return struct.pack("<Q", (struct.unpack("<Q", bytes(req))[0] + 1) & M64)


def panic(req):
    # Python has no panic apart from errors; the handler fails as a Go
    # handler's panic does (SPEC.md "Calls": INTERNAL, with its value).
    raise plexus.Status(S.INTERNAL, "panic: conformance panic: " + text(req))


def grow(req):
    if len(req) != 8:
        raise plexus.Status(S.INVALID_ARGUMENT, "Grow: want 8 bytes, got %d" % len(req))
    n = struct.unpack("<Q", bytes(req))[0]
    if n > 1 << 30:
        raise plexus.Status(S.INVALID_ARGUMENT, "Grow: %d bytes is too much" % n)
    return fill(n, n)


def _wait_gate_or_cancel(call, gate):
    """True once the gate opens, False once the call is cancelled."""
    woke = threading.Event()
    call.on_cancel(woke.set)
    state_waiters(gate, woke)
    woke.wait()
    return gate.is_set() and not call.cancelled


_gate_waiters = {}
_gate_lock = threading.Lock()


def state_waiters(gate, ev):
    """Makes gate's release set ev too (at once if it is open)."""
    with _gate_lock:
        if gate.is_set():
            ev.set()
            return
        _gate_waiters.setdefault(id(gate), []).append(ev)


def release(key):
    g = state.gate(key)
    with _gate_lock:
        g.set()
        for ev in _gate_waiters.pop(id(g), []):
            ev.set()


def block(req):
    key = text(req)
    call = plexus.current_call()
    state.record_deadline(key)
    state.add("started/" + key)
    if _wait_gate_or_cancel(call, state.gate(key)):
        return b"released:" + key.encode()
    state.add("canceled/" + key)
    raise plexus.Status(call.code or S.CANCELED, call.message or "cancelled")


def call_back(req):
    try:
        r = json.loads(bytes(req))
        key, method = r["key"], r["method"]
        body = base64.b64decode(r.get("req") or "")
    except (ValueError, KeyError, TypeError) as e:
        raise plexus.Status(S.INVALID_ARGUMENT, "CallBack: %s" % e)
    call = plexus.current_call()
    state.record_deadline(key)
    state.add("started/" + key)
    try:
        return plexus.host().invoke(plexus.method_id(TEST, method), body)
    finally:
        if call.cancelled:
            state.add("canceled/" + key)


def send_failed(call, key):
    if call.wait_cancelled(10.0):
        state.add("canceled/" + key)


def generate(req, stream):
    if req is None:
        req = stream.recv()
        if req is None:
            return None
    try:
        r = json.loads(bytes(req))
        key, count, size = r["key"], int(r.get("count", 0)), int(r.get("size", 0))
    except (ValueError, KeyError, TypeError) as e:
        raise plexus.Status(S.INVALID_ARGUMENT, "Generate: %s" % e)
    call = plexus.current_call()
    state.add("started/" + key)
    for i in range(count):
        try:
            stream.send(item(i, size))
        except plexus.Status:
            send_failed(call, key)
            raise
        state.add("sent/" + key)
    trailer = {"echo-" + k: v for k, v in call.metadata.items()}
    trailer["sent"] = str(count)
    call.set_trailer(trailer)
    return None


def _messages(req, stream):
    if req is not None:
        yield req
    yield from stream


def consume(req, stream):
    n = 0
    for m in _messages(req, stream):
        bad = check_item(n, m)
        if bad:
            raise plexus.Status(S.DATA_LOSS, "Consume: " + bad)
        n += 1
    return struct.pack("<Q", n)


def bidi_echo(req, stream):
    for m in _messages(req, stream):
        stream.send(m)


def panic_stream(req, stream):
    m = req if req is not None else stream.recv()
    if m is None:
        return None
    raise plexus.Status(S.INTERNAL, "panic: conformance stream panic: " + text(m))


def note(msg):
    try:
        n = json.loads(bytes(msg))
        key, seq = n["key"], int(n.get("seq", 0))
    except (ValueError, KeyError, TypeError):
        state.add("notes-bad")
        return
    with state.cv:
        state.notes.setdefault(key, []).append(seq)
    state.add("notes/" + key)


def close_session(_msg):
    plexus.host().close()


# -- Control ----------------------------------------------------------------------

def reply_json(r):
    return json.dumps({k: v for k, v in r.items() if v}).encode()


def call_peer(c, timeout):
    """conformance Services.call: Method of the host's Test service."""
    r = {}
    try:
        r["data"] = plexus.host().invoke(plexus.method_id(TEST, c.get("method", "")), c["req"], timeout=timeout)
    except plexus.Status as st:
        r["code"], r["message"] = st.code, st.message
    if "data" in r:
        r["data"] = base64.b64encode(bytes(r["data"])).decode()
    return r


def run_spawned(c, timeout, slot):
    try:
        slot[1] = call_peer(c, timeout)
    except Exception as e:  # a bug here: say so in the reply
        slot[1] = {"err": "spawn: %s: %s" % (type(e).__name__, e)}
    slot[0].set()


def do_command(c):
    """conformance Services.Do: one Command (a dict) to a Reply (a dict)."""
    op = c.get("op", "")
    key = c.get("key", "")
    timeout = (c.get("timeout") or 0) / 1e9
    if timeout <= 0:
        timeout = DEFAULT_TIMEOUT
    try:
        c["req"] = base64.b64decode(c.get("req") or "")
    except ValueError as e:
        return {"err": "req: %s" % e}
    if op == "counter":
        return {"value": state.counter(key)}
    if op == "wait":
        v, err = state.wait_counter(key, c.get("min", 0), timeout)
        return {"value": v, "err": err}
    if op == "release":
        release(key)
        return {}
    if op == "deadline":
        with state.cv:
            has, left = state.deadlines.get(key, (False, 0))
        return {"has_deadline": has, "remaining": left}
    if op == "notes":
        with state.cv:
            return {"values": list(state.notes.get(key, []))}
    if op == "call":
        return call_peer(c, timeout)
    if op == "spawn":
        with state.cv:
            if key in state.spawned:
                return {"err": "spawn: duplicate key " + key}
            slot = state.spawned[key] = [threading.Event(), None]
        # Not tied to the Do call: a thread of its own has no current call.
        threading.Thread(target=run_spawned, args=(c, timeout, slot), daemon=True).start()
        return {}
    if op == "result":
        with state.cv:
            slot = state.spawned.get(key)
        if slot is None:
            return {"err": "result: no spawned call " + key}
        if not slot[0].wait(timeout):
            return {"err": "result: spawned call %s still running" % key}
        return slot[1]
    return {"err": "unknown op %s" % json.dumps(op)}


def parse_command(b, what):
    try:
        c = json.loads(bytes(b))
        if not isinstance(c, dict):
            raise ValueError("not an object")
        return c
    except ValueError as e:
        raise plexus.Status(S.INVALID_ARGUMENT, "%s: %s" % (what, e))


def do(req):
    return reply_json(do_command(parse_command(req, "Do")))


def script(req, stream):
    for m in _messages(req, stream):
        stream.send(reply_json(do_command(parse_command(m, "Script"))))


# -- the raw peer (conformance rawPeer) -------------------------------------------

RAW_CHANNEL = 1000  # far above anything this side could have opened; even: the acceptor's


def raw_peer(link):
    """Reads frames and, on the first OPEN, sends DATA on a channel of this
    side's parity that it never opened. Returns once the host closed the
    link (as it must, for the violation)."""
    sent = False
    for _ in range(1 << 20):  # bounded: the host ends the link at the first OPEN
        for f in link.receive():
            kind = f.desc.kind
            f.release()
            if kind == D.OPEN and not sent:
                sent = True
                d = D.Desc(channel=RAW_CHANNEL, kind=D.DATA, flags=D.MSG)
                if link.try_send(d, b"data for a channel nobody opened") != SENT:
                    return plexus.EXIT_FAILED
                link.publish()
        if link.gone:
            return plexus.EXIT_OK
        link.wait(1.0, 0)
    return plexus.EXIT_FAILED


# -- the services -----------------------------------------------------------------

M = plexus.Method
U, BIDI, NOTE = plexus.UNARY, plexus.BIDI_STREAM, plexus.NOTIFICATION

# In a Go Mux's order (Services): services, then methods, by name.
SERVICES = [
    plexus.Service(CONTROL, [
        M("Do", 0, do),
        M("Script", 0, script, kind=BIDI),
    ]),
    plexus.Service(TEST, [
        M("BidiEcho", 0, bidi_echo, kind=BIDI),
        M("Block", 0, block),
        M("CallBack", 0, call_back),
        M("CloseSession", 0, close_session, kind=NOTE),
        M("Consume", 0, consume, kind=BIDI),
        M("DecodeInt", 0, decode_int),
        M("Echo", 0, echo),
        M("Generate", 0, generate, kind=BIDI),
        M("Grow", 0, grow),
        M("Metadata", 0, metadata),
        M("Note", 0, note, kind=NOTE),
        M("Panic", 0, panic),
        M("PanicStream", 0, panic_stream, kind=BIDI),
    ]),
]

# The host serves the same Test service; this plugin calls it.
HOST_SERVICES = [plexus.Service(TEST, [M(m.name, 0) for m in SERVICES[1].methods])]


def main():
    opts = json.loads(os.environ.get("PLEXUS_CONFORMANCE_OPTS") or "{}")
    raw = raw_peer if opts.get("Raw") else None
    code = plexus.run(COOKIE, versions={1: SERVICES}, logger=log, max_workers=512,
                      host_services={1: HOST_SERVICES}, raw=raw)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # handler threads still running must not hold the exit


if __name__ == "__main__":
    main()

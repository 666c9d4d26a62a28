#!/usr/bin/python3
"""The Go host tests' plugin (host/main_linux_test.go, mode "echo"), in
Python: service hosttest.Echo with the same cookie, method names and
signature hashes, and service pytest.Streams for the tests of streams,
notifications, calls to the host, blobs and statuses
(host/python_streams_linux_test.go)."""

import os
import resource
import struct
import subprocess
import sys
import threading
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import plexus  # noqa: E402

COOKIE = os.environ.get("HOSTTEST_COOKIE", "plexus-host-test")
ECHO_SIG = int(os.environ.get("HOSTTEST_SIG", "0x1111"), 0)

log = plexus.Logger("echo")
blocked = 0
blocked_lock = threading.Lock()


def u64(v):
    return struct.pack("<Q", v)


def echo(req):
    return req  # a view of the request: copied straight into the response's slot


def pid(_req):
    return u64(os.getpid())


def block(_req):
    global blocked
    call = plexus.current_call()
    with blocked_lock:
        blocked += 1
    try:
        call.wait_cancelled()
    finally:
        with blocked_lock:
            blocked -= 1
    raise plexus.Status(call.code or plexus.codes.CANCELED, "cancelled")


def pending(_req):
    return u64(blocked)


def crash(_req):
    os.abort()


def log_method(req):
    log.warn("structured entry", answer=42, who="plugin")
    n = struct.unpack("<Q", bytes(req[:8]))[0] if len(req) >= 8 else 0
    print("plain stdout line", flush=True)
    print("long:" + "x" * n, flush=True)
    return b""


def call_host(req):
    return plexus.host().invoke(GREET_ID, req)


def limit(_req):
    return u64(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def getwd(_req):
    return os.getcwd().encode()


def read_stdin(_req):
    return sys.stdin.buffer.read()


def spawn(_req):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    threading.Thread(target=p.wait, daemon=True).start()
    return u64(p.pid)


M = plexus.Method
svc = plexus.Service("hosttest.Echo", [
    M("Echo", ECHO_SIG, echo),
    M("Pid", 0x2222, pid),
    M("Block", 0x2222, block),
    M("Crash", 0x2222, crash),
    M("Log", 0x2222, log_method),
    M("CallHost", 0x2222, call_host),
    M("Limit", 0x2222, limit),
    M("Spawn", 0x2222, spawn),
    M("Pending", 0x2222, pending),
    M("Getwd", 0x2222, getwd),
    M("ReadStdin", 0x2222, read_stdin),
])

# -- pytest.Streams ---------------------------------------------------------------

HOST = "hosttest.Host"
GREET_ID = plexus.method_id(HOST, "Greet")
NOTED_ID = plexus.method_id(HOST, "Noted")
HOST_COUNT_ID = plexus.method_id(HOST, "Count")

_pat = bytes(range(256)) * 2


def pat(i, n):
    """Message i of n bytes: byte j is (i + j) mod 256 (as pyPat in Go)."""
    global _pat
    if len(_pat) < n + 256:
        _pat = bytes(range(256)) * (n // 256 + 2)
    o = i % 256
    return _pat[o:o + n]


def count(req, stream):
    """Server stream: n messages, every every-th of size large, the others
    of size small."""
    n, small, large, every = struct.unpack("<IIII", bytes(req[:16]))
    for i in range(n):
        stream.send(pat(i, large if every and i % every == every - 1 else small))


def sum_(req, stream):
    """Client stream: count, bytes and CRC-32 of the messages received."""
    k = total = crc = 0
    for m in stream:
        k += 1
        total += len(m)
        crc = zlib.crc32(m, crc)
    return struct.pack("<QQI", k, total, crc)


def bidi_echo(req, stream):
    """Bidirectional: each message back as it came."""
    for m in stream:
        stream.send(m)


cancel_lock = threading.Lock()
cancel_codes = []   # the codes streaming handlers saw their calls cancelled with


def _saw(code):
    with cancel_lock:
        cancel_codes.append(code)


def forever(req, stream):
    """Server stream that sends until cancelled."""
    i = 0
    try:
        while True:
            stream.send(pat(i, 100))
            i += 1
    except plexus.Status:
        _saw(plexus.current_call().code)
        raise


def wait_stream(req, stream):
    """Server stream that waits for its cancellation (deadline, RESET)."""
    stream.send(b"started")
    call = plexus.current_call()
    call.wait_cancelled()
    _saw(call.code)


def cancelled(_req):
    with cancel_lock:
        return b"".join(struct.pack("<I", c) for c in cancel_codes)


def crc(req):
    """CRC-32 of the request, read in place: also says whether the request
    was a read-only memoryview (of a slot or a blob)."""
    inplace = isinstance(req, memoryview) and req.readonly
    return struct.pack("<IQB", zlib.crc32(req), len(req), 1 if inplace else 0)


def big(req):
    n = struct.unpack("<Q", bytes(req[:8]))[0]
    return pat(0, n)


def lease_fill(req):
    """A lease of n bytes (the request's u64), filled in place with pat(i,
    n) (i the request's second u64) and returned: named in place, no copy."""
    n, i = struct.unpack("<QQ", bytes(req[:16]))
    le = plexus.lease(n)
    src = pat(i, n)
    le.buf[:] = src
    return le


def lease_stats(_req):
    """What the link sent of leases: in slots, as sealed memfds (both by
    reference), copied; and the one-shot blobs sent in all."""
    link = plexus.host()._s.link
    return struct.pack("<QQQQ", link.lease_slots, link.lease_blobs, link.lease_copied, link.blobs.sent)


def fail(req):
    code = struct.unpack("<I", bytes(req[:4]))[0]
    message = bytes(req[4:]).decode()
    if code == plexus.codes.APPLICATION_ERROR:
        raise plexus.ApplicationError("pytest.Oops", message, {"why": message, "n": 7})
    raise plexus.Status(code, message, b"details:" + message.encode())


def note(msg):
    """Notification: sent back to the host's hosttest.Host.Noted, with the
    metadata's "seq" if there was one."""
    md = plexus.current_call().metadata
    plexus.host().notify(NOTED_ID, msg, {"seq": md["seq"]} if "seq" in md else None)


def host_count(req):
    """Opens the host's server stream hosttest.Host.Count with req and
    returns the count, bytes and CRC-32 of what came."""
    k = total = c = 0
    with plexus.host().stream(HOST_COUNT_ID, req, close_send=True) as st:
        for m in st:
            k += 1
            total += len(m)
            c = zlib.crc32(m, c)
    return struct.pack("<QQI", k, total, c)


streams = plexus.Service("pytest.Streams", [
    M("Count", 0x3333, count, kind=plexus.SERVER_STREAM),
    M("Sum", 0x3333, sum_, kind=plexus.CLIENT_STREAM),
    M("Echo", 0x3333, bidi_echo, kind=plexus.BIDI_STREAM),
    M("Forever", 0x3333, forever, kind=plexus.SERVER_STREAM),
    M("Wait", 0x3333, wait_stream, kind=plexus.SERVER_STREAM),
    M("Cancelled", 0x3333, cancelled),
    M("Crc", 0x3333, crc),
    M("Big", 0x3333, big),
    M("Fail", 0x3333, fail),
    M("Lease", 0x3333, lease_fill),
    M("LeaseStats", 0x3333, lease_stats),
    M("Note", 0x3333, note, kind=plexus.NOTIFICATION),
    M("HostCount", 0x3333, host_count),
    M("Later", 0x3333),  # described, answers UNIMPLEMENTED
])

versions = {1: [svc, streams], 2: [svc, streams]}
if os.environ.get("HOSTTEST_VERSIONS"):
    versions = {int(v): [svc, streams] for v in os.environ["HOSTTEST_VERSIONS"].split(",")}

host_services = None
if os.environ.get("HOSTTEST_DECLARE_HOST"):
    # The host services this plugin calls, for the host to check (hash 0:
    # types not stated).
    host_services = {v: [plexus.Service(HOST, [M("Greet", 0), M("Noted", 0)])] for v in versions}

plexus.serve(COOKIE, versions=versions, logger=log, host_services=host_services)

#!/usr/bin/python3
"""The Go host tests' plugin (host/main_linux_test.go, mode "echo"), in
Python: service hosttest.Echo with the same cookie, method names and
signature hashes. Methods that need what later milestones bring (calls to
the host) are described but answer UNIMPLEMENTED."""

import os
import resource
import struct
import subprocess
import sys
import threading

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
    M("CallHost", 0x2222),  # calls to the host: a later milestone
    M("Limit", 0x2222, limit),
    M("Spawn", 0x2222, spawn),
    M("Pending", 0x2222, pending),
    M("Getwd", 0x2222, getwd),
    M("ReadStdin", 0x2222, read_stdin),
])

versions = {1: [svc], 2: [svc]}
if os.environ.get("HOSTTEST_VERSIONS"):
    versions = {int(v): [svc] for v in os.environ["HOSTTEST_VERSIONS"].split(",")}

plexus.serve(COOKIE, versions=versions, logger=log)

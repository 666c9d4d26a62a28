"""The plugin's entry point: plexus.serve(cookie, versions={1: [service]}).

It reads the link from PLEXUS_PLUGIN, makes sure the plugin runs under its
host (arming the parent-death signal), runs the handshake on the control
socket, maps the segment and serves calls until the host closes the link
or dies.
"""

import ctypes
import os
import signal
import socket
import sys
import time

from . import env as E
from . import handshake as H
from . import status
from .errors import HandshakeError, LinkError, PeerGone, ProtocolViolation
from .link import ShmLink
from .log import Logger
from .service import check_services, method_id
from .session import Session

EXIT_OK = 0          # the host closed the link
EXIT_FAILED = 1      # the handshake or the link failed, or the plugin refused to start
EXIT_NOT_PLUGIN = 2  # not started by a host

NOT_PLUGIN_MESSAGE = """This program is a plexus plugin. It is started by its host program, which
passes it a link (the PLEXUS_PLUGIN environment variable and inherited
file descriptors); it cannot do anything on its own. Run the host program instead.
"""

PR_SET_PDEATHSIG = 1
MAX_ANCESTORS = 16


class _Refuse(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def serve(cookie, versions, logger=None, handshake_timeout=10.0, max_workers=64, host_services=None):
    """Serves the host that started this process, then exits: status 0 when
    the host closed the link, 1 when the link failed, 2 when not started by
    a host. When the host dies the plugin's process group is killed (it
    leads its own group, as the host starts it).

    host_services: {version: [plexus.Service, ...]}, the host's services
    this plugin calls in each version (plexus.host()), listed in REPLY
    under protocol 3 for the host to check (a signature hash of 0: the
    types are not stated). Calls to methods not listed work too."""
    code = run(cookie, versions, logger, handshake_timeout, max_workers, host_services)
    _flush()
    os._exit(code)  # handler threads that still run must not hold the exit


def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass


def _fail(msg):
    # The host recognises a last stderr line starting "plugin: ".
    if not msg.startswith("plugin: "):
        msg = "plugin: " + msg
    try:
        sys.stderr.write(msg + "\n")
    except (OSError, ValueError):
        pass
    return EXIT_FAILED


def run(cookie, versions, logger=None, handshake_timeout=10.0, max_workers=64, host_services=None, raw=None):
    """serve without the exit: returns the exit status.

    raw, for tests of the host's side only: a function raw(link) -> exit
    status that gets the linked plexus.link.ShmLink instead of a session
    (a peer that breaks the protocol on purpose, say)."""
    log = logger or Logger("plugin")
    try:
        return _run(cookie, versions, log, handshake_timeout, max_workers, host_services, raw)
    except Exception as err:  # a bug of this package: end the link cleanly, say why
        import traceback

        log.error("plugin failed", error="%s: %s" % (type(err).__name__, err), stack=traceback.format_exc())
        return _fail("internal error: %s: %s" % (type(err).__name__, err))


def _run(cookie, versions, log, handshake_timeout, max_workers, host_services, raw=None):
    val = os.environ.get(E.NAME)
    if val is None:
        sys.stderr.write(NOT_PLUGIN_MESSAGE)
        return EXIT_NOT_PLUGIN
    # The plugin's own children must not take themselves for plugins.
    del os.environ[E.NAME]
    try:
        table = _versions(versions)
        host_table = {}
        if host_services:
            host_table = _versions(host_services)
        e = E.parse(val)
    except (ValueError, TypeError) as err:
        return _fail(str(err))
    if e.link:
        return _fail("%s asks for a socket link; this Python plugin speaks shared memory only (socket links "
                     "come in a later milestone)" % E.NAME)
    if e.fd_count != E.SHM_FDS:
        return _fail("host passed %d link descriptors, this plugin expects %d (mismatched plexus versions?)"
                     % (e.fd_count, E.SHM_FDS))
    # Keep the link's descriptors from this plugin's own children.
    fds = list(range(e.first_fd, e.last_fd + 1))
    for fd in fds:
        try:
            os.set_inheritable(fd, False)
        except OSError as err:
            return _fail("link descriptor %d: %s" % (fd, err))

    # SIGTERM: the parent-death signal, or someone asking the plugin to
    # leave. Until the session runs it ends the process as usual.
    session_box = []

    def on_term(signum, frame):
        if session_box:
            session_box[0].on_sigterm()
        else:
            os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)

    own_group = os.getpgrp() == os.getpid()
    try:
        own_group = _check_host(e.host_pid)
    except _Refuse as r:
        log.error("refusing to start", reason=str(r))
        _refuse(fds[5], handshake_timeout, r.code, str(r))
        return _fail(str(r))

    try:
        ctl = socket.socket(fileno=fds[5])
    except OSError as err:
        return _fail("control socket (fd %d): %s" % (fds[5], err))
    if ctl.family != socket.AF_UNIX or ctl.type != socket.SOCK_SEQPACKET:
        return _fail("control socket (fd %d) is not an AF_UNIX SOCK_SEQPACKET socket" % fds[5])

    def answer(hello):
        H.check_cookie(hello, cookie)
        proto = H.negotiate_protocol(hello.min_proto, hello.max_proto)
        v = H.negotiate_version(hello.versions, table.keys())
        services = [s.wire() for s in table[v]]
        calls = [s.wire() for s in host_table.get(v, [])] if proto >= 3 else []
        return H.Reply(proto, v, hello.limits, services, calls)

    deadline = time.monotonic() + handshake_timeout
    try:
        hello, reply = H.plugin_side(ctl, answer, deadline)
    except (HandshakeError, PeerGone, ProtocolViolation) as err:
        log.error("handshake failed", error=str(err))
        return _fail("handshake: %s" % err)
    ctl.settimeout(None)
    ctl.setblocking(True)
    log.debug("linked", protocol=reply.protocol, version=reply.version,
              max_payload=hello.limits.max_payload)

    try:
        link = ShmLink(fds[:5], ctl, hello.limits.max_payload, log)
    except (ProtocolViolation, LinkError) as err:
        try:
            ctl.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        log.error("refusing the host's segment", error=str(err))
        return _fail("link: %s" % err)

    if raw is not None:
        try:
            return raw(link)
        finally:
            link.blobs.close()
    methods = {}
    for s in table[reply.version]:
        for m in s.methods:
            methods[method_id(s.name, m.name)] = (s.name, m)
    sess = Session(link, methods, hello.limits, log, max_workers)
    session_box.append(sess)
    end = sess.run()
    link.blobs.close()
    if end.kind in ("closed", "drained"):
        log.debug("link ended", reason=end.message)
        return EXIT_OK
    if end.kind == "peer_died" or end.kind == "reset":
        _host_gone(log, own_group, end.message)
        return _fail(end.message)
    return _fail(end.message)


def _versions(versions):
    """Checks {version: [Service, ...]}; returns it as a dict."""
    if not isinstance(versions, dict) or not versions:
        raise ValueError("versions must be a non-empty dict {version: [plexus.Service, ...]}")
    out = {}
    for v, services in versions.items():
        if not isinstance(v, int) or not 0 < v < 1 << 32:
            raise ValueError("application version %r is not in 1..2^32-1" % (v,))
        services = list(services)
        check_services(services)
        out[v] = services
    return out


def _check_host(host_pid):
    """Makes sure the plugin runs under its host: with the host as parent,
    arms the parent-death signal (SIGTERM) and checks the parent again,
    closing the race with a host that died before; otherwise walks up the
    ancestors (a wrapper that forked the plugin and waits for it is
    accepted). Returns whether the plugin's process group is the host's
    child's. Raises _Refuse."""
    if os.getppid() == host_pid:
        # The attribute belongs to the calling thread, here the main thread,
        # which lives as long as the process.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != host_pid:
            raise _Refuse(status.PEER_DIED, "the host exited before the plugin started")
        return os.getpgrp() == os.getpid()
    pid = os.getppid()
    for _ in range(MAX_ANCESTORS):
        pp = _parent_of(pid)
        if pp is None:
            break
        if pp == host_pid:
            return os.getpgrp() == pid
        if pp <= 1:
            break
        pid = pp
    if not _running(host_pid):
        raise _Refuse(status.PEER_DIED, "the host exited before the plugin started")
    raise _Refuse(status.FAILED_PRECONDITION,
                  "this plugin does not run under its host (pid %d): its parent is pid %d and the host is not "
                  "among its ancestors. A plugin must be started by its host directly, or by a wrapper that "
                  "executes it or waits for it" % (host_pid, os.getppid()))


def _parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return None
    i = s.rfind(b")")
    fields = s[i + 2:].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
        i = s.rfind(b")")
        return s[i + 2:i + 3] not in (b"Z", b"X")
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except PermissionError:
            return True
        except OSError:
            return False


def _refuse(fd, timeout, code, reason):
    """Answers the host's HELLO with REJECT (best effort), so that its start
    fails with the plugin's reason."""
    try:
        ctl = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        def no(_hello):
            raise status.Status(code, reason)
        H.plugin_side(ctl, no, time.monotonic() + timeout)
    except Exception:
        pass


def _host_gone(log, own_group, why):
    """The host died: in the process group it made for the plugin, kill the
    whole group (children included) without a word, since stderr is a pipe
    to the dead host. Otherwise log and return; the caller exits."""
    if own_group:
        _flush()
        os.kill(0, signal.SIGKILL)
        time.sleep(60)
    log.error("host is gone; exiting", reason=why)

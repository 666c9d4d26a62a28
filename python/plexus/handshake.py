"""The handshake (SPEC.md "Handshake"): its messages and the plugin's side
of the conversation on the SOCK_SEQPACKET control socket."""

import array
import hmac
import os
import socket
import struct
import time

from . import status
from .env import EnvError, check_versions
from .errors import HandshakeError, PeerGone, ProtocolViolation
from .service import MAX_METHODS, MAX_SERVICES, method_id, valid_name

MAGIC = b"PXHS"
HELLO, REPLY, ACCEPT, REJECT = 1, 2, 3, 4
TYPE_NAMES = {HELLO: "HELLO", REPLY: "REPLY", ACCEPT: "ACCEPT", REJECT: "REJECT"}
MAX_MESSAGE = 65536
MIN_PROTOCOL, MAX_PROTOCOL = 2, 3
HOST_SERVICES_PROTOCOL = 3
MAX_COOKIE = 1024
MAX_REASON = 4096
MIN_MAX_PAYLOAD = 4096
MIN_CHANNEL_WINDOW, MIN_LINK_WINDOW, MAX_WINDOW = 65536, 1 << 20, 1 << 30


class Limits:
    __slots__ = ("max_payload", "channel_window", "link_window")

    def __init__(self, max_payload, channel_window, link_window):
        self.max_payload = max_payload
        self.channel_window = channel_window
        self.link_window = link_window

    def check(self):
        if self.max_payload < MIN_MAX_PAYLOAD:
            raise ProtocolViolation("max payload %d below %d" % (self.max_payload, MIN_MAX_PAYLOAD))
        if not MIN_CHANNEL_WINDOW <= self.channel_window <= MAX_WINDOW:
            raise ProtocolViolation("channel window %d outside %d..%d" % (self.channel_window, MIN_CHANNEL_WINDOW, MAX_WINDOW))
        if not MIN_LINK_WINDOW <= self.link_window <= MAX_WINDOW:
            raise ProtocolViolation("link window %d outside %d..%d" % (self.link_window, MIN_LINK_WINDOW, MAX_WINDOW))

    def __eq__(self, o):
        return isinstance(o, Limits) and (self.max_payload, self.channel_window, self.link_window) == \
            (o.max_payload, o.channel_window, o.link_window)


class Hello:
    def __init__(self, min_proto, max_proto, cookie, versions, limits):
        self.min_proto, self.max_proto = min_proto, max_proto
        self.cookie = cookie  # bytes
        self.versions = list(versions)
        self.limits = limits


class Reply:
    def __init__(self, protocol, version, limits, services, host_services=()):
        self.protocol = protocol
        self.version = version
        self.limits = limits
        # [(name, [(method, id, signature), ...]), ...]
        self.services = list(services)
        self.host_services = list(host_services)


class Accept:
    pass


class Reject:
    def __init__(self, code, reason):
        self.code = code
        self.reason = reason  # str


class _Reader:
    """Reads fields of one message; every read is bounds-checked."""

    def __init__(self, b):
        self.b = bytes(b)
        self.i = 0

    def take(self, n, what):
        if self.i + n > len(self.b):
            raise ProtocolViolation("handshake message truncated in %s" % what)
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack("<Q", self.take(8, what))[0]

    def str8(self, what):
        return self.take(self.u8(what), what)

    def str16(self, what):
        return self.take(self.u16(what), what)

    def name(self, what):
        n = self.str8(what)
        if not valid_name(n):
            raise ProtocolViolation("%s %r is not 1..255 printable ASCII bytes without spaces" % (what, n))
        return n.decode("ascii")

    def end(self):
        if self.i != len(self.b):
            raise ProtocolViolation("%d trailing bytes after a handshake message" % (len(self.b) - self.i))


def _limits(r):
    lim = Limits(r.u32("max payload"), r.u32("channel window"), r.u32("link window"))
    lim.check()
    return lim


def _services(r, what):
    n = r.u16(what + " count")
    if n > MAX_SERVICES:
        raise ProtocolViolation("%d %s (at most %d)" % (n, what, MAX_SERVICES))
    out, names = [], set()
    for _ in range(n):
        sname = r.name("service name")
        if sname in names:
            raise ProtocolViolation("service %s listed twice" % sname)
        names.add(sname)
        m = r.u16("method count")
        if m > MAX_METHODS:
            raise ProtocolViolation("service %s has %d methods (at most %d)" % (sname, m, MAX_METHODS))
        methods, mnames = [], set()
        for _ in range(m):
            mname = r.name("method name")
            if mname in mnames:
                raise ProtocolViolation("method %s.%s listed twice" % (sname, mname))
            mnames.add(mname)
            mid, sig = r.u64("method ID"), r.u64("signature hash")
            if mid != method_id(sname, mname):
                raise ProtocolViolation("method %s.%s has ID %#x, not %#x" % (sname, mname, mid, method_id(sname, mname)))
            methods.append((mname, mid, sig))
        out.append((sname, methods))
    return out


def decode(b):
    """Decodes one handshake message; raises ProtocolViolation."""
    if len(b) > MAX_MESSAGE:
        raise ProtocolViolation("handshake message of %d bytes (at most %d)" % (len(b), MAX_MESSAGE))
    r = _Reader(b)
    if r.take(4, "header") != MAGIC:
        raise ProtocolViolation("not a handshake message (wrong magic)")
    typ = r.u8("header")
    if r.u8("header") != 0:
        raise ProtocolViolation("handshake header reserved byte is not 0")
    if typ == HELLO:
        lo, hi = r.u16("min protocol"), r.u16("max protocol")
        if not 1 <= lo <= hi:
            raise ProtocolViolation("HELLO protocol range %d..%d" % (lo, hi))
        cookie = r.str16("cookie")
        if len(cookie) > MAX_COOKIE:
            raise ProtocolViolation("cookie of %d bytes (at most %d)" % (len(cookie), MAX_COOKIE))
        n = r.u16("version count")
        if not 1 <= n <= 64:
            raise ProtocolViolation("HELLO lists %d versions (1..64)" % n)
        versions = [r.u32("version") for _ in range(n)]
        try:
            check_versions(versions)
        except EnvError as e:
            raise ProtocolViolation("HELLO versions: %s" % e) from None
        m = Hello(lo, hi, cookie, versions, _limits(r))
    elif typ == REPLY:
        proto = r.u16("protocol")
        if proto == 0:
            raise ProtocolViolation("REPLY chose protocol 0")
        version = r.u32("version")
        if version == 0:
            raise ProtocolViolation("REPLY chose version 0")
        lim = _limits(r)
        services = _services(r, "services")
        host = _services(r, "host services") if proto >= HOST_SERVICES_PROTOCOL else []
        m = Reply(proto, version, lim, services, host)
    elif typ == ACCEPT:
        m = Accept()
    elif typ == REJECT:
        code = r.u32("status code")
        if code == 0:
            raise ProtocolViolation("REJECT with status code 0")
        reason = r.str16("reason")
        if len(reason) > MAX_REASON:
            raise ProtocolViolation("REJECT reason of %d bytes (at most %d)" % (len(reason), MAX_REASON))
        m = Reject(code, reason.decode("utf-8", "replace"))
    else:
        raise ProtocolViolation("unknown handshake message type %d" % typ)
    r.end()
    return m


def _str8(b):
    return bytes([len(b)]) + b


def _str16(b):
    return struct.pack("<H", len(b)) + b


def _enc_services(services):
    out = [struct.pack("<H", len(services))]
    for name, methods in services:
        out.append(_str8(name.encode("ascii")))
        out.append(struct.pack("<H", len(methods)))
        for mname, mid, sig in methods:
            out.append(_str8(mname.encode("ascii")) + struct.pack("<QQ", mid, sig))
    return b"".join(out)


def _enc_limits(l):
    return struct.pack("<III", l.max_payload, l.channel_window, l.link_window)


def encode(m):
    if isinstance(m, Hello):
        body = struct.pack("<HH", m.min_proto, m.max_proto) + _str16(m.cookie) + \
            struct.pack("<H", len(m.versions)) + b"".join(struct.pack("<I", v) for v in m.versions) + \
            _enc_limits(m.limits)
        typ = HELLO
    elif isinstance(m, Reply):
        body = struct.pack("<HI", m.protocol, m.version) + _enc_limits(m.limits) + _enc_services(m.services)
        if m.protocol >= HOST_SERVICES_PROTOCOL:
            body += _enc_services(m.host_services)
        elif m.host_services:
            raise ValueError("a protocol %d REPLY cannot list host services" % m.protocol)
        typ = REPLY
    elif isinstance(m, Accept):
        body, typ = b"", ACCEPT
    elif isinstance(m, Reject):
        body, typ = struct.pack("<I", m.code) + _str16(cut_reason(m.reason)), REJECT
    else:
        raise TypeError("not a handshake message: %r" % (m,))
    msg = MAGIC + bytes([typ, 0]) + body
    if len(msg) > MAX_MESSAGE:
        raise ValueError("handshake message of %d bytes (at most %d)" % (len(msg), MAX_MESSAGE))
    return msg


def cut_reason(reason):
    """A REJECT reason as UTF-8 bytes, cut at a character boundary to 4096."""
    b = reason.encode("utf-8", "replace")
    if len(b) <= MAX_REASON:
        return b
    return b[:MAX_REASON].decode("utf-8", "ignore").encode("utf-8")


def negotiate_protocol(hlo, hhi, lo=MIN_PROTOCOL, hi=MAX_PROTOCOL):
    p = min(hhi, hi)
    if p < max(hlo, lo):
        raise status.Status(status.VERSION_MISMATCH,
                            "no common link protocol: host speaks %d..%d, plugin speaks %d..%d" % (hlo, hhi, lo, hi))
    return p


def negotiate_version(host_versions, plugin_versions):
    common = set(host_versions) & set(plugin_versions)
    if not common:
        raise status.Status(status.VERSION_MISMATCH, "no common plugin version: host supports [%s], plugin supports [%s]" % (
            " ".join(map(str, sorted(host_versions))), " ".join(map(str, sorted(plugin_versions)))))
    return max(common)


# --- the conversation on a SOCK_SEQPACKET socket ---------------------------

_MAX_FDS = 16


def recv_message(sock, deadline):
    """Receives one datagram and decodes it. A datagram that is truncated or
    carries descriptors is refused (the descriptors are closed); 0 bytes
    or end of file means the peer closed its end (PeerGone)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise HandshakeError("handshake timed out", status.DEADLINE_EXCEEDED)
    sock.settimeout(left)
    try:
        data, anc, flags, _ = sock.recvmsg(MAX_MESSAGE + 1, socket.CMSG_SPACE(_MAX_FDS * 4),
                                           getattr(socket, "MSG_CMSG_CLOEXEC", 0))
    except socket.timeout:
        raise HandshakeError("handshake timed out", status.DEADLINE_EXCEEDED) from None
    except OSError as e:
        raise PeerGone("control socket: %s" % e) from None
    fds = []
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(cdata[: len(cdata) - len(cdata) % a.itemsize])
            fds.extend(a)
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        raise ProtocolViolation("handshake datagram truncated")
    if anc:
        raise ProtocolViolation("handshake datagram carries ancillary data (descriptors)")
    if not data:
        raise PeerGone("the host closed the control socket during the handshake")
    return decode(data)


def send_message(sock, m, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise HandshakeError("handshake timed out", status.DEADLINE_EXCEEDED)
    sock.settimeout(left)
    try:
        sock.send(encode(m))  # one datagram: SOCK_SEQPACKET sends it whole
    except socket.timeout:
        raise HandshakeError("handshake timed out", status.DEADLINE_EXCEEDED) from None
    except OSError as e:
        raise PeerGone("control socket: %s" % e) from None


def plugin_side(sock, answer, deadline):
    """Runs the plugin's side: receives HELLO, answers it with answer(hello),
    which returns a Reply or raises status.Status (sent as REJECT), and
    waits for ACCEPT. Returns (hello, reply). Raises HandshakeError,
    PeerGone or ProtocolViolation."""
    try:
        m = recv_message(sock, deadline)
    except ProtocolViolation as e:
        raise HandshakeError("malformed HELLO: %s" % e, status.PROTOCOL_VIOLATION) from None
    if not isinstance(m, Hello):
        reason = "expected HELLO, got %s" % type(m).__name__.upper()
        _try_reject(sock, status.PROTOCOL_VIOLATION, reason, deadline)
        raise HandshakeError(reason, status.PROTOCOL_VIOLATION)
    try:
        reply = answer(m)
    except status.Status as st:
        _try_reject(sock, st.code, st.message, deadline)
        raise HandshakeError("refused the host: %s: %s" % (status.code_name(st.code), st.message), st.code) from None
    send_message(sock, reply, deadline)
    try:
        m2 = recv_message(sock, deadline)
    except ProtocolViolation as e:
        raise HandshakeError("malformed answer to REPLY: %s" % e, status.PROTOCOL_VIOLATION) from None
    if isinstance(m2, Reject):
        raise HandshakeError("host refused the link: %s: %s" % (status.code_name(m2.code), m2.reason), m2.code)
    if not isinstance(m2, Accept):
        raise HandshakeError("expected ACCEPT or REJECT, got %s" % type(m2).__name__.upper(), status.PROTOCOL_VIOLATION)
    return m, reply


def _try_reject(sock, code, reason, deadline):
    try:
        send_message(sock, Reject(code, reason), deadline)
    except (HandshakeError, PeerGone):
        pass


def check_cookie(hello, cookie):
    want = cookie.encode("utf-8") if isinstance(cookie, str) else bytes(cookie)
    if not hmac.compare_digest(hello.cookie, want):
        raise status.Status(status.UNAUTHENTICATED,
                            "handshake cookie mismatch: the host's cookie differs from this plugin's "
                            "(is this plugin built for this host?)")

"""PLEXUS_PLUGIN, the variable a host starts a plugin with
(SPEC.md "The environment variable")."""

import re

NAME = "PLEXUS_PLUGIN"
MAX_LEN = 4096
SHM_FDS = 6  # the shared-memory transport's descriptors

_DIGITS = re.compile(r"[0-9]+\Z")
_NONCE = re.compile(r"[0-9a-f]{32}\Z")


class EnvError(ValueError):
    """The variable is malformed."""


class Env:
    __slots__ = ("first_fd", "last_fd", "min_proto", "max_proto", "versions", "host_pid",
                 "link", "dial", "nonce")

    def __init__(self):
        self.first_fd = self.last_fd = None
        self.min_proto = self.max_proto = 0
        self.versions = []
        self.host_pid = 0
        self.link = ""  # "" for shared memory, "socket"
        self.dial = ""
        self.nonce = ""

    @property
    def fd_count(self):
        return 0 if self.first_fd is None else self.last_fd - self.first_fd + 1


def _uint(s, what, limit):
    # Decimal digits only: int() would also take "+1", " 1", "1_0".
    if not _DIGITS.match(s):
        raise EnvError("%s %r is not a decimal number" % (what, s))
    if len(s) > 20:
        raise EnvError("%s %r is too long" % (what, s))
    n = int(s)
    if n > limit:
        raise EnvError("%s %d above %d" % (what, n, limit))
    return n


def _range(v, what, limit):
    lo, sep, hi = v.partition("-")
    if not sep:
        raise EnvError("%s %r is not a range lo-hi" % (what, v))
    a, b = _uint(lo, what, limit), _uint(hi, what, limit)
    if a > b:
        raise EnvError("%s range %d-%d is empty" % (what, a, b))
    return a, b


def check_versions(vs):
    """1..64 application versions, strictly increasing, none 0."""
    if not 1 <= len(vs) <= 64:
        raise EnvError("%d versions (1..64 allowed)" % len(vs))
    prev = 0
    for v in vs:
        if v == 0:
            raise EnvError("version 0")
        if v <= prev:
            raise EnvError("versions %s are not strictly increasing" % vs)
        prev = v


def parse(s):
    """Parses the variable's value; raises EnvError."""
    if len(s.encode("utf-8", "surrogateescape")) > MAX_LEN:
        raise EnvError("%s is %d bytes long, at most %d allowed" % (NAME, len(s), MAX_LEN))
    e = Env()
    seen = set()
    for field in s.split(";"):
        k, sep, v = field.partition("=")
        if not sep:
            raise EnvError("%s: field %r is not key=value" % (NAME, field))
        if k in seen:
            raise EnvError("%s: field %r given twice" % (NAME, k))
        seen.add(k)
        try:
            if k == "fds":
                e.first_fd, e.last_fd = _range(v, "fds", 1 << 20)
                if e.first_fd < 3:
                    raise EnvError("descriptors start at %d, below 3" % e.first_fd)
            elif k == "proto":
                e.min_proto, e.max_proto = _range(v, "proto", 65535)
                if e.min_proto == 0:
                    raise EnvError("protocol version 0")
            elif k == "versions":
                e.versions = [_uint(x, "version", 0xFFFFFFFF) for x in v.split(",")]
                check_versions(e.versions)
            elif k == "host":
                e.host_pid = _uint(v, "host pid", (1 << 31) - 1)
                if e.host_pid < 2:
                    raise EnvError("host pid %d" % e.host_pid)
            elif k == "link":
                if v != "socket":
                    raise EnvError("unknown link %r" % v)
                e.link = v
            elif k == "dial":
                net, sep2, addr = v.partition(":")
                if not sep2 or not addr or net not in ("unix", "tcp"):
                    raise EnvError("not unix:path or tcp:host:port")
                e.dial = v
            elif k == "nonce":
                if not _NONCE.match(v):
                    raise EnvError("not 32 lower-case hex digits")
                e.nonce = v
            else:
                raise EnvError("unknown field")
        except EnvError as err:
            raise EnvError("%s: field %r: %s" % (NAME, field, err)) from None
    for k in ("fds", "proto", "versions", "host"):
        if k not in seen and not (k == "fds" and "dial" in seen):
            raise EnvError("%s: field %r missing" % (NAME, k))
    if "dial" in seen and "fds" in seen:
        raise EnvError("%s: fields \"dial\" and \"fds\" both given" % NAME)
    if ("dial" in seen) != ("nonce" in seen):
        raise EnvError("%s: field \"dial\" needs \"nonce\", and \"nonce\" needs \"dial\"" % NAME)
    if "dial" in seen and e.link != "socket":
        raise EnvError("%s: field \"dial\" without link=socket" % NAME)
    return e

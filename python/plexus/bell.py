"""Eventfd doorbells (SPEC.md "Doorbells"): non-blocking, rung with the
value 1 after checking the descriptor is still non-blocking, reset by a
read that never blocks."""

import errno
import fcntl
import os

from .errors import ProtocolViolation

_ONE = (1).to_bytes(8, "little")
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


def check_eventfd(fd, what):
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except OSError as e:
        raise ProtocolViolation("%s fd %d: %s" % (what, fd, e)) from None
    if target != "anon_inode:[eventfd]":
        raise ProtocolViolation("%s fd %d is %r, not an eventfd" % (what, fd, target))
    if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK:
        raise ProtocolViolation("%s eventfd %d is blocking; the creator must make it with EFD_NONBLOCK" % (what, fd))


class Bell:
    def __init__(self, fd, name):
        check_eventfd(fd, name)
        self.fd = fd
        self.name = name
        self._buf = bytearray(8)
        self._nowait = bool(_NOWAIT)

    def ring(self):
        """Writes 1. A descriptor found blocking, or EAGAIN (a full
        counter, which single increments never reach), is a violation."""
        if not fcntl.fcntl(self.fd, fcntl.F_GETFL) & os.O_NONBLOCK:
            raise ProtocolViolation("doorbell %s was made blocking" % self.name)
        try:
            os.write(self.fd, _ONE)
        except BlockingIOError:
            raise ProtocolViolation("doorbell %s counter is full" % self.name) from None

    def reset(self):
        """Resets the counter after a poll said POLLIN; never blocks.
        Returns False for a spurious wake-up (nothing to read)."""
        while True:
            if self._nowait:
                try:
                    os.preadv(self.fd, [self._buf], -1, _NOWAIT)
                    return True
                except BlockingIOError:
                    return False
                except InterruptedError:
                    continue
                except OSError as e:
                    if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                        raise
                    self._nowait = False  # kernel without RWF_NOWAIT on eventfds
            # A plain read, on a descriptor checked to be non-blocking.
            if not fcntl.fcntl(self.fd, fcntl.F_GETFL) & os.O_NONBLOCK:
                raise ProtocolViolation("doorbell %s was made blocking" % self.name)
            try:
                os.read(self.fd, 8)
                return True
            except BlockingIOError:
                return False
            except InterruptedError:
                continue

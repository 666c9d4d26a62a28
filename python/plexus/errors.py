"""Exceptions of the link layers.

A ProtocolViolation is input from the peer that breaks a rule of SPEC.md: the
side that finds one ends the link (SPEC.md "Protocol violations"). PeerGone
and LinkEnded are how a link ends without a violation.
"""


class ProtocolViolation(Exception):
    """The peer broke the protocol; the link must end."""


class HandshakeError(Exception):
    """The handshake failed (refused, or the peer went away during it)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class PeerGone(Exception):
    """The peer closed its end or died (end of file on the control socket)."""


class LinkError(Exception):
    """The link failed for a reason of this side (a bound, a local error)."""

"""Payload formats of session frames (SPEC.md "Metadata", "Status body",
"Packed messages"). Parsers check every length against the bytes left
before they copy anything; a malformed payload is a ProtocolViolation."""

import struct

from .errors import ProtocolViolation

MAX_MD_ENTRIES = 64
MAX_MD_BYTES = 16384
MAX_KEY = 255


def _valid_key(k):
    return 1 <= len(k) <= MAX_KEY and all(0x21 <= c <= 0x7E for c in k)


def parse_metadata(p):
    """Parses the metadata block at the start of p (bytes-like). Returns
    (dict of str key -> bytes value, length of the block). Values are
    copied out of p; a repeated key keeps the last value."""
    n = len(p)
    if n < 2:
        raise ProtocolViolation("metadata block truncated in its count")
    count = struct.unpack_from("<H", p, 0)[0]
    if count > MAX_MD_ENTRIES:
        raise ProtocolViolation("metadata block of %d entries (at most %d)" % (count, MAX_MD_ENTRIES))
    limit = min(n, MAX_MD_BYTES)
    i = 2
    md = {}
    for _ in range(count):
        if i + 2 > limit:
            raise _md_past(i + 2, n)
        klen = struct.unpack_from("<H", p, i)[0]
        i += 2
        if i + klen > limit:
            raise _md_past(i + klen, n)
        key = bytes(p[i:i + klen])
        i += klen
        if not _valid_key(key):
            raise ProtocolViolation("metadata key %r is not 1..255 printable ASCII bytes without spaces" % key[:64])
        if i + 4 > limit:
            raise _md_past(i + 4, n)
        vlen = struct.unpack_from("<I", p, i)[0]
        i += 4
        if i + vlen > limit:
            raise _md_past(i + vlen, n)
        md[key.decode("ascii")] = bytes(p[i:i + vlen])
        i += vlen
    return md, i


def _md_past(end, n):
    if end > MAX_MD_BYTES and end <= n:
        return ProtocolViolation("metadata block above %d bytes" % MAX_MD_BYTES)
    return ProtocolViolation("metadata block truncated")


def encode_metadata(md):
    """Encodes a dict of str (or bytes) keys to bytes values."""
    if len(md) > MAX_MD_ENTRIES:
        raise ValueError("%d metadata entries (at most %d)" % (len(md), MAX_MD_ENTRIES))
    out = [struct.pack("<H", len(md))]
    for k, v in md.items():
        kb = k.encode("ascii") if isinstance(k, str) else bytes(k)
        if not _valid_key(kb):
            raise ValueError("metadata key %r is not 1..255 printable ASCII bytes without spaces" % (k,))
        v = bytes(v)
        out.append(struct.pack("<H", len(kb)) + kb + struct.pack("<I", len(v)) + v)
    b = b"".join(out)
    if len(b) > MAX_MD_BYTES:
        raise ValueError("metadata block of %d bytes (at most %d)" % (len(b), MAX_MD_BYTES))
    return b


def parse_status_body(p):
    """Parses a status body: returns (message str, details bytes)."""
    if len(p) < 4:
        raise ProtocolViolation("status body of %d bytes (at least 4)" % len(p))
    n = struct.unpack_from("<I", p, 0)[0]
    if n > len(p) - 4:
        raise ProtocolViolation("status message of %d bytes runs past the body's %d" % (n, len(p) - 4))
    return bytes(p[4:4 + n]).decode("utf-8", "replace"), bytes(p[4 + n:])


def encode_status_body(message, details=b""):
    m = message.encode("utf-8", "replace")
    return struct.pack("<I", len(m)) + m + bytes(details)


def check_packed(p):
    """Validates packed records; returns their (offset, length) pairs. The
    payload is peer-written: whoever reads a record later must check its
    length again where it reads it."""
    n = len(p)
    i = 0
    recs = []
    while i < n:
        if i + 2 > n:
            raise ProtocolViolation("packed payload ends inside a record's length")
        ln = struct.unpack_from("<H", p, i)[0]
        if i + 2 + ln > n:
            raise ProtocolViolation("packed record of %d bytes runs past the payload" % ln)
        recs.append((i + 2, ln))
        i += 2 + ln
    if not recs:
        raise ProtocolViolation("packed payload with no record")
    return recs
